import { createHash, timingSafeEqual } from "node:crypto";
import type { FileOperation } from "./route-match.js";

/** What a `/files` URL signature covers (spec §5.6). */
export interface FileSignatureInput {
  /** The `path` query value exactly as sent (unresolved), "" when absent. */
  path: string;
  operation: FileOperation;
  /** The `username` query value, "" when absent. */
  username: string;
  accessToken: string;
  /** Unix seconds; part of the hash only when present. */
  expiration?: number | undefined;
}

/** The `v1_…` signature of a file URL, as the SDKs compute it (spec §5.6). */
export function signFileUrl(input: FileSignatureInput): string {
  let raw = `${input.path}:${input.operation}:${input.username}:${input.accessToken}`;
  if (input.expiration !== undefined) raw += `:${input.expiration}`;
  return `v1_${createHash("sha256").update(raw, "utf8").digest("base64").replace(/=+$/, "")}`;
}

function sameSecret(expected: string, given: Buffer): boolean {
  const wanted = Buffer.from(expected, "utf8");
  // Every v1 signature has the same length, so refusing a wrong length early leaks nothing.
  return wanted.length === given.length && timingSafeEqual(wanted, given);
}

/**
 * Whether `signature` was made with this input's token, compared in constant time. Expiry is
 * not judged here: the agent answers an expired signature with its own exact message.
 */
export function verifySignature(signature: string, input: FileSignatureInput): boolean {
  return sameSecret(signFileUrl(input), Buffer.from(signature, "utf8"));
}

/** `[sandboxId, accessToken]` of a sandbox that has a token: a candidate owner of a signed URL. */
export type TokenHolder = readonly [sandboxId: string, accessToken: string];

// Parsed as the agent parses it, so both hash the same text for the expiration.
function expirationOf(value: string | null): number | undefined | null {
  if (value === null) return undefined;
  return /^-?\d{1,15}$/.test(value) ? Number(value) : null;
}

/**
 * The id of the sandbox whose access token produced the signature of this `/files` URL, for
 * URLs that carry no sandbox id (spec §1). The token is inside the hash, so at most one
 * sandbox matches; every candidate is checked so the time taken does not say which one did.
 */
export function findSignedSandbox(
  url: URL,
  operation: FileOperation,
  sandboxes: Iterable<TokenHolder>,
): string | undefined {
  const query = url.searchParams;
  const signature = query.get("signature");
  const expiration = expirationOf(query.get("signature_expiration"));
  if (signature === null || expiration === null) return undefined;
  const given = Buffer.from(signature, "utf8");
  const path = query.get("path") ?? "";
  const username = query.get("username") ?? "";
  let found: string | undefined;
  for (const [sandboxId, accessToken] of sandboxes) {
    const expected = signFileUrl({ path, operation, username, accessToken, expiration });
    if (sameSecret(expected, given) && found === undefined) found = sandboxId;
  }
  return found;
}
