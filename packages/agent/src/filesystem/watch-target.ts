import { stat, statfs } from "node:fs/promises";
import { SandpitError } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { rpcUserPath } from "../rpc-user.js";

// Superblock magic numbers of network and FUSE filesystems, where inotify sees only local changes.
const networkFilesystems = new Set([0x6969, 0xff534d42, 0x517b, 0xfe534d42, 0x65735546]);

/** The parts of WatchDir and CreateWatcher requests that choose what to watch. */
export interface WatchTargetRequest {
  path: string;
  allowNetworkMounts: boolean;
}

/**
 * Resolves and validates a directory to watch (spec §6.6): missing → not_found, not a directory
 * → invalid_argument, on a network filesystem without `allow_network_mounts` → invalid_argument.
 */
export async function resolveWatchTarget(
  ctx: AgentContext,
  request: WatchTargetRequest,
  header: Headers,
): Promise<string> {
  const { path } = await rpcUserPath(ctx, header, request.path);
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT" || error.code === "ENOTDIR") {
      throw new SandpitError("not_found", `path ${path} not found: ${error.message}`);
    }
    throw new SandpitError("internal", `error statting path ${path}: ${error.message}`);
  });
  if (!info.isDirectory()) throw new SandpitError("invalid_argument", `path ${path} not a directory`);
  if (!request.allowNetworkMounts) {
    const fs = await statfs(path).catch((error: Error) => {
      throw new SandpitError("internal", `error checking mount status: ${error.message}`);
    });
    if (networkFilesystems.has(fs.type >>> 0)) {
      throw new SandpitError("invalid_argument", `cannot watch path on network filesystem: ${path}`);
    }
  }
  return path;
}
