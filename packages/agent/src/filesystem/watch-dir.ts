import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { type filesystemPb, SandpitError } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { type DirectoryWatcher, type WatchEvent, watchDirectory } from "./directory-watcher.js";
import { EventQueue, idle } from "./event-queue.js";
import { createOwnerNames } from "./owner-names.js";
import { resolveWatchTarget } from "./watch-target.js";

type WatchDirResponseInit = MessageInitShape<typeof filesystemPb.WatchDirResponseSchema>;

const defaultKeepaliveSeconds = 90;

/** The keepalive period a stream asked for with `Keepalive-Ping-Interval` (seconds), default 90 s. */
export function keepaliveIntervalMs(header: Headers): number {
  const raw = header.get("keepalive-ping-interval");
  const seconds = raw !== null && /^\d+$/.test(raw.trim()) ? Number(raw) : defaultKeepaliveSeconds;
  return (seconds > 0 ? seconds : defaultKeepaliveSeconds) * 1000;
}

/**
 * WatchDir (spec §6.6): validates, sends `start{}` at once, then filesystem events and
 * keepalives until the client leaves or `Connect-Timeout-Ms` passes (deadline_exceeded). The
 * watcher is closed on every way out, so a vanished client leaks nothing.
 */
export async function* watchDir(
  ctx: AgentContext,
  req: filesystemPb.WatchDirRequest,
  context: HandlerContext,
): AsyncGenerator<WatchDirResponseInit> {
  const path = await resolveWatchTarget(ctx, req, context.requestHeader);
  const queue = new EventQueue<WatchEvent>();
  let watcher: DirectoryWatcher;
  try {
    watcher = watchDirectory(path, {
      recursive: req.recursive,
      includeEntry: req.includeEntry,
      names: createOwnerNames(ctx.users),
      fileMetadata: ctx.fileMetadata,
      onEvent: (event) => queue.push(event),
      onError: (error) => queue.fail(new SandpitError("internal", `watcher error: ${error.message}`)),
    });
  } catch (error) {
    throw new SandpitError("internal", `error adding path ${path} to watcher: ${(error as Error).message}`);
  }
  const keepaliveMs = keepaliveIntervalMs(context.requestHeader);
  try {
    yield { event: { case: "start", value: {} } };
    for (;;) {
      const next = await queue.next(keepaliveMs, context.signal);
      if (next === idle) yield { event: { case: "keepalive", value: {} } };
      else yield { event: { case: "filesystem", value: next } };
    }
  } finally {
    watcher.close();
  }
}
