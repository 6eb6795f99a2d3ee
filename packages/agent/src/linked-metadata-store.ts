import { randomBytes } from "node:crypto";
import { type BigIntStats, constants as fsConstants } from "node:fs";
import {
  chmod,
  chown,
  copyFile,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  realpath,
  rename,
  stat,
  unlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import { SandpitError } from "@sandpit/protocol";
import { type AgentLog, logJson } from "./agent-log.js";
import { errnoOf } from "./filesystem/fs-errors.js";
import { inodeKey } from "./inode-key.js";
import { isStringMap } from "./string-map.js";

/** Where the agent keeps the metadata of files on filesystems without extended attributes. */
export const defaultMetadataStoreDir = "/var/lib/sandpit-agent/file-metadata";

/** Options of {@link createLinkedMetadataStore}. */
export interface LinkedMetadataStoreOptions {
  /** A root-only directory on the filesystem whose files it serves; created (0700) on first use. */
  dir: string;
  /** How often the entries of deleted files are dropped while there are entries; default 30 s. */
  sweepIntervalMs?: number;
  /** Where a failed periodic sweep is reported; default JSON lines on stdout. */
  log?: AgentLog;
}

/**
 * File metadata kept beside the files instead of in xattrs: per file, a hard link to it (which
 * pins its inode, so the number cannot pass to another file while the entry lives, and which
 * follows renames) and `<link>.json` with the metadata. Looked up by inode number through an
 * index built from the links on first use, so it survives agent restarts and reboots.
 */
export interface LinkedMetadataStore {
  /** The metadata of the file `info` describes (a stat that followed symlinks), if it has any. */
  read(info: BigIntStats): Promise<Record<string, string> | undefined>;
  /**
   * Makes `metadata` the whole metadata of the file at `path` (symlinks followed); `{}` drops
   * its entry. Refuses files it cannot link to (another filesystem than the store's).
   */
  replace(path: string, metadata: Record<string, string>): Promise<void>;
  /**
   * Drops the entries of files that were deleted (only the store's link is left): every
   * entry, or only the one of the file `removed` described, if the index was built already.
   */
  sweep(removed?: BigIntStats): Promise<void>;
  /** Stops the periodic sweep (agent shutdown). */
  close(): void;
}

interface Entry {
  id: string;
  metadata: Record<string, string>;
}

const idPattern = /^[0-9a-f]{16}$/;
const defaultSweepIntervalMs = 30_000;
// Entries checked on each change of the store, oldest check first, besides the periodic sweep.
const collectedPerChange = 8;
// Probes in flight at once during a sweep or the index build.
const sweepConcurrency = 16;

function notSupported(cause?: unknown): SandpitError {
  return new SandpitError("failed_precondition", "file metadata is not supported on this filesystem", {
    cause,
  });
}

async function unlinkQuietly(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}

async function inBatches<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += sweepConcurrency) {
    await Promise.all(items.slice(i, i + sweepConcurrency).map(work));
  }
}

/**
 * Replaces a file by a copy of itself (content, owner, mode, times). Overlayfs reports a file
 * copied up from a lower layer (a template's file) under its lower inode number by its own path
 * but under the upper one by a new link, so no link could ever be matched to it; the copy
 * exists in the upper layer only and reports one number by every name.
 */
async function rehome(path: string, info: BigIntStats): Promise<void> {
  const copy = join(dirname(path), `.sandpit-${randomBytes(6).toString("hex")}`);
  await copyFile(path, copy, fsConstants.COPYFILE_EXCL);
  try {
    await chown(copy, Number(info.uid), Number(info.gid));
    // After the chown, which clears set-id bits.
    await chmod(copy, Number(info.mode) & 0o7777);
    await utimes(copy, info.atime, info.mtime);
    await rename(copy, path);
  } catch (error) {
    await unlinkQuietly(copy);
    throw error;
  }
}

