import type { HandlerContext } from "@connectrpc/connect";
import type { processPb } from "@sandpit/protocol";
import {
  keepaliveMs,
  type ProcessEventResponse,
  processEventStream,
  subscribe,
} from "./process-event-stream.js";
import type { ProcessRegistry } from "./process-registry.js";

/** Connect: re-attaches to a process's live events; an ended one answers start + end. */
export function createConnectHandler(registry: ProcessRegistry) {
  return async function* connect(
    req: processPb.ConnectRequest,
    context: HandlerContext,
  ): AsyncGenerator<ProcessEventResponse> {
    const sub = subscribe(registry.connectable(req.process));
    yield* processEventStream(sub, context.signal, keepaliveMs(context.requestHeader));
  };
}
