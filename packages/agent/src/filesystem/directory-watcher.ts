import { type BigIntStats, type FSWatcher, lstatSync, readdirSync, watch } from "node:fs";
import { basename, join } from "node:path";
import { filesystemPb } from "@sandpit/protocol";
import type { FileMetadata } from "../file-metadata.js";
import { inodeKey } from "../inode-key.js";
import { type EntryInfoInit, entryInfoOf } from "./entry-info.js";
import type { OwnerNames } from "./owner-names.js";

const { EventType } = filesystemPb;

/** One filesystem event, named relative to the watched directory. */
export interface WatchEvent {
  name: string;
  type: filesystemPb.EventType;
  entry?: EntryInfoInit;
}

/** Options of {@link watchDirectory}. */
export interface DirectoryWatcherOptions {
  recursive: boolean;
  /** Attach an EntryInfo to CREATE, WRITE and CHMOD events when the path can be stat-ed. */
  includeEntry: boolean;
  names: OwnerNames;
  fileMetadata: FileMetadata;
  onEvent(event: WatchEvent): void;
  /** The watch broke (e.g. out of inotify watches); no more events follow. */
  onError(error: Error): void;
}

/** A running watch; close() releases every inotify watch it holds. */
export interface DirectoryWatcher {
  /**
   * Reads again the inode numbers of what it knows: gVisor gives every file a new one on
   * restore, after which a write would read as a new file appearing.
   */
  renumber(): void;
  close(): void;
}

/** What the watcher remembers of an entry, to tell what an event changed. */
interface Snapshot {
  id: string;
  isDir: boolean;
  isFile: boolean;
  mode: bigint;
  uid: bigint;
  gid: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /** 0 where the filesystem does not report it. */
  birthNs: bigint;
}

interface WatchedDir {
  watcher: FSWatcher;
  children: Map<string, Snapshot>;
}

interface RawEvent {
  dir: string;
  kind: "rename" | "change";
  name: string;
}

function snapshotOf(info: BigIntStats): Snapshot {
  return {
    id: inodeKey(info),
    isDir: info.isDirectory(),
    isFile: info.isFile(),
    mode: info.mode,
    uid: info.uid,
    gid: info.gid,
    size: info.size,
    mtimeNs: info.mtimeNs,
    ctimeNs: info.ctimeNs,
    birthNs: info.birthtimeNs,
  };
}

function lstatOrUndefined(path: string): BigIntStats | undefined {
  try {
    return lstatSync(path, { bigint: true, throwIfNoEntry: false });
  } catch {
    // ENOTDIR, EACCES…: as far as a watcher can tell, the entry is not there.
    return undefined;
  }
}

/**
 * Watches a directory (and, when recursive, every directory below it, including ones created
 * later) and reports envd-style events: CREATE, RENAME, CHMOD, WRITE, REMOVE, one per operation.
 *
 * Node's fs.watch is inotify underneath but only says "rename" (create/delete/move) or
 * "change" (modify/attrib) per name. The kind is recovered by comparing lstat snapshots: a name
 * that appears → CREATE; one that disappears → RENAME if its inode reappears in the same batch
 * of events (a move inside the tree), else REMOVE; a change of mode/owner (or of ctime alone)
 * → CHMOD, of size/mtime → WRITE. Limits: a move out of the tree reads as REMOVE; an entry created
 * and deleted before the batch is handled is not reported; `touch` reads as WRITE; several
 * operations on one name within one batch collapse into one event per kind; a directory that
 * appears reports CREATE for what it already contains (so files written into a just-made
 * directory are not lost before its watch exists); events about the watched directory itself
 * are not reported.
 */
