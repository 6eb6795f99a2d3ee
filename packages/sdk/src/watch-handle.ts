// Watching a directory: either a live WatchDir stream feeding a callback, or a watcher kept by the
// agent that is polled with GetWatcherEvents (CreateWatcher; spec §6.6). Both offer getNewEvents().
import { filesystemPb } from "@sandpit/protocol";
import { type EntryInfo, entryInfoOf } from "./files/entry-info.js";

/** Kinds of filesystem events. */
export const FilesystemEventType = {
  CHMOD: "chmod",
  CREATE: "create",
  REMOVE: "remove",
  RENAME: "rename",
  WRITE: "write",
} as const;
/** Kind of a filesystem event. */
export type FilesystemEventType = (typeof FilesystemEventType)[keyof typeof FilesystemEventType];

/** One change in a watched directory. */
export interface FilesystemEvent {
  /** Path relative to the watched directory. */
  name: string;
  /** What happened. */
  type: FilesystemEventType;
  /** The entry, when the watch asked for entries and it could be stat-ed. */
  entry?: EntryInfo;
}

/** A running directory watch. */
export interface WatchHandle {
  /** Stops watching. */
  stop(): Promise<void>;
  /** Events since the last call (and since the start for the first), oldest first. */
  getNewEvents(): Promise<FilesystemEvent[]>;
}

/** The SDK's event of a wire event; undefined for kinds it does not know. */
export function filesystemEventOf(event: filesystemPb.FilesystemEvent): FilesystemEvent | undefined {
  const type = EVENT_TYPES[event.type];
  if (!type) return undefined;
  return { name: event.name, type, ...(event.entry && { entry: entryInfoOf(event.entry) }) };
}

const EVENT_TYPES: Partial<Record<filesystemPb.EventType, FilesystemEventType>> = {
  [filesystemPb.EventType.CHMOD]: "chmod",
  [filesystemPb.EventType.CREATE]: "create",
  [filesystemPb.EventType.REMOVE]: "remove",
  [filesystemPb.EventType.RENAME]: "rename",
  [filesystemPb.EventType.WRITE]: "write",
};

/** What a stream-backed handle needs. */
export interface StreamWatchParams {
  /** The WatchDir stream after its start event. */
  events: AsyncIterator<filesystemPb.WatchDirResponse>;
  cleanup: () => void;
  mapError: (err: unknown) => Promise<Error>;
  onEvent?: ((event: FilesystemEvent) => void | Promise<void>) | undefined;
  onExit?: ((err?: Error) => void | Promise<void>) | undefined;
}

/** A handle over a live WatchDir stream; events also queue up for getNewEvents(). */
export function createStreamWatchHandle(params: StreamWatchParams): WatchHandle {
  let pending: FilesystemEvent[] = [];
  let stopped = false;
  const pump = async () => {
    let failure: Error | undefined;
    try {
      for (;;) {
        const next = await params.events.next();
        if (next.done) break;
        if (next.value.event.case !== "filesystem") continue;
        const event = filesystemEventOf(next.value.event.value);
        if (!event) continue;
        pending.push(event);
        await params.onEvent?.(event);
      }
    } catch (err) {
      // A stop() aborts the stream on purpose; that is a clean end.
      if (!stopped) failure = await params.mapError(err);
    }
    try {
      await params.onExit?.(failure);
    } catch {
      // onExit is the last callback: what it throws has nowhere to go.
    } finally {
      params.cleanup();
    }
  };
  void pump();
  return {
    async stop() {
      stopped = true;
      params.cleanup();
    },
    async getNewEvents() {
      const out = pending;
      pending = [];
      return out;
    },
  };
}

/** What a polled handle needs: the agent's watcher RPCs bound to one watcher id. */
export interface PolledWatchParams {
  getEvents: () => Promise<filesystemPb.FilesystemEvent[]>;
  remove: () => Promise<void>;
}

/** A handle over a watcher the agent keeps (CreateWatcher); each getNewEvents() drains it. */
export function createPolledWatchHandle(params: PolledWatchParams): WatchHandle {
  let stopped = false;
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      await params.remove();
    },
    async getNewEvents() {
      if (stopped) return [];
      const events = await params.getEvents();
      return events.map(filesystemEventOf).filter((e): e is FilesystemEvent => e !== undefined);
    },
  };
}
