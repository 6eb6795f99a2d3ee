import type { MessageInitShape } from "@bufbuild/protobuf";
import type { processPb } from "@sandpit/protocol";
import type { ProcessRegistry } from "./process-registry.js";

/** List: every live process with the config it was started with. */
export function createListHandler(registry: ProcessRegistry) {
  return function list(): MessageInitShape<typeof processPb.ListResponseSchema> {
    return {
      processes: registry.list().map((proc) => ({ config: proc.config, pid: proc.pid, tag: proc.tag })),
    };
  };
}
