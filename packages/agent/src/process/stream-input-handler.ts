import type { processPb } from "@sandpit/protocol";
import { SandpitError } from "@sandpit/protocol";
import type { ManagedProcess } from "./managed-process.js";
import type { ProcessRegistry } from "./process-registry.js";
import { deliverInput } from "./send-input-handler.js";

/** StreamInput: a `start` naming the process, then ordered `data` chunks; keepalives ignored. */
export function createStreamInputHandler(registry: ProcessRegistry) {
  return async function streamInput(
    requests: AsyncIterable<processPb.StreamInputRequest>,
  ): Promise<Record<string, never>> {
    let proc: ManagedProcess | undefined;
    for await (const req of requests) {
      const event = req.event;
      if (event.case === "start") {
        proc = registry.live(event.value.process);
      } else if (event.case === "data") {
        if (!proc) throw new SandpitError("invalid_argument", "stream input must begin with a start event");
        deliverInput(proc, event.value.input);
      }
    }
    return {};
  };
}
