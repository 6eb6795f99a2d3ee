import type { ConnectRouter } from "@connectrpc/connect";
import { processPb } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { createCloseStdinHandler } from "./close-stdin-handler.js";
import { createConnectHandler } from "./connect-handler.js";
import { createListHandler } from "./list-handler.js";
import type { ProcessLauncher } from "./process-launcher.js";
import type { ProcessRegistry } from "./process-registry.js";
import type { ReadyShells } from "./ready-shell.js";
import { createSendInputHandler } from "./send-input-handler.js";
import { createSendSignalHandler } from "./send-signal-handler.js";
import { createStartHandler } from "./start-handler.js";
import { createStreamInputHandler } from "./stream-input-handler.js";
import { createUpdateHandler } from "./update-handler.js";

/** Registers `process.Process` (spec §6.3, §6.4) on a Connect router. */
export function registerProcessService(
  router: ConnectRouter,
  ctx: AgentContext,
  registry: ProcessRegistry,
  launcher: () => ProcessLauncher | undefined,
  readyShells: ReadyShells,
): void {
  router.service(processPb.Process, {
    list: createListHandler(registry),
    connect: createConnectHandler(registry),
    start: createStartHandler(ctx, registry, launcher, readyShells),
    update: createUpdateHandler(registry),
    streamInput: createStreamInputHandler(registry),
    sendInput: createSendInputHandler(registry),
    sendSignal: createSendSignalHandler(registry),
    closeStdin: createCloseStdinHandler(registry),
  });
}
