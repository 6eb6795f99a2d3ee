import { randomBytes } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { type filesystemPb, SandpitError } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { type DirectoryWatcher, type WatchEvent, watchDirectory } from "./directory-watcher.js";
import { createOwnerNames } from "./owner-names.js";
import { resolveWatchTarget } from "./watch-target.js";

type CreateWatcherResponseInit = MessageInitShape<typeof filesystemPb.CreateWatcherResponseSchema>;
type GetWatcherEventsResponseInit = MessageInitShape<typeof filesystemPb.GetWatcherEventsResponseSchema>;

// A client that stops polling must not grow the agent without bound.
const maxBufferedEvents = 100_000;

interface PolledWatcher {
  watcher: DirectoryWatcher;
  events: WatchEvent[];
  error: SandpitError | undefined;
}

/** The polling watchers of one agent (CreateWatcher/GetWatcherEvents/RemoveWatcher). */
export interface WatcherRegistry {
  /** Stops every watcher, for agent shutdown. */
  closeAll(): void;
  /** Has every watcher read its entries' inode numbers again (after a restore). */
  renumberAll(): void;
  /** Number of live watchers. */
  readonly size: number;
}

/** Internal form of the registry the three handlers share. */
interface Registry extends WatcherRegistry {
  watchers: Map<string, PolledWatcher>;
}

/** Creates an empty registry. */
export function createWatcherRegistry(): WatcherRegistry {
  const watchers = new Map<string, PolledWatcher>();
  const registry: Registry = {
    watchers,
    closeAll() {
      for (const polled of watchers.values()) polled.watcher.close();
      watchers.clear();
    },
    renumberAll() {
      for (const polled of watchers.values()) polled.watcher.renumber();
    },
    get size() {
      return watchers.size;
    },
  };
  return registry;
}

function lookup(registry: WatcherRegistry, id: string): PolledWatcher {
  const polled = (registry as Registry).watchers.get(id);
  if (!polled) throw new SandpitError("not_found", `watcher with id ${id} not found`);
  return polled;
}

/**
 * CreateWatcher: same validation as WatchDir; the watcher buffers events, independent of the
 * request, until drained or removed.
 */
export async function createWatcher(
  ctx: AgentContext,
  registry: WatcherRegistry,
  req: filesystemPb.CreateWatcherRequest,
  context: HandlerContext,
): Promise<CreateWatcherResponseInit> {
  const path = await resolveWatchTarget(ctx, req, context.requestHeader);
  const id = `w${randomBytes(10).toString("hex")}`;
  const polled: PolledWatcher = { watcher: { renumber() {}, close() {} }, events: [], error: undefined };
  try {
    polled.watcher = watchDirectory(path, {
      recursive: req.recursive,
      includeEntry: req.includeEntry,
      names: createOwnerNames(ctx.users),
      fileMetadata: ctx.fileMetadata,
      onEvent(event) {
        if (polled.events.length >= maxBufferedEvents) {
          polled.error ??= new SandpitError(
            "resource_exhausted",
            "watcher event buffer is full; poll more often",
          );
          polled.watcher.close();
          return;
        }
        polled.events.push(event);
      },
      onError(error) {
        polled.error ??= new SandpitError("internal", `watcher error: ${error.message}`);
      },
    });
  } catch (error) {
    throw new SandpitError("internal", `error adding path ${path} to watcher: ${(error as Error).message}`);
  }
  (registry as Registry).watchers.set(id, polled);
  return { watcherId: id };
}

/** GetWatcherEvents: returns and clears the buffered events; a broken watcher answers its error. */
export function getWatcherEvents(
  registry: WatcherRegistry,
  req: filesystemPb.GetWatcherEventsRequest,
): GetWatcherEventsResponseInit {
  const polled = lookup(registry, req.watcherId);
  if (polled.error) throw polled.error;
  const events = polled.events;
  polled.events = [];
  return { events };
}

/** RemoveWatcher: stops and forgets a watcher. */
export function removeWatcher(registry: WatcherRegistry, req: filesystemPb.RemoveWatcherRequest): void {
  const polled = lookup(registry, req.watcherId);
  polled.watcher.close();
  (registry as Registry).watchers.delete(req.watcherId);
}
