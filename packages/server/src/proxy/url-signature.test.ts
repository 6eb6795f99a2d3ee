import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { findSignedSandbox, signFileUrl, verifySignature } from "./url-signature.js";

const token = "0tQG31xiMp0IOQfaz9dcwi72L1CPo8e0";
const knownSignature = "v1_gUtH/s9YCJWgCizjfUxuWfhFE4QSydOWEIIvfLwDr6E";

describe("URL signatures (spec §5.6)", () => {
  test("the spec's known vector", () => {
    const input = { path: "hello.txt", operation: "read", username: "user", accessToken: token } as const;
    assert.equal(signFileUrl(input), knownSignature);
    assert.equal(verifySignature(knownSignature, input), true);
    assert.equal(verifySignature(knownSignature, { ...input, operation: "write" }), false);
    assert.equal(verifySignature(knownSignature, { ...input, accessToken: "other" }), false);
    assert.equal(verifySignature("v1_short", input), false);
  });

  test("expiration is part of the hash only when present", () => {
    const base = { path: "a", operation: "write", username: "", accessToken: token } as const;
    const withExpiry = signFileUrl({ ...base, expiration: 1700000000 });
    assert.notEqual(withExpiry, signFileUrl(base));
    assert.match(withExpiry, /^v1_[A-Za-z0-9+/]{43}$/);
    assert.equal(verifySignature(withExpiry, { ...base, expiration: 1700000000 }), true);
    assert.equal(verifySignature(withExpiry, base), false);
  });

  test("findSignedSandbox picks the one sandbox whose token made the signature", () => {
    const sandboxes: [string, string][] = [
      ["aaa", "token-a"],
      ["abc123", token],
      ["zzz", "token-z"],
    ];
    const url = new URL(
      `http://localhost/files?username=user&path=hello.txt&signature=${encodeURIComponent(knownSignature)}`,
    );
    assert.equal(findSignedSandbox(url, "read", sandboxes), "abc123");
    assert.equal(findSignedSandbox(url, "write", sandboxes), undefined);
    assert.equal(findSignedSandbox(url, "read", []), undefined);
    assert.equal(
      findSignedSandbox(new URL("http://localhost/files?path=hello.txt"), "read", sandboxes),
      undefined,
    );
  });

  test("findSignedSandbox does not judge expiry (the agent answers that with its exact message)", () => {
    const expired = 1000;
    const signature = signFileUrl({
      path: "x",
      operation: "read",
      username: "",
      accessToken: token,
      expiration: expired,
    });
    const url = new URL(
      `http://localhost/files?path=x&signature=${encodeURIComponent(signature)}&signature_expiration=${expired}`,
    );
    assert.equal(findSignedSandbox(url, "read", [["abc123", token]]), "abc123");
    url.searchParams.set("signature_expiration", "soon");
    assert.equal(findSignedSandbox(url, "read", [["abc123", token]]), undefined);
  });
});
