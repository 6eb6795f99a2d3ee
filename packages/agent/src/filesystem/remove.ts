import { rm } from "node:fs/promises";
import type { HandlerContext } from "@connectrpc/connect";
import type { filesystemPb } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { resolveUserPath } from "../paths.js";
import { rpcUser } from "../rpc-user.js";
import { internalError } from "./fs-errors.js";

/** Remove: recursive delete that does not follow symlinks; a missing path is success. */
export async function remove(
  ctx: AgentContext,
  req: filesystemPb.RemoveRequest,
  context: HandlerContext,
): Promise<void> {
  const user = await rpcUser(ctx, context.requestHeader);
  const path = resolveUserPath(req.path, user, ctx.state.defaultWorkdir);
  try {
    await rm(path, { recursive: true, force: true });
  } catch (error) {
    throw internalError("error removing file or directory", error);
  }
}
