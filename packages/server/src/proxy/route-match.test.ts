import assert from "node:assert/strict";
import type { IncomingHttpHeaders } from "node:http";
import { describe, test } from "node:test";
import { createRouteMatcher, hostnameOf, isSandboxId } from "./route-match.js";

const match = createRouteMatcher("example.test");

function req(host: string | undefined, extra: IncomingHttpHeaders = {}, url = "/", method = "GET") {
  return match({ headers: { ...(host === undefined ? {} : { host }), ...extra }, url, method });
}

const routing = { "e2b-sandbox-id": "abc123", "e2b-sandbox-port": "49983" };

describe("route matching (spec §1)", () => {
  test("routing headers are honoured on localhost, IP literals and sandbox.*", () => {
    for (const host of [
      "localhost",
      "localhost:3000",
      "127.0.0.1:3000",
      "10.1.2.3",
      "[::1]:3000",
      "sandbox.e2b.app",
      "sandbox.example.test:443",
    ]) {
      assert.deepEqual(req(host, routing), { kind: "sandbox", sandboxId: "abc123", port: 49983 }, host);
    }
  });

  test("Host <port>-<id>.<domain> routes by host, with or without a port suffix", () => {
    assert.deepEqual(req("8000-abc123.example.test"), { kind: "sandbox", sandboxId: "abc123", port: 8000 });
    assert.deepEqual(req("8000-abc123.example.test:3000"), {
      kind: "sandbox",
      sandboxId: "abc123",
      port: 8000,
    });
    assert.deepEqual(req("49983-i0abc.EXAMPLE.test."), { kind: "sandbox", sandboxId: "i0abc", port: 49983 });
  });

  test("on a sandbox host the routing headers are ignored in favour of the Host", () => {
    const other = { "e2b-sandbox-id": "other", "e2b-sandbox-port": "1234" };
    assert.deepEqual(req("8000-abc123.example.test", other), {
      kind: "sandbox",
      sandboxId: "abc123",
      port: 8000,
    });
    // Even a lone header, which would be a 400 elsewhere, is not looked at.
    assert.deepEqual(req("8000-abc123.example.test", { "e2b-sandbox-id": "x" }), {
      kind: "sandbox",
      sandboxId: "abc123",
      port: 8000,
    });
  });

  test("one routing header without the other is a 400 missing header", () => {
    assert.deepEqual(req("localhost", { "e2b-sandbox-id": "abc123" }), {
      kind: "invalid",
      message: "missing header E2b-Sandbox-Port",
    });
    assert.deepEqual(req("127.0.0.1", { "e2b-sandbox-port": "49983" }), {
      kind: "invalid",
      message: "missing header E2b-Sandbox-Id",
    });
  });

  test("bad ports and ids are 400, from headers and from the Host", () => {
    for (const port of ["0", "65536", "-1", "80a", "", " 80", "0x50", "123456"]) {
      const m = req("localhost", { "e2b-sandbox-id": "abc", "e2b-sandbox-port": port });
      assert.equal(m?.kind, "invalid", `port ${JSON.stringify(port)}`);
    }
    for (const id of ["ABC", "a-b", "a.b", "", "a_b", "a b"]) {
      const m = req("localhost", { "e2b-sandbox-id": id, "e2b-sandbox-port": "80" });
      assert.equal(m?.kind, "invalid", `id ${JSON.stringify(id)}`);
    }
    assert.equal(req("99999-abc.example.test")?.kind, "invalid");
    assert.equal(req("x-abc.example.test")?.kind, "invalid");
    assert.equal(req("80-a_b.example.test")?.kind, "invalid");
    assert.equal(req("80-abc-def.example.test")?.kind, "invalid");
    assert.equal(req("-abc.example.test")?.kind, "invalid");
    assert.deepEqual(req("localhost", { "e2b-sandbox-id": "abc", "e2b-sandbox-port": "0" }), {
      kind: "invalid",
      message: 'invalid sandbox port "0"',
    });
  });

  test("API traffic is not matched", () => {
    assert.equal(req("localhost:3000", {}, "/sandboxes"), undefined);
    assert.equal(req("api.example.test", {}, "/sandboxes"), undefined);
    assert.equal(req("sandbox.example.test", {}, "/health"), undefined);
    assert.equal(req("example.test"), undefined);
    // A sandbox-looking label under another domain, or one level deeper, is not ours.
    assert.equal(req("8000-abc123.other.test"), undefined);
    assert.equal(req("8000-abc123.x.example.test"), undefined);
    assert.equal(req(undefined), undefined);
  });

  test("the server's own public name honours routing headers too (one port for API and sandboxes)", () => {
    assert.deepEqual(req("sandpit.corp.internal", routing), {
      kind: "sandbox",
      sandboxId: "abc123",
      port: 49983,
    });
  });

  test("a signed /files URL with no routing information is matched by its signature", () => {
    const url = "/files?path=a.txt&signature=v1_x";
    assert.deepEqual(req("localhost", {}, url, "GET"), { kind: "signed-file", operation: "read" });
    assert.deepEqual(req("localhost", {}, url, "HEAD"), { kind: "signed-file", operation: "read" });
    assert.deepEqual(req("localhost", {}, url, "POST"), { kind: "signed-file", operation: "write" });
    assert.deepEqual(req("localhost", {}, url, "OPTIONS"), { kind: "signed-file", operation: "preflight" });
    assert.equal(req("localhost", {}, url, "DELETE"), undefined);
    assert.equal(req("localhost", {}, "/files?path=a.txt", "GET"), undefined);
    assert.equal(req("localhost", {}, "/filesx?signature=v1_x", "GET"), undefined);
    // With routing information the signature is the agent's business, not the router's.
    assert.deepEqual(req("localhost", routing, url), { kind: "sandbox", sandboxId: "abc123", port: 49983 });
  });

  test("hostnameOf strips ports and brackets correctly", () => {
    assert.equal(hostnameOf("[::1]:3000"), "[::1]");
    assert.equal(hostnameOf("Example.Test:80"), "example.test");
    assert.equal(hostnameOf(""), "");
  });

  test("isSandboxId follows ^[a-z0-9]+$", () => {
    assert.equal(isSandboxId("i0123456789abcdefghij"), true);
    assert.equal(isSandboxId("I0"), false);
    assert.equal(isSandboxId(""), false);
  });
});
