import type { processPb } from "@sandpit/protocol";
import { SandpitError } from "@sandpit/protocol";
import type { ManagedProcess } from "./managed-process.js";
import type { ProcessRegistry } from "./process-registry.js";

/** Delivers one ProcessInput: stdin bytes to a pipe, pty bytes to a terminal. */
export function deliverInput(proc: ManagedProcess, input: processPb.ProcessInput | undefined): void {
  const value = input?.input;
  switch (value?.case) {
    case "stdin":
      proc.writeStdin(value.value);
      return;
    case "pty":
      proc.writePty(value.value);
      return;
    default:
      throw new SandpitError("unimplemented", "input must be stdin or pty");
  }
}

/** SendInput: one chunk of input to a live process. */
export function createSendInputHandler(registry: ProcessRegistry) {
  return function sendInput(req: processPb.SendInputRequest): Record<string, never> {
    deliverInput(registry.live(req.process), req.input);
    return {};
  };
}
