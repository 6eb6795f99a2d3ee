import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import type { Socket } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { type FilesAgent, mountSmallDisk, startFilesAgent, unmountSmallDisk } from "./files-harness.js";
import { multipartBody } from "./http-request.js";

/** One answer, and the connection it came on. */
interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
  socket: Socket;
}

/** POST /files on a given keep-alive agent, so consecutive requests share one connection. */
function upload(
  agent: FilesAgent,
  through: Agent,
  path: string,
  body: Buffer,
  headers: Record<string, string> = { "content-type": "application/octet-stream" },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const query = path === "" ? "" : `?${new URLSearchParams({ path })}`;
    const req = request(`${agent.baseUrl}/files${query}`, {
      method: "POST",
      agent: through,
      headers: { ...headers, "content-length": body.length },
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          connection: res.headers.connection,
          body: Buffer.concat(chunks).toString("utf8"),
          socket: req.socket as Socket,
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

const fourMiB = Buffer.alloc(4 << 20, 7);

// Regression: the agent answered before reading the body and left the rest on the connection,
// where it was read as the next request (which then hung, or a proxy answered 502).
describe("a refused upload leaves the connection usable", () => {
  it("drains a refused body of a few MiB and answers the next upload on the same connection", async (t) => {
    await using agent = await startFilesAgent();
    mkdirSync(join(agent.home, "adir"));
    const through = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => through.destroy());
    const form = multipartBody([{ name: "file", filename: "adir", content: fourMiB }]);
    const refusals: { name: string; path: string; body: Buffer; headers?: Record<string, string> }[] = [
      { name: "a directory", path: "adir", body: fourMiB },
      {
        name: "a directory, multipart",
        path: "",
        body: form.body,
        headers: { "content-type": form.contentType },
      },
      {
        name: "a corrupt gzip body",
        path: "g.bin",
        body: Buffer.concat([Buffer.from([0x1f, 0x8b]), fourMiB]),
        headers: { "content-type": "application/octet-stream", "content-encoding": "gzip" },
      },
      {
        name: "a directory, gzip",
        path: "adir",
        body: gzipSync(fourMiB),
        headers: { "content-type": "application/octet-stream", "content-encoding": "gzip" },
      },
      {
        name: "an unsupported content type",
        path: "x.bin",
        body: fourMiB,
        headers: { "content-type": "text/plain" },
      },
    ];
    let socket: Socket | undefined;
    for (const [i, r] of refusals.entries()) {
      const refused = await upload(agent, through, r.path, r.body, r.headers);
      assert.equal(refused.status, 400, `${r.name}: ${refused.body}`);
      assert.equal((JSON.parse(refused.body) as { code: number }).code, 400, r.name);
      assert.notEqual(refused.connection, "close", r.name);
      const good = await upload(agent, through, `good-${i}.txt`, Buffer.from(r.name));
      assert.equal(good.status, 200, `after ${r.name}: ${good.body}`);
      assert.equal(readFileSync(join(agent.home, `good-${i}.txt`), "utf8"), r.name);
      socket ??= refused.socket;
      assert.equal(refused.socket, socket, `${r.name}: a new connection`);
      assert.equal(good.socket, socket, `after ${r.name}: a new connection`);
    }
  });

  it("answers 401 to an unauthenticated upload and then serves the next one", async (t) => {
    await using agent = await startFilesAgent();
    agent.state.accessToken = "secret";
    const through = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => through.destroy());
    const refused = await upload(agent, through, "x.bin", fourMiB);
    assert.equal(refused.status, 401, refused.body);
    const good = await upload(agent, through, "x.bin", Buffer.from("ok"), {
      "content-type": "application/octet-stream",
      "x-access-token": "secret",
    });
    assert.equal(good.status, 200, good.body);
    assert.equal(good.socket, refused.socket);
  });

  it("answers 507 for a full disk mid-body and then serves the next upload", async (t) => {
    await using agent = await startFilesAgent();
    const small = mountSmallDisk(agent.root);
    if (small === undefined) {
      t.skip("needs root and tmpfs mounts to fill a filesystem");
      return;
    }
    const through = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 3; i++) {
        const refused = await upload(agent, through, join(small, "big.bin"), fourMiB);
        assert.deepEqual(JSON.parse(refused.body), { code: 507, message: "not enough disk space available" });
        const good = await upload(agent, through, "good.txt", Buffer.from(`ok ${i}`));
        assert.equal(good.status, 200, good.body);
        assert.equal(good.socket, refused.socket);
      }
    } finally {
      through.destroy();
      unmountSmallDisk(small);
    }
  });

  it("closes the connection after answering a refused body too large to drain", async (t) => {
    await using agent = await startFilesAgent();
    mkdirSync(join(agent.home, "adir"));
    const through = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => through.destroy());
    for (let i = 0; i < 2; i++) {
      const refused = await upload(agent, through, "adir", Buffer.alloc(24 << 20, 1));
      assert.equal(refused.status, 400, refused.body);
      assert.match(refused.body, /path is a directory/);
      assert.equal(refused.connection, "close");
      const good = await upload(agent, through, "good.txt", Buffer.from("ok"));
      assert.equal(good.status, 200, good.body);
      assert.notEqual(good.socket, refused.socket);
    }
  });
});
