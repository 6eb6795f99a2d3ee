import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { INSIDE_LIMIT_ENV } from "@sandpit/protocol";

/** The env var through which the runtime hands the sandbox's memory budget to the agent. */
export const MEMORY_LIMIT_ENV = INSIDE_LIMIT_ENV.memory;

/** One process as the guard sees it. */
export interface ProcessSample {
  pid: number;
  ppid: number;
  rssBytes: number;
  /** The executable, where it could be read. */
  exe?: string;
}

/** Options of {@link startMemoryGuard}. */
export interface MemoryGuardOptions {
  /** Above this many bytes in use, the largest command dies. */
  limitBytes: number;
  /** Bytes in use by the sandbox's processes. */
  readUsage?: () => number;
  listProcesses?: () => ProcessSample[];
  kill?: (pid: number) => void;
  /** Processes never chosen: init and the agent. */
  protectedPids?: readonly number[];
  /**
   * Executables of the agent's helpers that start commands (the launcher): never chosen, and
   * each command under them counts on its own.
   */
  helperExecutables?: readonly string[];
  onKill?: (victim: { pid: number; rssBytes: number; usageBytes: number; killed: number }) => void;
}

/** A running guard. */
export interface MemoryGuard {
  stop(): void;
}

/**
 * An out-of-memory killer inside the sandbox, for runtimes whose host limit takes the whole
 * sandbox down instead of one process (under gVisor the host OOM killer can only kill the
 * sentry). Below its budget it costs one read of the sandbox's own memory cgroup every
 * 200 ms; near it, every 10 ms. Over it, the command (with everything it started) holding
 * the most memory is killed, as the kernel's OOM killer would kill one process under runc.
 */
export function startMemoryGuard(options: MemoryGuardOptions): MemoryGuard {
  const limit = options.limitBytes;
  const readUsage = options.readUsage ?? readCgroupUsage;
  const listProcesses = options.listProcesses ?? readProcesses;
  const kill = options.kill ?? ((pid: number) => process.kill(pid, "SIGKILL"));
  const spared = new Set([1, process.pid, ...(options.protectedPids ?? [])]);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const check = () => {
    if (stopped) return;
    let usage: number;
    try {
      usage = readUsage();
    } catch {
      schedule(1000);
      return;
    }
    if (usage < limit) {
      schedule(usage < limit / 2 ? 200 : usage < limit * 0.8 ? 50 : 10);
      return;
    }
    const processes = listProcesses();
    const helpers = new Set(options.helperExecutables ?? []);
    const sparedNow = new Set(spared);
    for (const p of processes) if (p.exe !== undefined && helpers.has(p.exe)) sparedNow.add(p.pid);
    const victim = largestCommand(processes, sparedNow);
    if (victim) {
      let killed = 0;
      for (const pid of victim.pids) {
        try {
          kill(pid);
          killed++;
        } catch {
          // Gone already.
        }
      }
      options.onKill?.({ pid: victim.pid, rssBytes: victim.rssBytes, usageBytes: usage, killed });
    }
    // Give the sandbox's kernel a moment to free what the victim held before judging again.
    schedule(50);
  };
  const schedule = (ms: number) => {
    timer = setTimeout(check, ms);
    // Never the reason the agent stays alive.
    timer.unref();
  };
  schedule(0);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * The command holding the most memory: processes are grouped under their topmost ancestor
 * below init or the agent (a command the agent started, or a daemon left to init), so a fork
 * bomb or a build's many workers die together.
 */
export function largestCommand(
  processes: readonly ProcessSample[],
  spared: ReadonlySet<number>,
): { pid: number; rssBytes: number; pids: number[] } | undefined {
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const rootOf = (p: ProcessSample): number => {
    let current = p;
    // Bounded walk: a pid table read while processes come and go may hold a cycle.
    for (let depth = 0; depth < 4096; depth++) {
      const parent = byPid.get(current.ppid);
      if (!parent || spared.has(parent.pid)) return current.pid;
      current = parent;
    }
    return current.pid;
  };
  const groups = new Map<number, { rssBytes: number; pids: number[] }>();
  for (const p of processes) {
    if (spared.has(p.pid)) continue;
    const root = rootOf(p);
    const group = groups.get(root) ?? { rssBytes: 0, pids: [] };
    group.rssBytes += p.rssBytes;
    group.pids.push(p.pid);
    groups.set(root, group);
  }
  let best: { pid: number; rssBytes: number; pids: number[] } | undefined;
  for (const [pid, g] of groups) if (!best || g.rssBytes > best.rssBytes) best = { pid, ...g };
  // The command first, so it cannot start more while its children die.
  if (best) best.pids = [best.pid, ...best.pids.filter((p) => p !== best?.pid)];
  return best;
}

function readCgroupUsage(): number {
  return Number(readFileSync("/sys/fs/cgroup/memory/memory.usage_in_bytes", "utf8"));
}

const PAGE = 4096;

function readProcesses(): ProcessSample[] {
  const out: ProcessSample[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(join("/proc", name, "stat"), "utf8");
      // Fields after the command name, which may itself hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const statm = readFileSync(join("/proc", name, "statm"), "utf8").split(" ");
      let exe: string | undefined;
      try {
        exe = readlinkSync(join("/proc", name, "exe"));
      } catch {
        // Another user's process may hide it; it is then simply no helper.
      }
      out.push({ pid: Number(name), ppid: Number(fields[1]), rssBytes: Number(statm[1]) * PAGE, exe });
    } catch {
      // Exited while we looked.
    }
  }
  return out;
}

/**
 * The guard the runtime asked for, as a function that starts it, or undefined; read at once so
 * the variable is not passed on to commands.
 */
export function memoryGuardFromEnv(
  env: NodeJS.ProcessEnv,
  options: Pick<MemoryGuardOptions, "onKill" | "helperExecutables">,
): (() => MemoryGuard) | undefined {
  const wanted = env[MEMORY_LIMIT_ENV];
  delete env[MEMORY_LIMIT_ENV];
  if (!wanted || !/^[1-9][0-9]*$/.test(wanted)) return undefined;
  try {
    readCgroupUsage();
  } catch {
    return undefined;
  }
  return () => startMemoryGuard({ limitBytes: Number(wanted), ...options });
}
