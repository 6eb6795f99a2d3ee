import type { BigIntStats } from "node:fs";
import { lstat, realpath, stat } from "node:fs/promises";
import { basename } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { filesystemPb } from "@sandpit/protocol";
import { type FileMetadata, readFileMetadata } from "../file-metadata.js";
import { fileModeString } from "./file-mode-string.js";
import type { OwnerNames } from "./owner-names.js";

/** An EntryInfo as handlers return it. */
export type EntryInfoInit = MessageInitShape<typeof filesystemPb.EntryInfoSchema>;

const { FileType } = filesystemPb;

function typeOf(info: BigIntStats): filesystemPb.FileType {
  if (info.isFile()) return FileType.FILE;
  if (info.isDirectory()) return FileType.DIRECTORY;
  return FileType.UNSPECIFIED;
}

/**
 * The EntryInfo of a path exactly as envd builds it (spec §6.6), from its lstat: a symlink
 * reports its final target's type, permission bits and metadata and the fully resolved target
 * path (the link's own path when that fails; then type UNSPECIFIED, mode 0), while
 * `permissions`, size, owner and mtime stay the link's own. Throws the lstat error (ENOENT…).
 */
export async function entryInfoOf(
  path: string,
  names: OwnerNames,
  files: FileMetadata,
  lstatResult?: BigIntStats,
): Promise<EntryInfoInit> {
  const info = lstatResult ?? (await lstat(path, { bigint: true }));
  const rawMode = Number(info.mode);
  let type = typeOf(info);
  let mode = rawMode & 0o777;
  let symlinkTarget: string | undefined;
  // What the path leads to, for its metadata: the lstat serves unless it is a symlink.
  let followed: BigIntStats | undefined = info;
  if (info.isSymbolicLink()) {
    symlinkTarget = await realpath(path).catch(() => path);
    followed = await stat(symlinkTarget, { bigint: true }).catch(() => undefined);
    type = followed ? typeOf(followed) : FileType.UNSPECIFIED;
    mode = followed ? Number(followed.mode) & 0o777 : 0;
  }
  const [owner, group, metadata] = await Promise.all([
    names.user(Number(info.uid)),
    names.group(Number(info.gid)),
    followed ? readFileMetadata(files, path, followed).catch(() => ({})) : {},
  ]);
  // Floor division keeps nanos in [0, 1e9) for times before 1970 too.
  let seconds = info.mtimeNs / 1_000_000_000n;
  let nanos = info.mtimeNs % 1_000_000_000n;
  if (nanos < 0n) {
    seconds -= 1n;
    nanos += 1_000_000_000n;
  }
  return {
    name: basename(path),
    type,
    path,
    size: info.size,
    mode,
    permissions: fileModeString(rawMode),
    owner,
    group,
    modifiedTime: info.mtimeNs === 0n ? undefined : { seconds, nanos: Number(nanos) },
    symlinkTarget,
    metadata,
  };
}
