import { posix } from "node:path";
import { SandpitError } from "@sandpit/protocol";
import type { SandboxUser } from "./users.js";

/**
 * Resolves a client-supplied path the way envd does (spec §5.2): empty → the default workdir,
 * `~` and `~/…` → the user's home, relative → joined to the user's home (not the workdir).
 * The result is absolute and cleaned; symlinks are left alone. A bad path → invalid_argument.
 */
export function resolveUserPath(input: string, user: SandboxUser, defaultWorkdir?: string): string {
  if (input.includes("\0")) {
    throw new SandpitError("invalid_argument", `invalid path '${input.replaceAll("\0", "\\0")}': NUL byte`);
  }
  let path = input === "" && defaultWorkdir ? defaultWorkdir : input;
  if (path.startsWith("~")) {
    if (path.length > 1 && path[1] !== "/") {
      throw new SandpitError(
        "invalid_argument",
        `failed to expand path '${path}' for user '${user.name}': cannot expand user-specific home dir`,
      );
    }
    path = posix.join(user.home, path.slice(1));
  }
  // resolve() both joins relative paths to home and cleans `.`, `..`, `//` and trailing slashes.
  return posix.resolve(user.home, path);
}
