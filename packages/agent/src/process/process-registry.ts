import type { processPb } from "@sandpit/protocol";
import { SandpitError } from "@sandpit/protocol";
import type { ManagedProcess } from "./managed-process.js";

/** The processes an agent started: live ones, plus recently ended ones for late Connects. */
export interface ProcessRegistry {
  /** Tracks a freshly spawned process until it ends. */
  add(proc: ManagedProcess): void;
  /** A live process by selector; not_found otherwise (spec §6.4). */
  live(selector: processPb.ProcessSelector | undefined): ManagedProcess;
  /** A live or recently ended process, for Connect. */
  connectable(selector: processPb.ProcessSelector | undefined): ManagedProcess;
  /** Every live process, oldest first. */
  list(): ManagedProcess[];
  /** SIGKILLs every live process; for shutting the agent down. */
  killAll(): void;
}

/** How long an ended process still answers Connect with its `end` event. */
const keepEndedMs = 60_000;
const keepEndedMax = 256;

function describe(selector: processPb.ProcessSelector | undefined): string {
  const s = selector?.selector;
  if (s?.case === "pid") return `process with pid ${s.value}`;
  if (s?.case === "tag") return `process with tag '${s.value}'`;
  throw new SandpitError("invalid_argument", "a process selector (pid or tag) is required");
}

function find(
  procs: Iterable<ManagedProcess>,
  selector: processPb.ProcessSelector | undefined,
): ManagedProcess | undefined {
  const s = selector?.selector;
  for (const proc of procs) {
    if (s?.case === "pid" && proc.pid === s.value) return proc;
    if (s?.case === "tag" && proc.tag === s.value) return proc;
  }
  return undefined;
}

/** Creates an empty registry. */
export function createProcessRegistry(): ProcessRegistry {
  const running = new Map<number, ManagedProcess>();
  const ended = new Map<number, { proc: ManagedProcess; until: number }>();

  const prune = () => {
    const now = Date.now();
    for (const [pid, entry] of ended) {
      if (entry.until > now && ended.size <= keepEndedMax) break;
      ended.delete(pid);
    }
  };

  return {
    add(proc) {
      running.set(proc.pid, proc);
      proc.onEnd(() => {
        if (running.get(proc.pid) === proc) running.delete(proc.pid);
        ended.delete(proc.pid);
        ended.set(proc.pid, { proc, until: Date.now() + keepEndedMs });
        prune();
      });
    },
    live(selector) {
      const label = describe(selector);
      const proc = find(running.values(), selector);
      if (!proc) throw new SandpitError("not_found", `${label} not found`);
      return proc;
    },
    connectable(selector) {
      const label = describe(selector);
      prune();
      const proc =
        find(running.values(), selector) ?? find([...ended.values()].map((e) => e.proc).reverse(), selector);
      if (!proc) throw new SandpitError("not_found", `${label} not found`);
      return proc;
    },
    list() {
      return [...running.values()];
    },
    killAll() {
      for (const proc of running.values()) {
        try {
          proc.signal("SIGKILL");
        } catch {
          // Already gone.
        }
      }
    },
  };
}
