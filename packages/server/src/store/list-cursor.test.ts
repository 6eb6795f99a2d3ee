import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeListCursor, encodeListCursor } from "./list-cursor.js";

const invalid = { name: "SandpitError", code: "invalid_argument" };

describe("list cursor", () => {
  it("round-trips and is URL-safe", () => {
    const cursor = { order: "asc", startedAt: 1767323045678, id: "abc123" } as const;
    const token = encodeListCursor(cursor);
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeListCursor(token, "asc"), cursor);
  });

  it("rejects a token minted for the other order", () => {
    const token = encodeListCursor({ order: "desc", startedAt: 1, id: "a" });
    assert.throws(() => decodeListCursor(token, "asc"), invalid);
  });

  it("rejects malformed tokens", () => {
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    for (const token of [
      "",
      "not a token",
      "abc=",
      "%%%",
      Buffer.from("garbage").toString("base64url"),
      b64(null),
      b64([]),
      b64({ v: 2, o: "desc", t: 1, i: "a" }),
      b64({ v: 1, o: "sideways", t: 1, i: "a" }),
      b64({ v: 1, o: "desc", t: 1.5, i: "a" }),
      b64({ v: 1, o: "desc", t: "1", i: "a" }),
      b64({ v: 1, o: "desc", t: 1, i: "A'; drop table sandboxes" }),
      b64({ v: 1, o: "desc", t: 1, i: "a", extra: true }),
      "a".repeat(600),
    ]) {
      assert.throws(() => decodeListCursor(token, "desc"), invalid, token);
    }
  });
});
