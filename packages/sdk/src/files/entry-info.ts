// Filesystem entries as users see them: the agent's EntryInfo with plain types.
import { filesystemPb } from "@sandpit/protocol";

/** Kinds of filesystem entries. */
export const FileType = { FILE: "file", DIR: "dir", SYMLINK: "symlink" } as const;
/** Kind of a filesystem entry. */
export type FileType = (typeof FileType)[keyof typeof FileType];

/** What an upload reports per file. */
export interface WriteInfo {
  /** Base name. */
  name: string;
  /** Kind of entry. */
  type?: FileType;
  /** Absolute path. */
  path: string;
  /** The file's `user.e2b.*` metadata, if any. */
  metadata?: Record<string, string>;
}

/** A file, directory or symlink in the sandbox. */
export interface EntryInfo extends WriteInfo {
  /** Size in bytes. */
  size: number;
  /** Permission bits. */
  mode: number;
  /** Permissions as `ls -l` shows them, e.g. `-rw-r--r--`. */
  permissions: string;
  /** Owner's name. */
  owner: string;
  /** Group's name. */
  group: string;
  /** Last modification. */
  modifiedTime?: Date;
  /** Resolved target of a symlink. */
  symlinkTarget?: string;
}

/** The SDK's kind of a wire file type; undefined for UNSPECIFIED. */
export function fileTypeOf(type: filesystemPb.FileType): FileType | undefined {
  switch (type) {
    case filesystemPb.FileType.FILE:
      return FileType.FILE;
    case filesystemPb.FileType.DIRECTORY:
      return FileType.DIR;
    case filesystemPb.FileType.SYMLINK:
      return FileType.SYMLINK;
    default:
      return undefined;
  }
}

/** Maps the agent's EntryInfo. */
export function entryInfoOf(entry: filesystemPb.EntryInfo): EntryInfo {
  const type = fileTypeOf(entry.type);
  const metadata = entry.metadata && Object.keys(entry.metadata).length > 0 ? entry.metadata : undefined;
  return {
    name: entry.name,
    ...(type && { type }),
    path: entry.path,
    size: Number(entry.size),
    mode: entry.mode,
    permissions: entry.permissions,
    owner: entry.owner,
    group: entry.group,
    ...(entry.modifiedTime && {
      modifiedTime: new Date(
        Number(entry.modifiedTime.seconds) * 1000 + Math.floor(entry.modifiedTime.nanos / 1_000_000),
      ),
    }),
    ...(entry.symlinkTarget !== undefined && { symlinkTarget: entry.symlinkTarget }),
    ...(metadata && { metadata }),
  };
}
