import type { processPb } from "@sandpit/protocol";
import { SandpitError } from "@sandpit/protocol";
import type { ProcessRegistry } from "./process-registry.js";

/** Update: resizes a PTY process's terminal. */
export function createUpdateHandler(registry: ProcessRegistry) {
  return function update(req: processPb.UpdateRequest): Record<string, never> {
    const proc = registry.live(req.process);
    if (req.pty) {
      const cols = req.pty.size?.cols ?? 0;
      const rows = req.pty.size?.rows ?? 0;
      if (cols < 1 || rows < 1) throw new SandpitError("invalid_argument", "pty size must be at least 1x1");
      proc.resize(cols, rows);
    }
    return {};
  };
}
