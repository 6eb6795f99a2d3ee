import { rm } from "node:fs/promises";
import type { HandlerContext } from "@connectrpc/connect";
import type { filesystemPb } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { rpcUserPath } from "../rpc-user.js";
import { internalError } from "./fs-errors.js";

/** Remove: recursive delete that does not follow symlinks; a missing path is success. */
export async function remove(
  ctx: AgentContext,
  req: filesystemPb.RemoveRequest,
  context: HandlerContext,
): Promise<void> {
  const { path } = await rpcUserPath(ctx, context.requestHeader, req.path);
  try {
    await rm(path, { recursive: true, force: true });
  } catch (error) {
    throw internalError("error removing file or directory", error);
  }
}
