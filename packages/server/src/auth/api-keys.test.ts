import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  apiKeyDisplayPrefix,
  generateAccessToken,
  generateApiKey,
  hashApiKey,
  isApiKeyShape,
} from "./api-keys.js";

describe("generateApiKey", () => {
  it("makes e2b_ plus 40 lowercase hex digits", () => {
    const key = generateApiKey();
    assert.match(key, /^e2b_[0-9a-f]{40}$/);
    assert.ok(isApiKeyShape(key), key);
  });

  it("never repeats", () => {
    const keys = new Set(Array.from({ length: 1000 }, generateApiKey));
    assert.equal(keys.size, 1000);
  });
});

describe("isApiKeyShape", () => {
  it("accepts keys of 32 to 128 hex digits", () => {
    assert.ok(isApiKeyShape(`e2b_${"a".repeat(32)}`), "32 digits");
    assert.ok(isApiKeyShape(`e2b_${"0".repeat(128)}`), "128 digits");
  });

  it("rejects other prefixes, upper case, non-hex, and lengths out of bounds", () => {
    for (const value of [
      "",
      "e2b_",
      `e2b_${"a".repeat(31)}`,
      `e2b_${"a".repeat(129)}`,
      `E2B_${"a".repeat(40)}`,
      `e2b_${"A".repeat(40)}`,
      `e2b_${"g".repeat(40)}`,
      `sk_${"a".repeat(40)}`,
      ` e2b_${"a".repeat(40)}`,
      `e2b_${"a".repeat(40)}\n`,
    ]) {
      assert.equal(isApiKeyShape(value), false, JSON.stringify(value));
    }
  });
});

describe("hashApiKey", () => {
  it("is SHA-256 hex, stable, and different per key", () => {
    // Known vector: sha256("abc").
    assert.equal(hashApiKey("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const key = generateApiKey();
    assert.equal(hashApiKey(key), hashApiKey(key));
    assert.notEqual(hashApiKey(key), hashApiKey(generateApiKey()));
    assert.doesNotMatch(hashApiKey(key), new RegExp(key.slice(4)));
  });
});

describe("apiKeyDisplayPrefix", () => {
  it("keeps e2b_ and the first 8 hex digits", () => {
    assert.equal(apiKeyDisplayPrefix(`e2b_1a2b3c4d${"0".repeat(32)}`), "e2b_1a2b3c4d");
  });
});

describe("generateAccessToken", () => {
  it("makes 32 URL-safe characters, different every time", () => {
    const tokens = Array.from({ length: 200 }, generateAccessToken);
    for (const token of tokens) assert.match(token, /^[A-Za-z0-9_-]{32}$/);
    assert.equal(new Set(tokens).size, tokens.length);
  });
});
