// Signed file URLs (spec §5.6): `v1_` + unpadded base64 of SHA-256 over path, operation, user, token.

/** What a file URL's signature covers. */
export interface SignatureInput {
  /** The `path` query value exactly as sent. */
  path: string;
  operation: "read" | "write";
  /** The `username` query value, or undefined when absent. */
  user: string | undefined;
  accessToken: string;
  /** Seconds from now until the signature expires; undefined: never. */
  expirationInSeconds?: number | undefined;
  /** Clock for tests, in ms. */
  now?: number;
}

/** Signs a file URL; the expiration is in unix seconds, or null. */
export async function signFileUrl(
  input: SignatureInput,
): Promise<{ signature: string; expiration: number | null }> {
  const expiration =
    input.expirationInSeconds != null
      ? Math.floor((input.now ?? Date.now()) / 1000) + input.expirationInSeconds
      : null;
  const raw = `${input.path}:${input.operation}:${input.user ?? ""}:${input.accessToken}${
    expiration === null ? "" : `:${expiration}`
  }`;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(raw)));
  let binary = "";
  for (const byte of digest) binary += String.fromCharCode(byte);
  return { signature: `v1_${btoa(binary).replace(/=+$/, "")}`, expiration };
}
