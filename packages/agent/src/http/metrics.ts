import { readFile, statfs } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { HttpResponse } from "./http-types.js";
import { sendError, sendJson } from "./send-json.js";

/** The body of `GET /metrics` (spec §5.5); sizes in bytes. */
export interface AgentMetrics {
  ts: number;
  cpu_count: number;
  cpu_used_pct: number;
  mem_total_mib: number;
  mem_used_mib: number;
  mem_total: number;
  mem_used: number;
  mem_cache: number;
  disk_used: number;
  disk_total: number;
}

interface CpuSample {
  busy: number;
  total: number;
}

/** Where the sampler reads from; tests point it at fixtures. */
export interface MetricsSources {
  procStat: string;
  procMeminfo: string;
  diskPath: string;
}

const defaultSources: MetricsSources = {
  procStat: "/proc/stat",
  procMeminfo: "/proc/meminfo",
  diskPath: "/",
};

async function readCpu(path: string): Promise<CpuSample> {
  const line = (await readFile(path, "utf8")).split("\n").find((l) => l.startsWith("cpu "));
  const fields = (line ?? "").trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal; guest time is already inside user.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const idleAll = idle + iowait;
  const total = user + nice + system + idleAll + irq + softirq + steal;
  return { busy: total - idleAll, total };
}

async function readMemory(path: string): Promise<{ total: number; used: number; cache: number }> {
  const kib = new Map<string, number>();
  for (const line of (await readFile(path, "utf8")).split("\n")) {
    const match = /^(\w+):\s+(\d+)/.exec(line);
    if (match?.[1] && match[2]) kib.set(match[1], Number(match[2]) * 1024);
  }
  const total = kib.get("MemTotal") ?? 0;
  const available = kib.get("MemAvailable") ?? (kib.get("MemFree") ?? 0) + (kib.get("Cached") ?? 0);
  return { total, used: Math.max(0, total - available), cache: kib.get("Cached") ?? 0 };
}

/** Samples the sandbox's CPU, memory and root-disk use; CPU is the delta since the last call. */
export interface MetricsSampler {
  sample(): Promise<AgentMetrics>;
}

/** Creates a sampler; the first sample measures CPU over a short 100 ms window. */
export function createMetricsSampler(sources: MetricsSources = defaultSources): MetricsSampler {
  let previous: CpuSample | undefined;
  return {
    async sample() {
      if (!previous) {
        previous = await readCpu(sources.procStat);
        await sleep(100);
      }
      const [cpu, memory, disk] = await Promise.all([
        readCpu(sources.procStat),
        readMemory(sources.procMeminfo),
        statfs(sources.diskPath),
      ]);
      const dTotal = cpu.total - previous.total;
      const dBusy = cpu.busy - previous.busy;
      previous = cpu;
      const pct = dTotal > 0 ? Math.min(100, Math.max(0, (dBusy / dTotal) * 100)) : 0;
      const diskTotal = disk.blocks * disk.bsize;
      const mib = 1024 * 1024;
      return {
        ts: Math.floor(Date.now() / 1000),
        cpu_count: availableParallelism(),
        cpu_used_pct: Math.round(pct * 100) / 100,
        mem_total_mib: Math.floor(memory.total / mib),
        mem_used_mib: Math.floor(memory.used / mib),
        mem_total: memory.total,
        mem_used: memory.used,
        mem_cache: memory.cache,
        disk_used: diskTotal - disk.bavail * disk.bsize,
        disk_total: diskTotal,
      };
    },
  };
}

/** `GET /metrics`. */
export async function handleMetrics(sampler: MetricsSampler, res: HttpResponse): Promise<void> {
  try {
    sendJson(res, 200, await sampler.sample());
  } catch (error) {
    sendError(res, 500, `error reading metrics: ${(error as Error).message}`);
  }
}
