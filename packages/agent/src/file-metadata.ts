import type { BigIntStats } from "node:fs";
import { stat } from "node:fs/promises";
import { SandpitError } from "@sandpit/protocol";
import { getAttribute, listAttributes, removeAttribute, setAttribute } from "fs-xattr";
import type { AgentLog } from "./agent-log.js";
import { errnoOf } from "./filesystem/fs-errors.js";
import {
  createLinkedMetadataStore,
  defaultMetadataStoreDir,
  type LinkedMetadataStore,
} from "./linked-metadata-store.js";

/** Prefix of the extended attributes that hold a file's user metadata (spec §5.4). */
export const metadataXattrPrefix = "user.e2b.";

// Removing an attribute nobody sets tells whether a filesystem keeps xattrs (ENODATA) or not
// (EOPNOTSUPP). Listing or reading cannot: gVisor's root filesystem lists none and reads
// ENODATA, and refuses only changes.
const probeXattr = "user.sandpit.xattr-probe";

/** Options of {@link createFileMetadata}. */
export interface FileMetadataOptions {
  /** The linked store's directory; default `/var/lib/sandpit-agent/file-metadata`. */
  storeDir?: string;
  /** Tests only: devices (st_dev) to treat as lacking xattrs, so the linked store serves them. */
  devicesWithoutXattrs?: readonly bigint[];
  /** The linked store's sweep interval; default 30 s. */
  sweepIntervalMs?: number;
  log?: AgentLog;
}

/**
 * Where one agent keeps file metadata: in `user.e2b.*` xattrs, or in its linked store on a
 * filesystem that has none (gVisor's root filesystem).
 */
export interface FileMetadata {
  readonly store: LinkedMetadataStore;
  /** Whether the filesystem of `path` (stat `info`, symlinks followed) keeps xattrs; asked once per device. */
  keepsXattrs(path: string, info: BigIntStats): Promise<boolean>;
  /** Records that a device refused an xattr change. */
  markWithoutXattrs(dev: bigint): void;
  /** Stops the store's periodic sweep (agent shutdown). */
  close(): void;
}

function isUnsupported(error: unknown): boolean {
  const code = errnoOf(error);
  return code === "ENOTSUP" || code === "EOPNOTSUPP";
}

function isMissingOrUnsupported(error: unknown): boolean {
  const code = errnoOf(error);
  return code === "ENOENT" || code === "ENODATA" || isUnsupported(error);
}

/** Creates an agent's file metadata; the linked store touches the disk only when first needed. */
export function createFileMetadata(options: FileMetadataOptions = {}): FileMetadata {
  const store = createLinkedMetadataStore({
    dir: options.storeDir ?? defaultMetadataStoreDir,
    sweepIntervalMs: options.sweepIntervalMs,
    log: options.log,
  });
  const verdicts = new Map<bigint, boolean>();
  for (const dev of options.devicesWithoutXattrs ?? []) verdicts.set(dev, false);
  const probes = new Map<bigint, Promise<boolean | undefined>>();

  async function probe(path: string): Promise<boolean | undefined> {
    try {
      await removeAttribute(path, probeXattr);
      return true;
    } catch (error) {
      const code = errnoOf(error);
      if (code === "ENODATA" || code === "EROFS") return true;
      if (isUnsupported(error)) return false;
      // Not a verdict on the device (EACCES, a vanished path…): read the file as before.
      return undefined;
    }
  }

  return {
    store,
    async keepsXattrs(path, info) {
      const known = verdicts.get(info.dev);
      if (known !== undefined) return known;
      // Special files refuse user xattrs whatever the filesystem: no verdict from them.
      if (!info.isFile() && !info.isDirectory()) return true;
      let pending = probes.get(info.dev);
      if (!pending) {
        pending = probe(path);
        probes.set(info.dev, pending);
      }
      const verdict = await pending;
      probes.delete(info.dev);
      if (verdict !== undefined) verdicts.set(info.dev, verdict);
      return verdict ?? true;
    },
    markWithoutXattrs(dev) {
      verdicts.set(dev, false);
    },
    close() {
      store.close();
    },
  };
}

/**
 * The metadata of a path (following symlinks), from its `user.e2b.*` xattrs (prefix stripped)
 * or from the linked store. `followed` is the path's stat where the caller has one. Missing
 * paths and dangling links read as no metadata, so a listing never fails on them.
 */
export async function readFileMetadata(
  files: FileMetadata,
  path: string,
  followed?: BigIntStats,
): Promise<Record<string, string>> {
  let info = followed;
  if (!info) {
    try {
      info = await stat(path, { bigint: true });
    } catch (error) {
      if (errnoOf(error) === "ENOENT") return {};
      throw error;
    }
  }
  if (!(await files.keepsXattrs(path, info))) return (await files.store.read(info)) ?? {};
  return readXattrs(path);
}

async function readXattrs(path: string): Promise<Record<string, string>> {
  let names: string[];
  try {
    names = await listAttributes(path);
  } catch (error) {
    if (isMissingOrUnsupported(error)) return {};
    throw error;
  }
  const metadata: Record<string, string> = {};
  for (const name of names) {
    if (!name.startsWith(metadataXattrPrefix)) continue;
    try {
      metadata[name.slice(metadataXattrPrefix.length)] = (await getAttribute(path, name)).toString("utf8");
    } catch (error) {
      // Removed between list and get: it simply is not there any more.
      if (!isMissingOrUnsupported(error)) throw error;
    }
  }
  return metadata;
}

/**
 * Makes `metadata` the file's whole metadata, so an upload without metadata headers clears what
 * an earlier one set. Where the filesystem keeps no xattrs it goes to the linked store; a file
 * the store cannot serve either (another filesystem) fails only when `metadata` is not empty.
 */
export async function replaceFileMetadata(
  files: FileMetadata,
  path: string,
  metadata: Record<string, string>,
): Promise<void> {
  const empty = Object.keys(metadata).length === 0;
  let info: BigIntStats;
  try {
    info = await stat(path, { bigint: true });
  } catch (error) {
    if (empty && errnoOf(error) === "ENOENT") return;
    throw error;
  }
  // An upload without metadata must not fail because the file cannot have any.
  const tolerated = (error: unknown) =>
    empty &&
    (errnoOf(error) === "ENOENT" || (error instanceof SandpitError && error.code === "failed_precondition"));
  if (await files.keepsXattrs(path, info)) {
    try {
      await replaceXattrs(path, metadata);
      return;
    } catch (error) {
      if (tolerated(error)) return;
      if (!isUnsupported(error)) throw error;
      files.markWithoutXattrs(info.dev);
    }
  }
  try {
    await files.store.replace(path, metadata);
  } catch (error) {
    if (!tolerated(error)) throw error;
  }
}

async function replaceXattrs(path: string, metadata: Record<string, string>): Promise<void> {
  const names = await listAttributes(path);
  for (const name of names) {
    if (!name.startsWith(metadataXattrPrefix)) continue;
    try {
      await removeAttribute(path, name);
    } catch (error) {
      // Removed meanwhile: gone is what was asked.
      if (errnoOf(error) !== "ENODATA" && errnoOf(error) !== "ENOENT") throw error;
    }
  }
  for (const [key, value] of Object.entries(metadata)) {
    await setAttribute(path, metadataXattrPrefix + key, value);
  }
}
