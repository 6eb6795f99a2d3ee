import { existsSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const CGROUP_ROOT = "/sys/fs/cgroup";

/** The cgroup path (relative to each hierarchy's root) the OCI runtime puts a sandbox in. */
export function cgroupPath(prefix: string, id: string): string {
  return `/${prefix}/${id}`;
}

/** Each mounted hierarchy's directory for `path` (cgroup v1 has one per controller). */
function hierarchies(path: string): string[] {
  let names: string[];
  try {
    names = readdirSync(CGROUP_ROOT);
  } catch {
    return [];
  }
  return names.map((n) => join(CGROUP_ROOT, n, path)).filter((d) => existsSync(d));
}

function readNumber(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, "utf8").trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Usage a sandbox's cgroup reports. */
export interface CgroupUsage {
  cpuUsageNs: number;
  memoryBytes: number;
  memoryLimitBytes: number;
  pids: number;
}

/** Reads CPU, memory (without reclaimable page cache, as `docker stats` does) and pid counts. */
export function cgroupUsage(path: string): CgroupUsage {
  const memDir = join(CGROUP_ROOT, "memory", path);
  let inactiveFile = 0;
  try {
    const stat = readFileSync(join(memDir, "memory.stat"), "utf8");
    inactiveFile = Number(/^total_inactive_file (\d+)$/m.exec(stat)?.[1] ?? 0);
  } catch {
    // no memory controller
  }
  const usage = readNumber(join(memDir, "memory.usage_in_bytes")) ?? 0;
  return {
    cpuUsageNs: readNumber(join(CGROUP_ROOT, "cpuacct", path, "cpuacct.usage")) ?? 0,
    memoryBytes: Math.max(0, usage - inactiveFile),
    memoryLimitBytes: readNumber(join(memDir, "memory.limit_in_bytes")) ?? 0,
    pids: readNumber(join(CGROUP_ROOT, "pids", path, "pids.current")) ?? 0,
  };
}

/** Ids of sandboxes that have a cgroup under the prefix in any hierarchy. */
export function cgroupIds(prefix: string): Set<string> {
  const ids = new Set<string>();
  for (const dir of hierarchies(`/${prefix}`)) {
    for (const entry of readdirSync(dir, { withFileTypes: true }))
      if (entry.isDirectory()) ids.add(entry.name);
  }
  return ids;
}

/** Whether any process is still in the cgroup. */
function hasProcesses(dir: string): boolean {
  try {
    return readFileSync(join(dir, "cgroup.procs"), "utf8").trim() !== "";
  } catch {
    return false;
  }
}

/**
 * Kills whatever is left in a sandbox's cgroups and removes them. A frozen cgroup is thawed
 * first, or its processes could not die.
 */
export async function removeCgroup(path: string): Promise<void> {
  const dirs = hierarchies(path);
  for (const dir of dirs) {
    if (existsSync(join(dir, "freezer.state"))) {
      try {
        writeFileSync(join(dir, "freezer.state"), "THAWED");
      } catch {
        // not frozen or already gone
      }
    }
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    let busy = false;
    for (const dir of dirs) {
      for (const pid of safeRead(join(dir, "cgroup.procs")).split("\n").filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // already gone
        }
      }
      if (hasProcesses(dir)) busy = true;
    }
    if (!busy) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const dir of dirs) {
    try {
      rmdirSync(dir);
    } catch {
      // removed by the runtime meanwhile, or still busy: the janitor retries later
    }
  }
}

/**
 * Freezes (or thaws) every process of a sandbox through the cgroup v1 freezer, without
 * starting a process; false when the sandbox has no freezer cgroup.
 */
export async function setFrozen(path: string, frozen: boolean): Promise<boolean> {
  const file = join(CGROUP_ROOT, "freezer", path, "freezer.state");
  if (!existsSync(file)) return false;
  const wanted = frozen ? "FROZEN" : "THAWED";
  writeFileSync(file, wanted);
  // Freezing is asynchronous (FREEZING until every task stopped); thawing is immediate.
  for (let i = 0; safeRead(file).trim() !== wanted; i++) {
    if (i >= 500) throw new Error(`the freezer of ${path} did not reach ${wanted}`);
    if (i % 50 === 49) writeFileSync(file, wanted);
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** Removes the prefix's parent cgroups once no sandbox is left under them. */
export function removePrefixCgroups(prefix: string): void {
  for (const dir of hierarchies(`/${prefix}`)) {
    try {
      rmdirSync(dir);
    } catch {
      // a sandbox still lives under it
    }
  }
}
