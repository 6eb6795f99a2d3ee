import { SandpitError } from "@sandpit/protocol";
import type { SandboxUser, UserDirectory } from "../users.js";

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
