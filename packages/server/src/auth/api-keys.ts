import { createHash, randomBytes } from "node:crypto";

/** Every API key starts with this, as E2B's do, so the official SDKs and users recognise one. */
export const apiKeyPrefix = "e2b_";

// 20 random bytes = 160 bits: far beyond guessing, which is also why a fast hash suffices.
const keyBytes = 20;
// Accept keys an operator brought from elsewhere, but none so short (< 128 bits) that guessing
// them is plausible, and none so long that a header becomes a denial-of-service vector.
const apiKeyPattern = /^e2b_[0-9a-f]{32,128}$/;
// How many characters of a key are kept for display: "e2b_" plus the first 8 hex digits.
const displayPrefixLength = apiKeyPrefix.length + 8;

/** A new random API key: `e2b_` followed by 40 lowercase hex digits. */
export function generateApiKey(): string {
  return apiKeyPrefix + randomBytes(keyBytes).toString("hex");
}

/** Whether a string looks like an API key, checked before any lookup so junk never reaches the store. */
export function isApiKeyShape(value: string): boolean {
  return apiKeyPattern.test(value);
}

/** SHA-256 hex of a key: what the store keeps and looks keys up by, never the key itself. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** The part of a key safe to show in listings and logs, e.g. `e2b_1a2b3c4d`. */
export function apiKeyDisplayPrefix(key: string): string {
  return key.slice(0, displayPrefixLength);
}

/** A new sandbox access token for envd: 32 URL-safe characters (192 random bits). */
export function generateAccessToken(): string {
  // 24 bytes encode to exactly 32 base64url characters, with no padding to strip.
  return randomBytes(24).toString("base64url");
}
