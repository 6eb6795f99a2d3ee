import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { gunzipSync } from "node:zlib";
import { startFilesAgent } from "../../test/files-harness.js";
import { rawRequest } from "../../test/http-request.js";

function fileUrl(baseUrl: string, path: string): string {
  return `${baseUrl}/files?${new URLSearchParams({ path })}`;
}

describe("GET /files encoding of large files", () => {
  // Regression: random bytes were gzipped on the fly for fetch's default `gzip, deflate`, and
  // the SDK's files.read of 256 MiB took minutes.
  it("serves a file that does not compress as identity although gzip is accepted", async () => {
    await using agent = await startFilesAgent();
    const data = randomBytes(1024 * 1024);
    writeFileSync(join(agent.home, "random.bin"), data);
    const res = await rawRequest(fileUrl(agent.baseUrl, "random.bin"), {
      headers: { "accept-encoding": "gzip, deflate" },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-encoding"], undefined);
    assert.equal(res.headers["content-length"], String(data.length));
    assert.equal(res.headers.vary, "Accept-Encoding");
    assert.deepEqual(res.body, data);
  });

  it("gzips it all the same when identity is refused", async () => {
    await using agent = await startFilesAgent();
    const data = randomBytes(1024 * 1024);
    writeFileSync(join(agent.home, "random.bin"), data);
    const res = await rawRequest(fileUrl(agent.baseUrl, "random.bin"), {
      headers: { "accept-encoding": "gzip, identity;q=0" },
    });
    assert.equal(res.headers["content-encoding"], "gzip");
    assert.deepEqual(gunzipSync(res.body), data);
  });

  it("gzips a large file that compresses", async () => {
    await using agent = await startFilesAgent();
    const text = Buffer.from("sandbox log line, nothing to see here\n".repeat(50_000));
    writeFileSync(join(agent.home, "log.txt"), text);
    const res = await rawRequest(fileUrl(agent.baseUrl, "log.txt"), {
      headers: { "accept-encoding": "gzip" },
    });
    assert.equal(res.headers["content-encoding"], "gzip");
    assert.ok(res.body.length < text.length / 10);
    assert.deepEqual(gunzipSync(res.body), text);
  });
});
