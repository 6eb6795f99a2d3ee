// A connection whose input ends right after its request (a client that half-closes, or
// gVisor's spurious hang-up on a restored sandbox's fresh connection, which libuv reads as an
// end of input) still gets its answer, marked as the last one on that connection.
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { basicAuth, startTestAgent, type TestAgent } from "./agent-harness.js";

/** Sends `request` raw, ends the input at once, and returns everything read until close. */
async function halfClosedExchange(port: number, request: string): Promise<string> {
  const socket = connect({ host: "127.0.0.1", port });
  await once(socket, "connect");
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.end(request);
  await once(socket, "close");
  return Buffer.concat(chunks).toString("latin1");
}

describe("an end of input right after a request", () => {
  let agent: TestAgent;
  let port: number;
  before(async () => {
    agent = await startTestAgent();
    port = Number(new URL(agent.baseUrl).port);
  });
  after(() => agent.close());

  it("a Connect call that is still being served when the input ends is answered, Connection: close", async () => {
    const body = JSON.stringify({ path: "/" });
    const user = process.env.USER ?? "root";
    const auth = basicAuth(user).authorization;
    const reply = await halfClosedExchange(
      port,
      "POST /filesystem.Filesystem/Stat HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\n" +
        `Authorization: ${auth}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.match(reply, /\r\nConnection: close\r\n/i);
    assert.match(reply, /"name":\s*"\/"|"path":\s*"\/"/);
  });

  it("a plain request is answered too", async () => {
    const reply = await halfClosedExchange(port, "GET /health HTTP/1.1\r\nHost: agent\r\n\r\n");
    assert.match(reply, /^HTTP\/1\.1 204 /);
  });
});
