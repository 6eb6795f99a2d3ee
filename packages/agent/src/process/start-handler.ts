import type { HandlerContext } from "@connectrpc/connect";
import type { processPb } from "@sandpit/protocol";
import { SandpitError } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { rpcUser } from "../rpc-user.js";
import { ManagedProcess, type ProcessIo } from "./managed-process.js";
import { spawnPipeProcess } from "./pipe-process.js";
import {
  keepaliveMs,
  type ProcessEventResponse,
  processEventStream,
  subscribe,
} from "./process-event-stream.js";
import { prepareLaunch } from "./process-launch.js";
import type { ProcessLauncher } from "./process-launcher.js";
import type { ProcessRegistry } from "./process-registry.js";
import { spawnPtyProcess } from "./pty-process.js";
import type { ReadyShells } from "./ready-shell.js";

/** Start: spawns the process as the caller's user and streams its events (spec §6.4). */
export function createStartHandler(
  ctx: AgentContext,
  registry: ProcessRegistry,
  launcher: () => ProcessLauncher | undefined,
  readyShells: ReadyShells,
) {
  return async function* start(
    req: processPb.StartRequest,
    context: HandlerContext,
  ): AsyncGenerator<ProcessEventResponse> {
    if (!req.process) throw new SandpitError("invalid_argument", "process config is required");
    const user = await rpcUser(ctx, context.requestHeader);
    const launch = prepareLaunch(ctx, user, req.process);
    let io: ProcessIo;
    if (req.pty) {
      io = await spawnPtyProcess(launch, req.pty.size?.cols ?? 0, req.pty.size?.rows ?? 0);
    } else {
      // Absent means true: clients older than the field always had a stdin pipe.
      const stdin = req.stdin ?? true;
      io =
        (await readyShells.take(launch, req.process, stdin)) ??
        (await spawnPipeProcess(launch, stdin, launcher()));
    }
    const proc = new ManagedProcess(io, req.process, req.tag);
    registry.add(proc);
    // Connect-Timeout-Ms is the process's lifetime, not just this stream's.
    const lifetimeMs = context.timeoutMs();
    if (lifetimeMs !== undefined) proc.killAfter(lifetimeMs);
    const sub = subscribe(proc);
    yield* processEventStream(sub, context.signal, keepaliveMs(context.requestHeader));
  };
}
