import type { ConnectRouter } from "@connectrpc/connect";
import { filesystemPb } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { listDir } from "./list-dir.js";
import { makeDir } from "./make-dir.js";
import { move } from "./move.js";
import { remove } from "./remove.js";
import { stat } from "./stat.js";
import { watchDir } from "./watch-dir.js";
import {
  createWatcher,
  createWatcherRegistry,
  getWatcherEvents,
  removeWatcher,
  type WatcherRegistry,
} from "./watchers.js";

/**
 * Registers `filesystem.Filesystem` (spec §6.5–6.6) on a Connect router. Handlers throw
 * SandpitError; the agent's error interceptor turns it into a ConnectError. Returns the
 * registry of polling watchers so the agent can close them on shutdown.
 */
export function registerFilesystemService(router: ConnectRouter, ctx: AgentContext): WatcherRegistry {
  const watchers = createWatcherRegistry();
  router.service(filesystemPb.Filesystem, {
    stat: (req, context) => stat(ctx, req, context),
    makeDir: (req, context) => makeDir(ctx, req, context),
    move: (req, context) => move(ctx, req, context),
    listDir: (req, context) => listDir(ctx, req, context),
    remove: async (req, context) => {
      await remove(ctx, req, context);
      return {};
    },
    watchDir: (req, context) => watchDir(ctx, req, context),
    createWatcher: (req, context) => createWatcher(ctx, watchers, req, context),
    getWatcherEvents: (req) => getWatcherEvents(watchers, req),
    removeWatcher: (req) => {
      removeWatcher(watchers, req);
      return {};
    },
  });
  return watchers;
}
