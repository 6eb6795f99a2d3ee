import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { createGzipStream } from "./gzip-stream.js";

async function gzipChunks(input: Buffer[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      out.push(chunk);
      callback();
    },
  });
  await pipeline(Readable.from(input), ...createGzipStream(), sink);
  return out;
}

describe("createGzipStream", () => {
  // Regression: 16 KiB gzip chunks made the SDK's files.read of a large file crawl (undici).
  it("emits chunks of at least 1 MiB but the last", async () => {
    const input = Array.from({ length: 40 }, () => randomBytes(64 * 1024));
    const out = await gzipChunks(input);
    assert.ok(out.length >= 2);
    for (const chunk of out.slice(0, -1)) assert.ok(chunk.byteLength >= 1024 * 1024, `${chunk.byteLength}`);
    assert.deepEqual(gunzipSync(Buffer.concat(out)), Buffer.concat(input));
  });

  it("still ends an empty or small body", async () => {
    assert.equal(gunzipSync(Buffer.concat(await gzipChunks([]))).byteLength, 0);
    assert.equal(gunzipSync(Buffer.concat(await gzipChunks([Buffer.from("hi")]))).toString(), "hi");
  });
});