export function watchDirectory(root: string, options: DirectoryWatcherOptions): DirectoryWatcher {
  const dirs = new Map<string, WatchedDir>();
  let queue: RawEvent[] = [];
  let scheduled = false;
  let closed = false;
  // Entries are built asynchronously; this chain keeps emission in event order.
  let emitting = Promise.resolve();

  const absolute = (rel: string) => (rel === "" ? root : join(root, rel));

  const fail = (error: Error) => {
    if (closed) return;
    close();
    options.onError(error);
  };

  const emit = (name: string, type: filesystemPb.EventType) => {
    const wantsEntry =
      options.includeEntry &&
      (type === EventType.CREATE || type === EventType.WRITE || type === EventType.CHMOD);
    if (!wantsEntry) {
      emitting = emitting.then(() => {
        if (!closed) options.onEvent({ name, type });
      });
      return;
    }
    const entry = entryInfoOf(absolute(name), options.names, options.fileMetadata).catch(() => undefined);
    emitting = emitting.then(async () => {
      const resolved = await entry;
      if (!closed) options.onEvent(resolved ? { name, type, entry: resolved } : { name, type });
    });
  };

  const unwatchTree = (rel: string) => {
    for (const [dir, watched] of dirs) {
      if (dir === rel || dir.startsWith(`${rel}/`)) {
        watched.watcher.close();
        dirs.delete(dir);
      }
    }
  };

  /** Starts watching a directory, then records (and, if asked, announces) what it holds. */
  const watchTree = (rel: string, announce: boolean) => {
    const path = absolute(rel);
    let watcher: FSWatcher;
    try {
      watcher = watch(path, { persistent: false, encoding: "utf8" }, (kind, name) => {
        if (closed || name === null) return;
        queue.push({ dir: rel, kind: kind === "change" ? "change" : "rename", name });
        if (!scheduled) {
          scheduled = true;
          // inotify delivers a read's worth of events in one tick; a batch keeps a move's
          // two halves together.
          setImmediate(flush);
        }
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Gone before we got to it: its disappearance is reported by its parent.
      if (rel !== "" && (code === "ENOENT" || code === "ENOTDIR")) return;
      throw error;
    }
    watcher.on("error", (error) => {
      if (rel === "") fail(error);
      else unwatchTree(rel);
    });
    const watched: WatchedDir = { watcher, children: new Map() };
    dirs.set(rel, watched);
    let names: string[] = [];
    try {
      names = readdirSync(path);
    } catch {
      // Vanished between watch and read; its parent reports it.
    }
    for (const name of names.sort()) {
      const info = lstatOrUndefined(join(path, name));
      if (!info) continue;
      const snapshot = snapshotOf(info);
      watched.children.set(name, snapshot);
      const childRel = rel === "" ? name : `${rel}/${name}`;
      if (announce) emit(childRel, EventType.CREATE);
      if (options.recursive && snapshot.isDir) watchTree(childRel, announce);
    }
  };

  const flush = () => {
    scheduled = false;
    if (closed) return;
    const batch = queue;
    queue = [];
    try {
      handleBatch(batch);
    } catch (error) {
      fail(error as Error);
    }
  };

  const handleBatch = (batch: RawEvent[]) => {
    // One lstat per name and batch: later events in the batch see the same final state.
    const after = new Map<string, BigIntStats | undefined>();
    const statOf = (rel: string) => {
      if (!after.has(rel)) after.set(rel, lstatOrUndefined(absolute(rel)));
      return after.get(rel);
    };
    const relOf = (event: RawEvent) => (event.dir === "" ? event.name : `${event.dir}/${event.name}`);

    // Inodes that appear under a new name in this batch turn a disappearance into a RENAME.
    const appeared = new Set<string>();
    for (const event of batch) {
      if (event.kind !== "rename") continue;
      const info = statOf(relOf(event));
      const known = dirs.get(event.dir)?.children.get(event.name);
      if (!info) continue;
      const id = inodeKey(info);
      if (known?.id !== id) appeared.add(id);
    }

    const emitted = new Set<string>();
    for (const event of batch) {
      const parent = dirs.get(event.dir);
      if (!parent) continue;
      const rel = relOf(event);
      const known = parent.children.get(event.name);
      const info = statOf(rel);
      const now = info ? snapshotOf(info) : undefined;

      if (event.kind === "rename") {
        if (now && known?.id !== now.id) {
          if (known?.isDir) unwatchTree(rel);
          parent.children.set(event.name, now);
          emit(rel, EventType.CREATE);
          if (options.recursive && now.isDir) watchTree(rel, true);
        } else if (!now && known) {
          parent.children.delete(event.name);
          if (known.isDir) unwatchTree(rel);
          emit(rel, appeared.has(known.id) ? EventType.RENAME : EventType.REMOVE);
        } else if (now && known && known.birthNs !== 0n && now.birthNs !== known.birthNs) {
          // Deleted and recreated within one batch, and the filesystem reused the inode number.
          parent.children.set(event.name, now);
          if (known.isDir) unwatchTree(rel);
          emit(rel, EventType.REMOVE);
          emit(rel, EventType.CREATE);
          if (options.recursive && now.isDir) watchTree(rel, true);
        }
        continue;
      }

      if (!now) continue;
      if (!known || known.id !== now.id) {
        // A change for a name the watcher never saw appear: treat it as the appearance.
        parent.children.set(event.name, now);
        if (known?.isDir) unwatchTree(rel);
        emit(rel, EventType.CREATE);
        if (options.recursive && now.isDir) watchTree(rel, true);
        continue;
      }
      parent.children.set(event.name, now);
      const chmod = known.mode !== now.mode || known.uid !== now.uid || known.gid !== now.gid;
      const write = known.size !== now.size || known.mtimeNs !== now.mtimeNs;
      if (chmod || (!write && known.ctimeNs !== now.ctimeNs)) {
        emit(rel, EventType.CHMOD);
        emitted.add(rel);
      }
      if (write) {
        emit(rel, EventType.WRITE);
        emitted.add(rel);
      }
      if (!chmod && !write && known.ctimeNs === now.ctimeNs && !emitted.has(rel)) {
        // A real modify within one timestamp tick changes nothing lstat can see. A regular
        // file's event is then most likely a same-size write; the watched directory's own
        // events carry its base name and must not be mistaken for a child.
        if (now.isFile && event.name !== basename(absolute(event.dir))) {
          emit(rel, EventType.WRITE);
          emitted.add(rel);
        }
      }
    }
  };

  function close() {
    if (closed) return;
    closed = true;
    for (const watched of dirs.values()) watched.watcher.close();
    dirs.clear();
    queue = [];
  }

  watchTree("", false);
  // Only the number: a change made meanwhile still shows as the event it brings.
  function renumber() {
    for (const [rel, watched] of dirs) {
      for (const [name, known] of watched.children) {
        const info = lstatOrUndefined(join(absolute(rel), name));
        if (info) known.id = inodeKey(info);
      }
    }
  }

  return { renumber, close };
}
