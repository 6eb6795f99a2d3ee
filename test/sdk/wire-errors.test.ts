// Every wire error of spec §3.1 (REST `{code, message}` bodies) and §9 (agent HTTP statuses, Connect
// codes, the proxy's 502) reaches the user as its typed error. A real local HTTP server answers what
// each case needs, including the statuses a live Sandpit rarely produces (429, 507, 500).
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  AuthenticationError,
  FileNotFoundError,
  InvalidArgumentError,
  NotEnoughSpaceError,
  NotFoundError,
  RateLimitError,
  Sandbox,
  SandboxError,
  SandboxNotFoundError,
  TemplateError,
  TimeoutError,
} from "@sandpit/sdk";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

function connectEnd(res: ServerResponse, error: { code: string; message: string }): void {
  const payload = Buffer.from(JSON.stringify({ error }));
  const head = Buffer.alloc(5);
  head.writeUInt8(2, 0);
  head.writeUInt32BE(payload.length, 1);
  res.writeHead(200, { "content-type": "application/connect+json" }).end(Buffer.concat([head, payload]));
}

const created = {
  templateID: "base",
  sandboxID: "wire0sandbox",
  clientID: "6532622b",
  envdVersion: "0.6.13",
  envdAccessToken: "token",
  domain: "wire.test",
};

