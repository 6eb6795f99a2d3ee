import { lstat, readdir, realpath, stat } from "node:fs/promises";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { type filesystemPb, SandpitError } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import type { FileMetadata } from "../file-metadata.js";
import { rpcUserPath } from "../rpc-user.js";
import { type EntryInfoInit, entryInfoOf } from "./entry-info.js";
import { errnoOf, internalError, isMissing } from "./fs-errors.js";
import { createOwnerNames, type OwnerNames } from "./owner-names.js";

type ListDirResponseInit = MessageInitShape<typeof filesystemPb.ListDirResponseSchema>;

const statConcurrency = 64;

// Go sorts names bytewise; JavaScript's default sort compares UTF-16 units, which differs
// above the BMP.
function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * ListDir (spec §6.6): follows a symlink at the root only, then walks depth-first in bytewise
 * name order without following nested symlinks, listing entries down to `depth` (0 → 1) under
 * the requested, unresolved root. Entries that vanish mid-walk are skipped.
 */
export async function listDir(
  ctx: AgentContext,
  req: filesystemPb.ListDirRequest,
  context: HandlerContext,
): Promise<ListDirResponseInit> {
  const depth = req.depth === 0 ? 1 : req.depth;
  const { path: root } = await rpcUserPath(ctx, context.requestHeader, req.path);
  const resolved = await realpath(root).catch((error: unknown) => {
    if (isMissing(error)) throw new SandpitError("not_found", `path not found: ${(error as Error).message}`);
    if (errnoOf(error) === "ELOOP") {
      throw new SandpitError("failed_precondition", `cyclic symlink or chain >255 links at "${root}"`);
    }
    throw internalError("error resolving symlink", error);
  });
  const info = await stat(resolved).catch((error: unknown) => {
    if (isMissing(error))
      throw new SandpitError("not_found", `directory not found: ${(error as Error).message}`);
    throw internalError("error getting file info", error);
  });
  if (!info.isDirectory()) throw new SandpitError("invalid_argument", `path is not a directory: ${resolved}`);

  const entries: EntryInfoInit[] = [];
  await walk(root, depth, createOwnerNames(ctx.users), ctx.fileMetadata, entries);
  return { entries };
}

async function walk(
  dir: string,
  depthLeft: number,
  names: OwnerNames,
  files: FileMetadata,
  out: EntryInfoInit[],
): Promise<void> {
  let children: string[];
  try {
    children = (await readdir(dir)).sort(byBytes);
  } catch (error) {
    if (isMissing(error)) return;
    throw internalError(`error reading directory ${dir}`, error);
  }
  // Stat siblings concurrently (in bounded slices), then recurse in order so the listing stays
  // depth-first.
  const found: ({ path: string; isDir: boolean; entry: EntryInfoInit } | undefined)[] = [];
  for (let i = 0; i < children.length; i += statConcurrency) {
    const slice = children.slice(i, i + statConcurrency).map(async (name) => {
      const path = dir === "/" ? `/${name}` : `${dir}/${name}`;
      try {
        const info = await lstat(path, { bigint: true });
        return { path, isDir: info.isDirectory(), entry: await entryInfoOf(path, names, files, info) };
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw internalError(`error reading directory ${dir}`, error);
      }
    });
    found.push(...(await Promise.all(slice)));
  }
  for (const child of found) {
    if (!child) continue;
    out.push(child.entry);
    if (child.isDir && depthLeft > 1) await walk(child.path, depthLeft - 1, names, files, out);
  }
}
