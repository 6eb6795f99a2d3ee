import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { type filesystemPb, SandpitError } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { rpcUserPath } from "../rpc-user.js";
import { entryInfoOf } from "./entry-info.js";
import { internalError, isMissing } from "./fs-errors.js";
import { createOwnerNames } from "./owner-names.js";

type StatResponseInit = MessageInitShape<typeof filesystemPb.StatResponseSchema>;

/** Stat: the EntryInfo of a path (not following a final symlink); missing → not_found. */
export async function stat(
  ctx: AgentContext,
  req: filesystemPb.StatRequest,
  context: HandlerContext,
): Promise<StatResponseInit> {
  const { path } = await rpcUserPath(ctx, context.requestHeader, req.path);
  try {
    return { entry: await entryInfoOf(path, createOwnerNames(ctx.users), ctx.fileMetadata) };
  } catch (error) {
    if (isMissing(error)) throw new SandpitError("not_found", `file not found: ${(error as Error).message}`);
    throw internalError("error statting file", error);
  }
}
