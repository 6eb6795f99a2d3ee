import { chown, mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { SandpitError } from "@sandpit/protocol";
import { isBadPath } from "./filesystem/fs-errors.js";
import type { SandboxUser } from "./users.js";

/** Whether the agent may give files away; only root can, and tests run without it too. */
export function canChown(): boolean {
  return process.getuid?.() === 0;
}

/** Gives a path to the user when the agent runs as root, as envd does for what it creates. */
export async function chownToUser(path: string, user: SandboxUser): Promise<void> {
  if (canChown()) await chown(path, user.uid, user.gid);
}

/**
 * Creates the missing directories of an absolute path one component at a time (mode 0755,
 * chowned to the user) so that only the ones created here change owner. Returns them,
 * outermost first, so a failed request can take them back. A component that exists but is
 * not a directory, or a path too long or looping to be resolved → invalid_argument.
 */
export async function ensureDirs(path: string, user: SandboxUser): Promise<string[]> {
  const missing: string[] = [];
  for (let current = path; ; current = dirname(current)) {
    const info = await stat(current).catch((error: NodeJS.ErrnoException) => {
      // ENOTDIR: a component above is a file; walking up finds and reports it.
      if (error.code === "ENOENT" || error.code === "ENOTDIR") return undefined;
      if (isBadPath(error)) throw new SandpitError("invalid_argument", `path '${current}': ${error.message}`);
      throw error;
    });
    if (info?.isDirectory()) break;
    if (info) throw new SandpitError("invalid_argument", `path '${current}' is not a directory`);
    missing.push(current);
    if (current === dirname(current)) break;
  }
  const created: string[] = [];
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir, 0o755);
    } catch (error) {
      // Another request may have created it meanwhile; that is as good.
      if ((error as NodeJS.ErrnoException).code === "EEXIST") continue;
      if (isBadPath(error)) {
        throw new SandpitError("invalid_argument", `path '${dir}': ${(error as Error).message}`);
      }
      throw error;
    }
    created.push(dir);
    await chownToUser(dir, user);
  }
  return created;
}
