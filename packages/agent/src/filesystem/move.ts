import { rename, rmdir } from "node:fs/promises";
import { dirname } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { type filesystemPb, SandpitError } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { ensureDirs } from "../ensure-dirs.js";
import { resolveUserPath } from "../paths.js";
import { rpcUserPath } from "../rpc-user.js";
import { entryInfoOf } from "./entry-info.js";
import { errnoOf, internalError } from "./fs-errors.js";
import { createOwnerNames } from "./owner-names.js";

type MoveResponseInit = MessageInitShape<typeof filesystemPb.MoveResponseSchema>;

/**
 * Move: rename(2) after creating the destination's missing parents; missing source → not_found,
 * anything else (cross-device included) → internal. Parents created for a failed move are
 * removed again. Returns the destination's entry; metadata travels with the inode.
 */
export async function move(
  ctx: AgentContext,
  req: filesystemPb.MoveRequest,
  context: HandlerContext,
): Promise<MoveResponseInit> {
  const { user, path: source } = await rpcUserPath(ctx, context.requestHeader, req.source);
  const destination = resolveUserPath(req.destination, user, ctx.state.defaultWorkdir);
  let created: string[] = [];
  try {
    created = await ensureDirs(dirname(destination), user);
    await rename(source, destination);
  } catch (error) {
    for (const dir of created.reverse()) await rmdir(dir).catch(() => undefined);
    if (errnoOf(error) === "ENOENT") {
      throw new SandpitError("not_found", `source file not found: ${(error as Error).message}`);
    }
    throw internalError("error renaming", error);
  }
  try {
    return { entry: await entryInfoOf(destination, createOwnerNames(ctx.users), ctx.fileMetadata) };
  } catch (error) {
    throw internalError("error getting file info", error);
  }
}
