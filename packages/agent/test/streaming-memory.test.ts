import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { createGunzip } from "node:zlib";

const mib = 1024 * 1024;
const fileSize = 256 * mib;
// Far below the file size: streaming costs a few buffers, holding the body costs all of it.
const maxGrowth = 96 * mib;

function peakRss(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? 0) * 1024;
}

function block(i: number): Buffer {
  const piece = Buffer.alloc(mib, i % 251);
  piece.writeUInt32BE(i, 0);
  return piece;
}

describe("streaming /files keeps the agent's memory bounded", () => {
  let child: ChildProcess;
  let port = 0;

  before(async () => {
    child = spawn(
      process.execPath,
      ["--import", "tsx", new URL("./fixtures/files-agent-main.ts", import.meta.url).pathname],
      {
        stdio: ["pipe", "pipe", "inherit"],
      },
    );
    const line = await new Promise<string>((resolve) =>
      child.stdout?.once("data", (c: Buffer) => resolve(c.toString())),
    );
    port = (JSON.parse(line) as { port: number }).port;
  });

  after(async () => {
    child.stdin?.end();
    await new Promise((resolve) => child.once("exit", resolve));
  });

  // Regression: a client that writes faster than the disk must be slowed by TCP backpressure.
  // The dual-protocol sniffer once left sniffed sockets with readableFlowing === false, so the
  // HTTP parser's pause() never stopped reading and a whole upload piled up in memory.
  it("uploads 256 MiB from a client that writes as fast as it can", async () => {
    const baseline = peakRss(child.pid ?? 0);
    const sent = createHash("sha256");
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `http://127.0.0.1:${port}/files?path=big.bin`,
        { method: "POST", headers: { "content-type": "application/octet-stream" } },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      let i = 0;
      const write = () => {
        while (i < fileSize / mib) {
          const piece = block(i++);
          sent.update(piece);
          if (!req.write(piece)) {
            req.once("drain", write);
            return;
          }
        }
        req.end();
      };
      write();
    });
    assert.equal(status, 200);
    const grown = peakRss(child.pid ?? 0) - baseline;
    assert.ok(grown < maxGrowth, `agent peak RSS grew by ${Math.round(grown / mib)} MiB during the upload`);

    for (const encoding of ["identity", "gzip"]) {
      const before = peakRss(child.pid ?? 0);
      const { received, size } = await new Promise<{ received: string; size: number }>((resolve, reject) => {
        request(
          `http://127.0.0.1:${port}/files?path=big.bin`,
          { headers: { "accept-encoding": encoding } },
          (res) => {
            const hash = createHash("sha256");
            let total = 0;
            const body = encoding === "gzip" ? res.pipe(createGunzip()) : res;
            body.on("data", (c: Buffer) => {
              hash.update(c);
              total += c.length;
            });
            body.on("end", () => resolve({ received: hash.digest("hex"), size: total }));
            body.on("error", reject);
          },
        )
          .on("error", reject)
          .end();
      });
      assert.equal(size, fileSize);
      assert.equal(received, sent.copy().digest("hex"));
      const downGrowth = peakRss(child.pid ?? 0) - before;
      assert.ok(
        downGrowth < maxGrowth,
        `${encoding} download grew the agent by ${Math.round(downGrowth / mib)} MiB`,
      );
    }
  });
});
