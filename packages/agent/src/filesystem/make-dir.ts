import { stat } from "node:fs/promises";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { type filesystemPb, SandpitError } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { ensureDirs } from "../ensure-dirs.js";
import { rpcUserPath } from "../rpc-user.js";
import { entryInfoOf } from "./entry-info.js";
import { internalError, isMissing } from "./fs-errors.js";
import { createOwnerNames } from "./owner-names.js";

type MakeDirResponseInit = MessageInitShape<typeof filesystemPb.MakeDirResponseSchema>;

/**
 * MakeDir: creates every missing component (0755, chowned to the user). An existing directory
 * → already_exists (the SDK turns that into `false`); an existing non-directory → invalid_argument.
 */
export async function makeDir(
  ctx: AgentContext,
  req: filesystemPb.MakeDirRequest,
  context: HandlerContext,
): Promise<MakeDirResponseInit> {
  const { user, path } = await rpcUserPath(ctx, context.requestHeader, req.path);
  const existing = await stat(path).catch((error: unknown) => {
    if (isMissing(error)) return undefined;
    throw internalError("error getting file info", error);
  });
  if (existing?.isDirectory()) throw new SandpitError("already_exists", `directory already exists: ${path}`);
  if (existing)
    throw new SandpitError("invalid_argument", `path already exists but it is not a directory: ${path}`);
  try {
    const created = await ensureDirs(path, user);
    // Lost a race with another creator: same answer as if it had been there first.
    if (created.length === 0) throw new SandpitError("already_exists", `directory already exists: ${path}`);
    return { entry: await entryInfoOf(path, createOwnerNames(ctx.users), ctx.fileMetadata) };
  } catch (error) {
    throw internalError("error creating directory", error);
  }
}
