import { lstat, rm } from "node:fs/promises";
import type { HandlerContext } from "@connectrpc/connect";
import type { filesystemPb } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { logJson } from "../agent-log.js";
import { rpcUserPath } from "../rpc-user.js";
import { internalError } from "./fs-errors.js";

/**
 * Remove: recursive delete that does not follow symlinks; a missing path is success. A removed
 * file's entry in the linked metadata store goes at once (its space with it), a directory's
 * entries in a sweep started here.
 */
export async function remove(
  ctx: AgentContext,
  req: filesystemPb.RemoveRequest,
  context: HandlerContext,
): Promise<void> {
  const { path } = await rpcUserPath(ctx, context.requestHeader, req.path);
  const removed = await lstat(path, { bigint: true }).catch(() => undefined);
  try {
    await rm(path, { recursive: true, force: true });
  } catch (error) {
    throw internalError("error removing file or directory", error);
  }
  if (!removed || removed.isSymbolicLink()) return;
  const swept = ctx.fileMetadata.store.sweep(removed);
  if (removed.isDirectory()) {
    swept.catch((error: unknown) =>
      logJson({ msg: "file metadata sweep failed", error: (error as Error).message }),
    );
    return;
  }
  // The remove itself succeeded; the sweep every 30 s retries what fails here.
  await swept.catch(() => undefined);
}
