import type { processPb } from "@sandpit/protocol";
import type { ProcessRegistry } from "./process-registry.js";

/** CloseStdin: EOF on a pipe process's stdin; closing twice is fine (spec §6.4). */
export function createCloseStdinHandler(registry: ProcessRegistry) {
  return function closeStdin(req: processPb.CloseStdinRequest): Record<string, never> {
    registry.live(req.process).closeStdin();
    return {};
  };
}
