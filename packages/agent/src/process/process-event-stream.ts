import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { processPb } from "@sandpit/protocol";
import type { ManagedProcess } from "./managed-process.js";
import { OutputQueue } from "./output-queue.js";

/** A StartResponse or ConnectResponse: both carry just a ProcessEvent. */
export interface ProcessEventResponse {
  event: MessageInitShape<typeof processPb.ProcessEventSchema>;
}

/** Default keepalive period when the client sends no usable `Keepalive-Ping-Interval`. */
export const defaultKeepaliveMs = 90_000;

/** The keepalive period a streaming call asked for in seconds (spec §6.1). */
export function keepaliveMs(header: Headers): number {
  const value = header.get("keepalive-ping-interval");
  if (value === null || !/^\d+$/.test(value.trim())) return defaultKeepaliveMs;
  const seconds = Number(value.trim());
  return seconds > 0 ? seconds * 1000 : defaultKeepaliveMs;
}

/** A live subscription to a process, to be turned into a response stream. */
export interface ProcessSubscription {
  readonly proc: ManagedProcess;
  readonly queue: OutputQueue;
  readonly unsubscribe: () => void;
}

/** Subscribes right away, so no output between now and the first read is lost. */
export function subscribe(proc: ManagedProcess): ProcessSubscription {
  const queue = new OutputQueue(proc);
  return { proc, queue, unsubscribe: proc.subscribe(queue) };
}

/**
 * The events of a Start or Connect stream: `start`, live `data`, keepalives while idle and the
 * one `end` (spec §6.4). A client going away ends the stream but never the process.
 */
export async function* processEventStream(
  sub: ProcessSubscription,
  signal: AbortSignal,
  idleMs: number,
): AsyncGenerator<ProcessEventResponse> {
  try {
    yield { event: { event: { case: "start", value: { pid: sub.proc.pid } } } };
    for (;;) {
      const item = await sub.queue.take(idleMs, signal);
      if (item === "aborted") {
        // A deadline reaches the client as deadline_exceeded; after a disconnect nobody reads.
        throw signal.reason instanceof ConnectError
          ? signal.reason
          : new ConnectError("the client canceled the stream", Code.Canceled);
      }
      if (item === "idle") {
        yield { event: { event: { case: "keepalive", value: {} } } };
      } else if (item.kind === "data") {
        yield {
          event: { event: { case: "data", value: { output: { case: item.stream, value: item.chunk } } } },
        };
      } else {
        yield { event: { event: { case: "end", value: item.end } } };
        return;
      }
    }
  } finally {
    sub.unsubscribe();
  }
}
