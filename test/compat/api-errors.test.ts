// Bad input at every endpoint: the right 4xx with the §3.1 body, nothing created, nothing leaked.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { type LiveServer, notRoot, startLiveServer } from "./live-server.js";

interface Answer {
  status: number;
  body: unknown;
}

describe("REST API bad input (runc)", { skip: notRoot, timeout: 300_000 }, () => {
  let live: LiveServer;

  async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${live.url}${path}`, {
      method,
      headers: {
        "x-api-key": live.apiKey,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined } satisfies Answer;
  }

  function assertError(answer: Answer, status: number): void {
    assert.equal(answer.status, status, JSON.stringify(answer.body));
    const body = answer.body as { code: unknown; message: unknown };
    assert.equal(body.code, status);
    assert.equal(typeof body.message, "string");
    assert.ok((body.message as string).length > 0);
  }

  async function sandboxCount(): Promise<number> {
    return (await live.server.store.listAllSandboxes()).length + (await live.runtime.list()).length;
  }

  before(async () => {
    live = await startLiveServer({ runtime: "runc", prefix: "spapi", addressPool: "10.236.0.0/16" });
  });

  after(async () => {
    await live?.close();
  });

  test("keys: missing, malformed, unknown and revoked keys are 401", async () => {
    assertError(await call("GET", "/v2/sandboxes", undefined, { "x-api-key": "" }), 401);
    assertError(await call("GET", "/v2/sandboxes", undefined, { "x-api-key": "not-a-key" }), 401);
    assertError(await call("GET", "/v2/sandboxes", undefined, { "x-api-key": `e2b_${"0".repeat(40)}` }), 401);
    const key = await live.keyOfTeam("revoked-team");
    assert.equal((await call("GET", "/v2/sandboxes", undefined, { "x-api-key": key })).status, 200);
    const listed = await live.server.store.listApiKeys();
    const record = listed.find((k) => key.startsWith(k.prefix.replace("…", "")));
    assert.ok(record);
    await live.server.store.revokeApiKey(record.id);
    assertError(await call("GET", "/v2/sandboxes", undefined, { "x-api-key": key }), 401);
  });

  test("create: bad JSON, wrong types, unknown template, bad timeouts, oversized body", async () => {
    const before = await sandboxCount();
    assertError(await call("POST", "/sandboxes", "{not json"), 400);
    assertError(await call("POST", "/sandboxes", { templateID: 42 }), 400);
    assertError(await call("POST", "/sandboxes", { templateID: "base", timeout: "10" }), 400);
    assertError(await call("POST", "/sandboxes", { templateID: "base", metadata: { a: 1 } }), 400);
    assertError(await call("POST", "/sandboxes", { templateID: "base", envVars: ["x"] }), 400);
    assertError(await call("POST", "/sandboxes", {}), 400);
    assertError(await call("POST", "/sandboxes", { templateID: "no-such-template", timeout: 10 }), 404);
    assertError(await call("POST", "/sandboxes", { templateID: "Bad Name!", timeout: 10 }), 400);
    assertError(await call("POST", "/sandboxes", { templateID: "base", timeout: 0 }), 400);
    assertError(await call("POST", "/sandboxes", { templateID: "base", timeout: -5 }), 400);
    assertError(await call("POST", "/sandboxes", { templateID: "base", timeout: 10 ** 9 }), 400);
    assertError(await call("POST", "/sandboxes", { templateID: "base", timeout: 1.5 }), 400);
    assertError(
      await call("POST", "/sandboxes", { templateID: "base", autoPauseMemory: false, timeout: 10 }),
      400,
    );
    const huge = { templateID: "base", metadata: { blob: "x".repeat(2 * 1024 * 1024) } };
    assertError(await call("POST", "/sandboxes", huge), 413);
    assert.equal(await sandboxCount(), before, "a refused create left something behind");
  });

  test("per-sandbox routes: unknown and malformed ids are 404, bad bodies 400", async () => {
    for (const id of ["nosuchsandbox", "BAD!", "a".repeat(100)]) {
      assertError(await call("GET", `/sandboxes/${encodeURIComponent(id)}`), 404);
    }
    // Past the router's own limit too: the API's schema answers, in the API's shape.
    assertError(await call("GET", `/sandboxes/${"b".repeat(3000)}`), 400);
    assertError(await call("DELETE", "/sandboxes/nosuchsandbox"), 404);
    assertError(await call("POST", "/sandboxes/nosuchsandbox/timeout", { timeout: 10 }), 404);
    assertError(await call("POST", "/sandboxes/nosuchsandbox/timeout", { timeout: "x" }), 400);
    assertError(await call("POST", "/sandboxes/nosuchsandbox/connect", { timeout: 10 }), 404);
    assertError(await call("POST", "/sandboxes/nosuchsandbox/connect", {}), 400);
    assertError(await call("POST", "/sandboxes/nosuchsandbox/pause", {}), 404);
    assertError(await call("GET", "/sandboxes/nosuchsandbox/metrics"), 404);
    assertError(await call("GET", "/sandboxes/nosuchsandbox/logs"), 404);
    assertError(await call("GET", "/no/such/route"), 404);
  });

  test("list: bad limit, state, cursor, startedAfter, metadata and template tag are 400", async () => {
    assertError(await call("GET", "/v2/sandboxes?limit=0"), 400);
    assertError(await call("GET", "/v2/sandboxes?limit=101"), 400);
    assertError(await call("GET", "/v2/sandboxes?state=sleeping"), 400);
    assertError(await call("GET", "/v2/sandboxes?nextToken=garbage"), 400);
    assertError(await call("GET", "/v2/sandboxes?startedAfter=yesterday"), 400);
    assertError(await call("GET", `/v2/sandboxes?metadata=${encodeURIComponent("a=b=c")}`), 400);
    assertError(await call("GET", "/v2/sandboxes?template=base:v1"), 400);
    const unknown = await call("GET", "/v2/sandboxes?template=nosuch");
    assert.equal(unknown.status, 200);
    assert.deepEqual(unknown.body, []);
  });

  test("a sandbox's lifecycle through raw HTTP: create, pause conflict codes, kill", async () => {
    const created = await call("POST", "/sandboxes", { templateID: "base", timeout: 60, secure: true });
    assert.equal(created.status, 201);
    const body = created.body as {
      sandboxID: string;
      envdAccessToken: string;
      clientID: string;
      envdVersion: string;
    };
    assert.match(body.envdAccessToken, /.{16,}/);
    assert.equal(body.envdVersion, "0.6.13");
    const id = body.sandboxID;
    // The legacy <sandboxID>-<clientID> form names the same sandbox.
    assert.equal((await call("GET", `/sandboxes/${id}-${body.clientID}`)).status, 200);
    assertError(await call("POST", `/sandboxes/${id}/resume`, { timeout: 10 }), 409);
    assert.equal((await call("POST", `/sandboxes/${id}/timeout`, { timeout: 30 })).status, 204);
    assert.equal((await call("POST", `/sandboxes/${id}/refreshes`, { duration: 10 })).status, 204);
    assertError(await call("POST", `/sandboxes/${id}/refreshes`, { duration: 99999 }), 400);
    assert.equal((await call("DELETE", `/sandboxes/${id}`)).status, 204);
    assertError(await call("GET", `/sandboxes/${id}`), 404);
    assertError(await call("DELETE", `/sandboxes/${id}`), 404);
    assert.equal(await sandboxCount(), 0);
  });

  test("the server's own endpoints: health, metrics, OpenAPI", async () => {
    const health = await fetch(`${live.url}/health`);
    assert.equal(health.status, 200);
    const metrics = await (await fetch(`${live.url}/metrics`)).text();
    assert.match(metrics, /sandpit_api_request_seconds/);
    const openapi = (await (await fetch(`${live.url}/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    for (const path of [
      "/sandboxes",
      "/v2/sandboxes",
      "/sandboxes/{sandboxID}",
      "/sandboxes/{sandboxID}/connect",
    ]) {
      assert.ok(path in openapi.paths, `OpenAPI lacks ${path}`);
    }
  });

  test("requests the HTTP parser refuses get the API's error body and a closed connection", async () => {
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const url = new URL(live.url);
        const socket = connect(Number(url.port), url.hostname, () => socket.end(request));
        let answer = "";
        socket.on("data", (d: Buffer) => {
          answer += d.toString("latin1");
        });
        socket.on("close", () => resolve(answer));
        socket.on("error", reject);
      });
    const huge = `X-Filler: ${"f".repeat(20_000)}\r\n`.repeat(4);
    const tooLarge = await raw(`GET /v2/sandboxes HTTP/1.1\r\nHost: x\r\n${huge}\r\n`);
    assert.match(tooLarge, /^HTTP\/1\.1 431 /);
    assert.match(tooLarge, /Connection: close/i);
    assert.deepEqual(JSON.parse(tooLarge.split("\r\n\r\n")[1] ?? ""), {
      code: 431,
      message: "request headers are too large",
    });
    const head = await raw(`HEAD /v2/sandboxes HTTP/1.1\r\nHost: x\r\n${huge}\r\n`);
    assert.match(head, /^HTTP\/1\.1 431 /);
    assert.equal(head.split("\r\n\r\n")[1], "", "a HEAD answer has no body");
    const garbage = await raw("NOT HTTP AT ALL\r\n\r\n");
    assert.match(garbage, /^HTTP\/1\.1 400 /);
    assert.equal((JSON.parse(garbage.split("\r\n\r\n")[1] ?? "") as { code: number }).code, 400);
  });
});
