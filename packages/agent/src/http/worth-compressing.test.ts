import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { worthCompressing } from "./worth-compressing.js";

describe("worthCompressing", () => {
  it("says no to bytes that do not compress", async () => {
    assert.equal(await worthCompressing(randomBytes(64 * 1024)), false);
  });

  it("says yes to text, base64 and empty samples", async () => {
    assert.equal(await worthCompressing(Buffer.from("log line 42: all is well\n".repeat(3000))), true);
    assert.equal(await worthCompressing(Buffer.from(randomBytes(48 * 1024).toString("base64"))), true);
    assert.equal(await worthCompressing(Buffer.alloc(0)), true);
  });
});
