import { SandpitError } from "@sandpit/protocol";
import { accessTokenHeader, type SignedOperation, verifySignature } from "../auth.js";
import type { SandboxUser, UserDirectory } from "../users.js";
import { type HttpRequest, headerOf } from "./http-types.js";

/**
 * The user a `/files` request acts as: the `username` parameter, else the default user.
 * Unknown → unauthenticated with envd's HTTP message (spec §5.2).
 */
export async function userOfRequest(
  users: UserDirectory,
  username: string | undefined,
  defaultUser: string,
): Promise<SandboxUser> {
  const name = username === undefined || username === "" ? defaultUser : username;
  try {
    return await users.lookup(name);
  } catch (error) {
    throw new SandpitError("unauthenticated", `error looking up user '${name}': user: unknown user ${name}`, {
      cause: error,
    });
  }
}

/** Parses `signature_expiration` (unix seconds); absent → undefined, malformed → invalid_argument. */
export function parseExpiration(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d{1,15}$/.test(value)) {
    throw new SandpitError(
      "invalid_argument",
      `invalid signature_expiration '${value}': expected unix seconds`,
    );
  }
  return Number(value);
}

/**
 * Checks a `/files` request's access token or URL signature (spec §5.6); returns the status
 * and message to refuse it with, or undefined when it may proceed.
 */
export function fileRequestRefusal(
  accessToken: string | undefined,
  req: HttpRequest,
  query: Map<string, string>,
  operation: SignedOperation,
): { status: number; message: string } | undefined {
  try {
    verifySignature(accessToken, {
      headerToken: headerOf(req, accessTokenHeader),
      signature: query.get("signature"),
      expiration: parseExpiration(query.get("signature_expiration")),
      username: query.get("username"),
      path: query.get("path") ?? "",
      operation,
    });
    return undefined;
  } catch (error) {
    const status = error instanceof SandpitError && error.code === "unauthenticated" ? 401 : 400;
    return { status, message: (error as Error).message };
  }
}