/** Creates a store over `options.dir`; nothing touches the disk before the first call. */
export function createLinkedMetadataStore(options: LinkedMetadataStoreOptions): LinkedMetadataStore {
  const { dir } = options;
  const log = options.log ?? logJson;
  const sweepIntervalMs = options.sweepIntervalMs ?? defaultSweepIntervalMs;
  // File identity (dev:ino as the links report it) → entry; Map order is the order of last check.
  // Not the store directory's st_dev: overlayfs reports its own for directories and the upper
  // layer's for the files in them.
  const index = new Map<string, Entry>();
  let built: Promise<void> | undefined;
  // The store directory's identity when the index was built. gVisor numbers every inode afresh
  // when it restores a sandbox from a checkpoint (the agent's memory, this index with it, comes
  // back as it was), so a changed one means the index names files by numbers they lost.
  let builtIdentity: string | undefined;
  let checking: Promise<string> | undefined;
  let renumbering: Promise<void> | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const linkPath = (id: string) => join(dir, id);
  const entryPath = (id: string) => join(dir, `${id}.json`);

  /** Runs mutations of the store one at a time. */
  function serialized<T>(op: () => Promise<T>): Promise<T> {
    const run = chain.then(op);
    chain = run.catch(() => undefined);
    return run;
  }

  async function dirIdentity(): Promise<string> {
    try {
      return inodeKey(await stat(dir, { bigint: true }));
    } catch (error) {
      if (errnoOf(error) === "ENOENT" || errnoOf(error) === "ENOTDIR") return "-";
      throw error;
    }
  }

  async function ready(): Promise<void> {
    built ??= serialized(build).catch((error: unknown) => {
      built = undefined;
      throw error;
    });
    await built;
    // An empty index names no file, so it cannot name a wrong one. Calls at once share a look.
    if (index.size === 0) return;
    checking ??= dirIdentity().finally(() => {
      checking = undefined;
    });
    if ((await checking) === builtIdentity) return;
    renumbering ??= serialized(async () => {
      if ((await dirIdentity()) === builtIdentity) return;
      index.clear();
      await build();
    }).finally(() => {
      renumbering = undefined;
    });
    await renumbering;
  }

  function updateTimer(): void {
    if (index.size > 0 && timer === undefined && !closed) {
      timer = setInterval(() => {
        sweepAll().catch((error: unknown) =>
          log({ msg: "file metadata sweep failed", error: (error as Error).message }),
        );
      }, sweepIntervalMs);
      timer.unref();
    } else if (index.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  /**
   * Whether the file behind an entry's link was deleted. The link's own count would not do:
   * gVisor caches the link count per name, so after the user's `rm` the store's name still
   * shows 2 until a reboot. A name made now is looked up afresh; its count includes itself.
   */
  async function isDeleted(id: string): Promise<boolean> {
    const probe = join(dir, `${id}.probe`);
    try {
      await link(linkPath(id), probe);
    } catch (error) {
      if (errnoOf(error) === "ENOENT") return true;
      if (errnoOf(error) !== "EEXIST") throw error;
      await unlink(probe);
      await link(linkPath(id), probe);
    }
    try {
      return (await lstat(probe, { bigint: true })).nlink <= 2n;
    } finally {
      await unlinkQuietly(probe);
    }
  }

  async function readEntry(id: string): Promise<Record<string, string> | undefined> {
    try {
      const parsed = JSON.parse(await readFile(entryPath(id), "utf8")) as { metadata?: unknown };
      return isStringMap(parsed.metadata) ? parsed.metadata : undefined;
    } catch {
      return undefined;
    }
  }

  async function writeEntry(id: string, metadata: Record<string, string>): Promise<void> {
    const temp = `${entryPath(id)}.tmp`;
    await writeFile(temp, JSON.stringify({ metadata }), { mode: 0o600 });
    await rename(temp, entryPath(id));
  }

  async function drop(key: string | undefined, entry: Entry): Promise<void> {
    // The link last: a link without its json is dropped at the next build, like a json alone.
    await unlinkQuietly(entryPath(entry.id));
    await unlinkQuietly(linkPath(entry.id));
    if (key !== undefined && index.get(key) === entry) index.delete(key);
  }

  async function build(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      // Not created yet; ENOTDIR (a file in its place) fails the first change, not every read.
      if (errnoOf(error) === "ENOENT" || errnoOf(error) === "ENOTDIR") return;
      throw error;
    }
    builtIdentity = await dirIdentity();
    const present = new Set(names);
    const ids = names.filter((name) => idPattern.test(name));
    // Temp files, probes and a json whose link is gone are what an interrupted change left.
    for (const name of names) {
      if (idPattern.test(name)) continue;
      if (name.endsWith(".json") && idPattern.test(name.slice(0, -5)) && present.has(name.slice(0, -5)))
        continue;
      await unlinkQuietly(join(dir, name));
    }
    await inBatches(ids, async (id) => {
      const [info, metadata] = await Promise.all([
        lstat(linkPath(id), { bigint: true }).catch(() => undefined),
        readEntry(id),
      ]);
      const entry = { id, metadata: metadata ?? {} };
      // Checked after the last await, so two links to one file cannot both get in.
      if (!info || !metadata || (await isDeleted(id)) || index.has(inodeKey(info))) {
        await drop(undefined, entry);
        return;
      }
      index.set(inodeKey(info), entry);
    });
    updateTimer();
  }

  /** Checks the given entries; those of deleted files go, the others move to the end of the order. */
  async function collect(keys: readonly string[]): Promise<void> {
    await inBatches(keys, async (key) => {
      const entry = index.get(key);
      if (!entry) return;
      if (await isDeleted(entry.id)) {
        await drop(key, entry);
      } else if (index.get(key) === entry) {
        index.delete(key);
        index.set(key, entry);
      }
    });
    updateTimer();
  }

  async function sweepAll(): Promise<void> {
    await ready();
    await serialized(() => collect([...index.keys()]));
  }

  async function replaceNow(path: string, metadata: Record<string, string>): Promise<void> {
    const target = await realpath(path);
    const file = await stat(target, { bigint: true });
    // The link pins the inode, so no other file can have been given this identity meanwhile.
    const existing = index.get(inodeKey(file));
    if (Object.keys(metadata).length === 0) {
      // An upload without metadata to a file without any (the usual one) costs nothing more.
      if (!existing) return;
      await drop(inodeKey(file), existing);
    } else if (existing) {
      await writeEntry(existing.id, metadata);
      index.set(inodeKey(file), { id: existing.id, metadata: { ...metadata } });
    } else {
      await create(target, file, metadata);
    }
    const oldest: string[] = [];
    for (const key of index.keys()) {
      if (oldest.length === collectedPerChange) break;
      oldest.push(key);
    }
    await collect(oldest);
  }

  async function create(target: string, file: BigIntStats, metadata: Record<string, string>): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    builtIdentity = await dirIdentity();
    const id = randomBytes(8).toString("hex");
    const linked = async () => {
      try {
        await link(target, linkPath(id));
      } catch (error) {
        if (errnoOf(error) === "EXDEV") throw notSupported(error);
        throw error;
      }
      return lstat(linkPath(id), { bigint: true });
    };
    try {
      let info = await linked();
      if (inodeKey(info) !== inodeKey(file)) {
        await unlink(linkPath(id));
        await rehome(target, await stat(target, { bigint: true }));
        info = await linked();
        if (inodeKey(info) !== inodeKey(await stat(target, { bigint: true }))) throw notSupported();
      }
      await writeEntry(id, metadata);
      index.set(inodeKey(info), { id, metadata: { ...metadata } });
    } catch (error) {
      await unlinkQuietly(linkPath(id));
      throw error;
    }
  }

  return {
    async read(info) {
      await ready();
      const entry = index.get(inodeKey(info));
      return entry && { ...entry.metadata };
    },
    async replace(path, metadata) {
      await ready();
      await serialized(() => replaceNow(path, metadata));
    },
    async sweep(removed) {
      if (built === undefined || index.size === 0) return;
      if (removed === undefined || removed.isDirectory()) return sweepAll();
      await ready();
      if (!index.has(inodeKey(removed))) return;
      await serialized(() => collect([inodeKey(removed)]));
    },
    close() {
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
  };
}