describe("wire errors become typed errors", () => {
  let url = "";
  let handler: Handler = (_req, res) => json(res, 500, { code: 500, message: "no handler" });
  const seen: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen.push(`${req.method} ${req.url}`);
      handler(req, res);
    });
  });
  let sbx: Sandbox;
  const conn = () => ({ apiUrl: url, sandboxUrl: url, apiKey: "e2b_00", domain: "wire.test" });

  before(async () => {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    handler = (_req, res) => json(res, 201, created);
    sbx = await Sandbox.create(conn());
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  test("REST: 401 and 429 by status, 404/409 by the body's code, others as `<status>: <message>`", async () => {
    handler = (_req, res) => json(res, 401, { code: 401, message: "Invalid API key" });
    const auth = await Sandbox.getInfo("x", conn()).catch((e: unknown) => e);
    assert.ok(auth instanceof AuthenticationError);
    assert.match(auth.message, /Unauthorized, please check your credentials\. - Invalid API key/);

    handler = (_req, res) => json(res, 429, { code: 429, message: "slow down" });
    await assert.rejects(Sandbox.create(conn()), RateLimitError);

    handler = (_req, res) => json(res, 404, { code: 404, message: "sandbox not found" });
    await assert.rejects(Sandbox.getInfo("x", conn()), SandboxNotFoundError);
    await assert.rejects(Sandbox.setTimeout("x", 1000, conn()), SandboxNotFoundError);
    await assert.rejects(Sandbox.connect("x", conn()), SandboxNotFoundError);
    await assert.rejects(Sandbox.getMetrics("x", conn()), SandboxNotFoundError);
    await assert.rejects(Sandbox.pause("x", conn()), SandboxNotFoundError);
    assert.equal(await Sandbox.kill("x", conn()), false);

    handler = (_req, res) => json(res, 409, { code: 409, message: "already paused" });
    assert.equal(await Sandbox.pause("x", conn()), false);

    // The SDK decides by the body's code (spec §3.1): a 404 status with another body code is generic.
    handler = (_req, res) => json(res, 404, { code: 400, message: "odd" });
    const odd = await Sandbox.getInfo("x", conn()).catch((e: unknown) => e);
    assert.ok(odd instanceof SandboxError && !(odd instanceof NotFoundError));
    assert.equal(odd.message, "404: odd");

    handler = (_req, res) => json(res, 500, { code: 500, message: "database is down" });
    const internal = await Sandbox.list(conn())
      .nextItems()
      .catch((e: unknown) => e);
    assert.ok(internal instanceof SandboxError);
    assert.equal(internal.message, "500: database is down");
    assert.equal(internal.code, "internal");

    handler = (_req, res) => res.writeHead(503, "Service Unavailable").end();
    const bare = await Sandbox.getInfo("x", conn()).catch((e: unknown) => e);
    assert.ok(bare instanceof SandboxError);
    assert.equal(bare.message, "503: Service Unavailable");
  });

  test("create: an agent older than 0.1.0 is killed and reported as TemplateError", async () => {
    seen.length = 0;
    handler = (req, res) => {
      if (req.method === "POST") json(res, 201, { ...created, envdVersion: "0.0.9" });
      else res.writeHead(204).end();
    };
    await assert.rejects(Sandbox.create(conn()), TemplateError);
    assert.deepEqual(seen, ["POST /sandboxes", `DELETE /sandboxes/${created.sandboxID}`]);
  });

  test("agent HTTP: 400, 401, 404, 429, 502, 507 and others on /files", async () => {
    const cases: Array<[number, new (...args: never[]) => Error]> = [
      [400, InvalidArgumentError],
      [401, AuthenticationError],
      [404, FileNotFoundError],
      [429, RateLimitError],
      [502, TimeoutError],
      [507, NotEnoughSpaceError],
    ];
    for (const [status, type] of cases) {
      handler = (_req, res) => json(res, status, { code: status, message: `status ${status}` });
      const read = await sbx.files.read("/x").catch((e: unknown) => e);
      assert.ok(read instanceof type, `${status} → ${String(read)}`);
      const write = await sbx.files.write("/x", "data").catch((e: unknown) => e);
      assert.ok(write instanceof type, `${status} (write) → ${String(write)}`);
    }
    handler = (_req, res) => res.writeHead(418, { "content-type": "text/plain" }).end("short and stout");
    const teapot = await sbx.files.read("/x").catch((e: unknown) => e);
    assert.ok(teapot instanceof SandboxError);
    assert.equal(teapot.message, "418: short and stout");
  });

  test("isRunning: 2xx true, the proxy's 502 false, anything else an error", async () => {
    handler = (_req, res) => res.writeHead(204).end();
    assert.equal(await sbx.isRunning(), true);
    handler = (_req, res) =>
      json(res, 502, { sandboxId: created.sandboxID, message: "The sandbox was not found", code: 502 });
    assert.equal(await sbx.isRunning(), false);
    handler = (_req, res) => json(res, 401, { code: 401, message: "bad token" });
    await assert.rejects(sbx.isRunning(), AuthenticationError);
  });

  test("RPC: Connect codes in unary bodies and stream ends; the proxy's 502 means the sandbox is gone", async () => {
    const unary: Array<[string, number, new (...args: never[]) => Error]> = [
      ["invalid_argument", 400, InvalidArgumentError],
      ["unauthenticated", 401, AuthenticationError],
      ["not_found", 404, FileNotFoundError],
      ["resource_exhausted", 429, RateLimitError],
      ["unavailable", 503, TimeoutError],
      ["deadline_exceeded", 504, TimeoutError],
    ];
    for (const [code, status, type] of unary) {
      handler = (_req, res) => json(res, status, { code, message: code });
      const e = await sbx.files.getInfo("/x").catch((x: unknown) => x);
      assert.ok(e instanceof type, `${code} → ${String(e)}`);
    }
    handler = (_req, res) => json(res, 409, { code: "already_exists", message: "exists" });
    assert.equal(await sbx.files.makeDir("/x"), false);
    handler = (_req, res) => json(res, 404, { code: "not_found", message: "no such process" });
    assert.equal(await sbx.commands.kill(1), false);
    assert.equal(await sbx.files.exists("/x"), false);
    handler = (_req, res) => json(res, 500, { code: "internal", message: "broken" });
    const internal = await sbx.commands.list().catch((x: unknown) => x);
    assert.ok(internal instanceof SandboxError);
    assert.equal(internal.code, "internal");

    handler = (_req, res) =>
      connectEnd(res, { code: "invalid_argument", message: "cwd '/nope' does not exist" });
    await assert.rejects(sbx.commands.run("true", { cwd: "/nope" }), InvalidArgumentError);

    handler = (_req, res) =>
      json(res, 502, { sandboxId: created.sandboxID, message: "The sandbox was not found", code: 502 });
    const gone = await sbx.commands.list().catch((x: unknown) => x);
    assert.ok(gone instanceof TimeoutError, String(gone));
    assert.equal(gone.code, "unavailable");
    await assert.rejects(sbx.commands.run("true"), SandboxNotFoundError);
    await assert.rejects(
      sbx.files.watchDir("/x", () => {}),
      SandboxNotFoundError,
    );
  });
});
