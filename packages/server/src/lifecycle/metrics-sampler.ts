import type { SandboxDriver } from "@sandpit/runtime";
import type { Logger } from "pino";
import type { SandboxRecord, Store } from "../store/index.js";

/** Samples every running sandbox's usage into the store, for GET /sandboxes/{id}/metrics, and checks it still lives. */
export interface MetricsSampler {
  /** Takes one sample of this sandbox soon (a new sandbox should not wait a whole interval). */
  sampleSoon(id: string): void;
  close(): void;
}

/** Options of {@link createMetricsSampler}. */
export interface MetricsSamplerOptions {
  store: Store;
  driver: SandboxDriver;
  intervalMs: number;
  logger: Logger;
  /** A running sandbox whose runtime reads as stopped: its processes ended outside the server. */
  onDead?: (id: string) => void;
}

/** A sampler that reads the runtime's counters (cgroup, disk image) every interval. */
export function createMetricsSampler(options: MetricsSamplerOptions): MetricsSampler {
  const { store, driver, logger } = options;
  // CPU percent is a rate: it needs the previous reading of the same sandbox.
  const previous = new Map<string, { at: number; cpuNs: number }>();
  const soon = new Set<NodeJS.Timeout>();
  let ticking = false;

  async function sample(record: SandboxRecord): Promise<void> {
    const stats = await driver.stats(record.runtimeId);
    const at = Date.now();
    const last = previous.get(record.id);
    previous.set(record.id, { at, cpuNs: stats.cpuUsageNs });
    const cpuUsedPct =
      last && at > last.at
        ? Math.min(
            100,
            Math.max(0, ((stats.cpuUsageNs - last.cpuNs) / 1e6 / (at - last.at) / stats.cpuCount) * 100),
          )
        : 0;
    await store.addMetricSample(record.id, {
      timestamp: at,
      cpuCount: stats.cpuCount,
      cpuUsedPct: Math.round(cpuUsedPct * 100) / 100,
      memUsed: stats.memoryBytes,
      memTotal: stats.memoryLimitBytes,
      memCache: 0,
      diskUsed: stats.diskUsedBytes,
      diskTotal: stats.diskTotalBytes,
    });
  }

  async function tick(): Promise<void> {
    if (ticking) return;
    ticking = true;
    try {
      const running = (await store.listAllSandboxes()).filter((r) => r.state === "running");
      const alive = new Set(running.map((r) => r.id));
      for (const id of previous.keys()) if (!alive.has(id)) previous.delete(id);
      for (const record of running) {
        // The same pass notices a sandbox that died behind the server's back (OOM killer, operator).
        const info = await driver.get(record.runtimeId).catch(() => undefined);
        if (info?.status !== "running") {
          options.onDead?.(record.id);
          continue;
        }
        await sample(record).catch((e: unknown) => {
          logger.debug({ sandboxId: record.id, err: e }, "metrics sample failed");
        });
      }
    } finally {
      ticking = false;
    }
  }

  const interval = setInterval(() => {
    void tick().catch((e: unknown) => logger.warn({ err: e }, "metrics sampling failed"));
  }, options.intervalMs);
  interval.unref();

  return {
    sampleSoon(id) {
      const timer = setTimeout(() => {
        soon.delete(timer);
        void (async () => {
          const record = await store.getSandbox(id);
          if (record?.state === "running") await sample(record);
        })().catch((e: unknown) => logger.debug({ sandboxId: id, err: e }, "metrics sample failed"));
      }, 1000);
      timer.unref();
      soon.add(timer);
    },
    close() {
      clearInterval(interval);
      for (const t of soon) clearTimeout(t);
      soon.clear();
    },
  };
}
