import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkAccessToken, signFileUrl, verifySignature } from "./auth.js";

const token = "0tQG31xiMp0IOQfaz9dcwi72L1CPo8e0";
const base = { headerToken: undefined, expiration: undefined, username: "user", path: "hello.txt" } as const;

describe("signFileUrl", () => {
  it("matches the spec's known vector (§5.6)", () => {
    const signature = signFileUrl({
      path: "hello.txt",
      operation: "read",
      username: "user",
      accessToken: token,
    });
    assert.equal(signature, "v1_gUtH/s9YCJWgCizjfUxuWfhFE4QSydOWEIIvfLwDr6E");
  });

  it("includes the expiration only when given", () => {
    const plain = signFileUrl({ path: "a", operation: "write", username: "", accessToken: token });
    const expiring = signFileUrl({
      path: "a",
      operation: "write",
      username: "",
      accessToken: token,
      expiration: 5,
    });
    assert.notEqual(plain, expiring);
    assert.doesNotMatch(plain, /=/);
  });
});

describe("verifySignature", () => {
  const unauthenticated = (message: string) => ({ name: "SandpitError", code: "unauthenticated", message });

  it("lets everything through when the sandbox has no token", () => {
    verifySignature(undefined, { ...base, signature: undefined, operation: "read" });
  });

  it("accepts the right header without a signature and rejects a wrong one", () => {
    verifySignature(token, { ...base, headerToken: token, signature: undefined, operation: "read" });
    assert.throws(
      () => verifySignature(token, { ...base, headerToken: "nope", signature: undefined, operation: "read" }),
      unauthenticated("access token present in header but does not match"),
    );
  });

  it("requires a signature without the header", () => {
    assert.throws(
      () => verifySignature(token, { ...base, signature: undefined, operation: "read" }),
      unauthenticated("missing signature query parameter"),
    );
  });

  it("rejects a signature for another operation, path or user", () => {
    const signature = signFileUrl({
      path: "hello.txt",
      operation: "read",
      username: "user",
      accessToken: token,
    });
    verifySignature(token, { ...base, signature, operation: "read" });
    for (const changed of [{ operation: "write" as const }, { path: "other.txt" }, { username: "root" }]) {
      assert.throws(
        () => verifySignature(token, { ...base, signature, operation: "read", ...changed }),
        unauthenticated("invalid signature"),
      );
    }
  });

  it("checks the expiration after the signature", () => {
    const expiration = 1_000;
    const signature = signFileUrl({
      path: "hello.txt",
      operation: "read",
      username: "user",
      accessToken: token,
      expiration,
    });
    verifySignature(token, { ...base, signature, expiration, operation: "read" }, 999);
    assert.throws(
      () => verifySignature(token, { ...base, signature, expiration, operation: "read" }, 1_001),
      unauthenticated("signature is already expired"),
    );
    assert.throws(
      () =>
        verifySignature(token, { ...base, signature: "v1_forged", expiration: 1, operation: "read" }, 1_001),
      unauthenticated("invalid signature"),
    );
  });
});

describe("checkAccessToken", () => {
  it("compares against the current token", () => {
    assert.equal(checkAccessToken(undefined, undefined), true);
    assert.equal(checkAccessToken(token, token), true);
    assert.equal(checkAccessToken(token, `${token}x`), false);
    assert.equal(checkAccessToken(token, null), false);
  });
});
