import { readFileSync } from "node:fs";

/** Where benchmarks keep sandbox state between runs. */
export const BENCH_DATA_DIR = process.env.SANDPIT_BENCH_DIR ?? "/var/lib/sandpit/bench";

/** One metric of a benchmark, in the shape `--json` prints. */
export interface Metric {
  median_ms?: number;
  p99_ms?: number;
  mib_per_s?: number;
  /** The raw figure of the same work, measured in the same run. */
  baseline: number;
  /** median / baseline for times; baseline / figure for throughputs: lower is better either way. */
  ratio: number;
  samples: number;
  note?: string;
}

/** A benchmark: runs, logs progress, returns its metrics by name. */
export type Benchmark = (io: { log: (line: string) => void }) => Promise<Record<string, Metric>>;

/** Median of samples. */
export function median(samples: readonly number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** The given percentile (0-100) of samples, nearest rank. */
export function percentile(samples: readonly number[], p: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? 0;
}

/** A time metric from our samples and the baseline's. */
export function timeMetric(ours: number[], baseline: number[], note?: string): Metric {
  const m = median(ours);
  const b = median(baseline);
  return {
    median_ms: m,
    p99_ms: percentile(ours, 99),
    baseline: b,
    ratio: m / b,
    samples: ours.length,
    note,
  };
}

/** Busy and total CPU time of the host so far, in clock ticks, from /proc/stat's first line. */
function hostCpuTicks(): { busy: number; total: number } {
  const fields =
    readFileSync("/proc/stat", "utf8").split("\n")[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const total = fields.reduce((sum, n) => sum + n, 0);
  // idle and iowait
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * Waits until the host's CPUs were at most `busyShare` busy over a 100 ms window (or `maxMs`
 * passed): work a previous step left running in the background, such as a pooled sandbox's
 * start-up, is not measured as part of the next sample.
 */
export async function quietHost(busyShare = 0.15, maxMs = 3000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let before = hostCpuTicks();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const now = hostCpuTicks();
    const total = now.total - before.total;
    if (total > 0 && (now.busy - before.busy) / total <= busyShare) return;
    before = now;
  }
}
