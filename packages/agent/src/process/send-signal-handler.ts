import { processPb, SandpitError } from "@sandpit/protocol";
import type { AllowedSignal } from "./managed-process.js";
import type { ProcessRegistry } from "./process-registry.js";

function allowedSignal(signal: processPb.Signal): AllowedSignal {
  if (signal === processPb.Signal.SIGTERM) return "SIGTERM";
  if (signal === processPb.Signal.SIGKILL) return "SIGKILL";
  throw new SandpitError("unimplemented", `signal ${signal} is not supported, only SIGTERM and SIGKILL`);
}

/** SendSignal: SIGTERM or SIGKILL to a live process; its end event follows. */
export function createSendSignalHandler(registry: ProcessRegistry) {
  return function sendSignal(req: processPb.SendSignalRequest): Record<string, never> {
    const proc = registry.live(req.process);
    proc.signal(allowedSignal(req.signal));
    return {};
  };
}
