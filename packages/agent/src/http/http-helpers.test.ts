import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { negotiateEncoding } from "./accept-encoding.js";
import { parseByteRange } from "./byte-range.js";
import { contentDisposition } from "./content-disposition.js";
import { parseMetadataHeaders } from "./metadata-headers.js";
import { parseQuery } from "./query-params.js";

describe("negotiateEncoding", () => {
  it("prefers gzip when it ranks highest and falls back to identity", () => {
    assert.equal(negotiateEncoding(undefined), "identity");
    assert.equal(negotiateEncoding("gzip, deflate"), "gzip");
    assert.equal(negotiateEncoding("br, gzip;q=0.5"), "gzip");
    assert.equal(negotiateEncoding("identity, gzip"), "identity");
    assert.equal(negotiateEncoding("gzip;q=0.2, identity;q=0.5"), "identity");
    assert.equal(negotiateEncoding("br"), "identity");
    assert.equal(negotiateEncoding("*"), "identity");
    assert.equal(negotiateEncoding("*, identity;q=0"), "gzip");
  });

  it("finds nothing acceptable when identity is refused and gzip is not offered", () => {
    assert.equal(negotiateEncoding("br, identity;q=0"), undefined);
    assert.equal(negotiateEncoding("*;q=0"), undefined);
  });
});

describe("parseByteRange", () => {
  it("parses single ranges and clamps them", () => {
    assert.deepEqual(parseByteRange("bytes=0-3", 10), { start: 0, end: 3 });
    assert.deepEqual(parseByteRange("bytes=5-", 10), { start: 5, end: 9 });
    assert.deepEqual(parseByteRange("bytes=-3", 10), { start: 7, end: 9 });
    assert.deepEqual(parseByteRange("bytes=8-100", 10), { start: 8, end: 9 });
  });

  it("ignores what it cannot serve as one range and flags the unsatisfiable", () => {
    assert.equal(parseByteRange("bytes=0-1,3-4", 10), undefined);
    assert.equal(parseByteRange("lines=1-2", 10), undefined);
    assert.equal(parseByteRange("bytes=10-", 10), "unsatisfiable");
  });
});

describe("contentDisposition", () => {
  it("quotes and encodes names that need it", () => {
    assert.equal(contentDisposition("a.txt"), "inline; filename=a.txt");
    assert.equal(contentDisposition('my "file".txt'), 'inline; filename="my \\"file\\".txt"');
    assert.equal(contentDisposition("ü.txt"), "inline; filename*=utf-8''%C3%BC.txt");
  });
});

describe("parseMetadataHeaders", () => {
  it("lowercases keys, keeps the first occurrence and ignores other headers", () => {
    const raw = [
      "X-Metadata-Author",
      "mish",
      "x-metadata-author",
      "other",
      "Content-Type",
      "x",
      "X-Metadata-K",
      "",
    ];
    assert.deepEqual(parseMetadataHeaders(raw), { author: "mish", k: "" });
  });

  it("enforces key length and the total size", () => {
    assert.throws(() => parseMetadataHeaders([`X-Metadata-${"k".repeat(247)}`, "v"]), {
      code: "invalid_argument",
    });
    const many = Array.from({ length: 20 }, (_, i) => [`X-Metadata-k${i}`, "v".repeat(200)]).flat();
    assert.throws(() => parseMetadataHeaders(many), /4096/);
    assert.throws(() => parseMetadataHeaders(["X-Metadata-", "v"]), { code: "invalid_argument" });
    assert.throws(() => parseMetadataHeaders(["X-Metadata-k", "caf\u00e9"]), { code: "invalid_argument" });
  });
});

describe("parseQuery", () => {
  it("decodes, keeps the first value and rejects broken escapes", () => {
    const q = parseQuery("/files?path=a%2Fb+c&path=second&username=user&flag");
    assert.equal(q.get("path"), "a/b c");
    assert.equal(q.get("username"), "user");
    assert.equal(q.get("flag"), "");
    assert.throws(() => parseQuery("/files?path=%E0%A4%A"), { code: "invalid_argument" });
  });
});
