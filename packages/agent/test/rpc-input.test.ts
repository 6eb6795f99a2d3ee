import assert from "node:assert/strict";
import { connect } from "node:http2";
import { after, before, describe, it } from "node:test";
import { unauthorizedMessage } from "../src/auth.js";
import { startTestAgent, type TestAgent } from "./agent-harness.js";
import { rawRequest } from "./http-request.js";

// Field 1 (the path) announced as 5 bytes long, with one byte there.
const truncatedProto = Buffer.from([0x0a, 0x05, 0x61]);

/** A Connect streaming envelope: flags, big-endian length, payload. */
function envelope(payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** The Connect end-of-stream message of a streaming response. */
function endOfStream(body: Buffer): { error?: { code: string; message: string } } {
  for (let at = 0; at + 5 <= body.length; ) {
    const flags = body.readUInt8(at);
    const length = body.readUInt32BE(at + 1);
    const payload = body.subarray(at + 5, at + 5 + length);
    if (flags & 0b10) return JSON.parse(payload.toString("utf8"));
    at += 5 + length;
  }
  throw new Error("no end-of-stream message");
}

describe("RPC request bodies", () => {
  let agent: TestAgent;
  const token = "rpc-input-token";
  const rpc = (path: string, type: string, body: Buffer | string, headers: Record<string, string> = {}) =>
    rawRequest(`${agent.baseUrl}/${path}`, {
      method: "POST",
      headers: { "content-type": type, "x-access-token": token, ...headers },
      body,
    });

  before(async () => {
    agent = await startTestAgent({ launcherPath: false });
    agent.server.state.accessToken = token;
  });
  after(() => agent.close());

  // Regression: these answered 500 internal.
  it("answers 400 invalid_argument to a unary binary body that does not decode", async () => {
    const res = await rpc("filesystem.Filesystem/Stat", "application/proto", truncatedProto);
    assert.equal(res.status, 400, res.body.toString());
    const error = res.json() as { code: string; message: string };
    assert.equal(error.code, "invalid_argument");
    assert.match(error.message, /^parse binary: /);
    assert.equal(Number(res.headers["content-length"]), res.body.length);
  });

  it("answers 400 invalid_argument to unary JSON that does not parse", async () => {
    const res = await rpc("process.Process/List", "application/json", "{not json");
    assert.equal(res.status, 400, res.body.toString());
    assert.equal((res.json() as { code: string }).code, "invalid_argument");
  });

  it("ends a stream whose request message does not decode with invalid_argument", async () => {
    const res = await rpc("process.Process/Start", "application/connect+proto", envelope(truncatedProto));
    assert.equal(res.status, 200);
    assert.equal(endOfStream(res.body).error?.code, "invalid_argument");
  });

  it("keeps other unary errors as they were", async () => {
    const res = await rpc(
      "filesystem.Filesystem/Stat",
      "application/json",
      JSON.stringify({ path: "/nope/x" }),
    );
    assert.equal(res.status, 404, res.body.toString());
    assert.equal((res.json() as { code: string }).code, "not_found");
  });

  it("refuses a request without the token before parsing its body", async () => {
    for (const headers of [{ "x-access-token": "" }, { "x-access-token": "wrong" }]) {
      const res = await rpc("filesystem.Filesystem/Stat", "application/proto", truncatedProto, headers);
      assert.equal(res.status, 401);
      assert.deepEqual(res.json(), { code: "unauthenticated", message: unauthorizedMessage });
    }
    const stream = await rpc("process.Process/Start", "application/connect+proto", envelope(truncatedProto), {
      "x-access-token": "wrong",
    });
    assert.deepEqual(endOfStream(stream.body).error, {
      code: "unauthenticated",
      message: unauthorizedMessage,
    });
  });

  it("refuses a request without the token before reading its body at all", async () => {
    // A body announced but never sent: only an answer from the headers alone can arrive. HTTP/2,
    // because on HTTP/1.1 Connect reads some of a refused body to keep the connection usable.
    const session = connect(agent.baseUrl);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const stream = session.request({
          ":method": "POST",
          ":path": "/filesystem.Filesystem/Stat",
          "content-type": "application/proto",
          "content-length": String(1 << 20),
        });
        stream.on("response", (headers) => resolve(Number(headers[":status"])));
        stream.on("error", reject);
      });
      assert.equal(status, 401);
    } finally {
      session.destroy();
    }
  });
});
