import { createHash, timingSafeEqual } from "node:crypto";
import { SandpitError } from "@sandpit/protocol";

/** The 401 message of every call that lacks the sandbox's access token (spec §5). */
export const unauthorizedMessage =
  "unauthorized access, please provide a valid access token or method signing if supported";

/** The header that carries the sandbox's access token. */
export const accessTokenHeader = "x-access-token";

/** Which `/files` operation a URL signature grants (spec §5.6). */
export type SignedOperation = "read" | "write";

/** What a file URL signature covers. */
export interface SignatureInput {
  /** The `path` query value exactly as sent (unresolved). */
  path: string;
  operation: SignedOperation;
  /** The `username` query value, or "" when absent. */
  username: string;
  accessToken: string;
  /** Unix seconds; part of the hash only when present. */
  expiration?: number | undefined;
}

/** Compares two secrets in time independent of where they differ. */
export function secretsEqual(a: string, b: string): boolean {
  // Hashing first gives equal-length buffers, so the length of the secret does not leak either.
  const ha = createHash("sha256").update(a, "utf8").digest();
  const hb = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(ha, hb);
}

/**
 * Whether a call may proceed: true when the sandbox has no token or `provided` equals it.
 * Shared by the HTTP routes and the RPC interceptor.
 */
export function checkAccessToken(
  accessToken: string | undefined,
  provided: string | null | undefined,
): boolean {
  if (accessToken === undefined) return true;
  return provided !== undefined && provided !== null && secretsEqual(accessToken, provided);
}

/** The `v1_…` signature of a file URL, as the SDKs compute it (spec §5.6). */
export function signFileUrl(input: SignatureInput): string {
  const parts = [input.path, input.operation, input.username, input.accessToken];
  if (input.expiration !== undefined) parts.push(String(input.expiration));
  const digest = createHash("sha256").update(parts.join(":"), "utf8").digest("base64");
  return `v1_${digest.replace(/=+$/, "")}`;
}

/** What a `/files` request presents to prove it may act. */
export interface FileRequestCredentials {
  /** `X-Access-Token` header, if any. */
  headerToken: string | undefined;
  /** `signature` query parameter, if any. */
  signature: string | undefined;
  /** `signature_expiration` query parameter, already parsed. */
  expiration: number | undefined;
  /** `username` query parameter, if any. */
  username: string | undefined;
  /** `path` query parameter as sent, "" when absent. */
  path: string;
  operation: SignedOperation;
}

/**
 * Checks a `/files` request against the sandbox's token: the header, else a URL signature
 * (spec §5.6). Throws SandpitError unauthenticated with envd's exact messages.
 */
export function verifySignature(
  accessToken: string | undefined,
  credentials: FileRequestCredentials,
  nowSeconds = Math.floor(Date.now() / 1000),
): void {
  if (accessToken === undefined) return;
  if (credentials.headerToken !== undefined && credentials.headerToken !== "") {
    if (!secretsEqual(accessToken, credentials.headerToken)) {
      throw new SandpitError("unauthenticated", "access token present in header but does not match");
    }
    return;
  }
  if (credentials.signature === undefined) {
    throw new SandpitError("unauthenticated", "missing signature query parameter");
  }
  const expected = signFileUrl({
    path: credentials.path,
    operation: credentials.operation,
    username: credentials.username ?? "",
    accessToken,
    expiration: credentials.expiration,
  });
  if (!secretsEqual(expected, credentials.signature)) {
    throw new SandpitError("unauthenticated", "invalid signature");
  }
  if (credentials.expiration !== undefined && credentials.expiration < nowSeconds) {
    throw new SandpitError("unauthenticated", "signature is already expired");
  }
}
