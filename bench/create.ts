// Create-to-first-command through the official SDK against a live server, with the warm pool
// and without it, and 20 concurrent creates until all are ready, next to the raw OCI runtime
// doing the same work (start a container, run `true` in it) in the same run.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createLocalRuntime } from "@sandpit/runtime";
import { generateApiKey, loadConfig, startSandpitServer } from "@sandpit/server";
import { Sandbox } from "e2b";
import { pino } from "pino";
import { buildAgentBundle } from "../test/sandbox-agent/agent-sandbox.js";
import { BENCH_DATA_DIR, type Benchmark, type Metric, quietHost, timeMetric } from "./measure.js";
import { rawRuntime } from "./runtime.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const CONCURRENT = 20;
const TEMPLATES_DIR = process.env.SANDPIT_TEMPLATES_DIR ?? "/var/lib/sandpit/templates";
const RUNTIMES = (process.env.BENCH_RUNTIMES ?? "runsc,runc").split(",") as ("runsc" | "runc")[];

async function waitFor(what: string, ok: () => boolean, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Benchmarks `create`. */
export const createBenchmark: Benchmark = async ({ log }) => {
  buildAgentBundle();
  const results: Record<string, Metric> = {};
  for (const runtime of RUNTIMES) {
    const dataDir = join(BENCH_DATA_DIR, `create-${runtime}`);
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir, { recursive: true });
    const rt = createLocalRuntime({
      runtime,
      dataDir,
      templatesDir: TEMPLATES_DIR,
      prefix: "spbcreate",
      addressPool: runtime === "runsc" ? "10.243.0.0/16" : "10.244.0.0/16",
    });
    await rt.janitor(new Set());
    const template = await rt.templates.ensure("base");

    log(`${runtime}: raw runtime`);
    const raw = await rawRuntime(runtime, template.rootfs, join(dataDir, "raw"));
    const rawTimes: number[] = [];
    for (let i = -2; i < RUNS; i++) {
      const ms = await raw.once(i);
      if (i >= 0) rawTimes.push(ms);
    }
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => raw.once(1000 + i)));
    const rawConcurrent = performance.now() - t0;
    await raw.close();

    const apiKey = generateApiKey();
    /** A server on this runtime that the SDK of this process talks to. */
    const serve = async (poolSize: number) => {
      const config = loadConfig(
        {
          port: 0,
          host: "127.0.0.1",
          dataDir,
          templatesDir: TEMPLATES_DIR,
          apiKeys: [apiKey],
          runtime,
          prefix: "spbcreate",
          poolSize,
        },
        {},
      );
      const started = await startSandpitServer(config, { driver: rt, logger: pino({ level: "warn" }) });
      const url = `http://127.0.0.1:${started.port}`;
      Object.assign(process.env, { E2B_API_URL: url, E2B_SANDBOX_URL: url, E2B_API_KEY: apiKey });
      return started;
    };
    const server = await serve(CONCURRENT);
    const warm = () => server.warmSandboxes().base ?? 0;
    try {
      log(`${runtime}: filling the pool`);
      await waitFor("a full pool", () => warm() >= CONCURRENT, 600_000);

      const once = async (): Promise<number> => {
        const t = performance.now();
        const sbx = await Sandbox.create();
        await sbx.commands.run("true");
        const ms = performance.now() - t;
        await sbx.kill();
        return ms;
      };

      log(`${runtime}: create + first command, warm`);
      const warmTimes: number[] = [];
      for (let i = -2; i < RUNS; i++) {
        // A full pool: each sample is a create while sandboxes wait, not one racing a refill,
        // nor the tail of one (the new sandbox's waiting shell reading its profile).
        await waitFor("a full pool", () => warm() >= CONCURRENT);
        await quietHost();
        const ms = await once();
        if (i >= 0) warmTimes.push(ms);
      }

      log(`${runtime}: ${CONCURRENT} concurrent creates, warm`);
      await waitFor("a full pool", () => warm() >= CONCURRENT, 600_000);
      await quietHost();
      const t1 = performance.now();
      const many = await Promise.all(Array.from({ length: CONCURRENT }, () => Sandbox.create()));
      const concurrent = performance.now() - t1;
      await Promise.all(many.map((s) => s.kill()));

      log(`${runtime}: create + first command, cold`);
      await server.close();
      const cold = await serve(0);
      const coldTimes: number[] = [];
      try {
        for (let i = -2; i < Math.min(RUNS, 10); i++) {
          const ms = await once();
          if (i >= 0) coldTimes.push(ms);
        }
      } finally {
        await cold.close();
      }

      results[`create_to_first_command_warm_${runtime}`] = timeMetric(
        warmTimes,
        rawTimes,
        `SDK create (warm pool) + commands.run("true") vs raw ${runtime} run + exec true; goal < 25 ms`,
      );
      results[`create_to_first_command_cold_${runtime}`] = timeMetric(
        coldTimes,
        rawTimes,
        `SDK create (no pool) + commands.run("true") vs raw ${runtime} run + exec true`,
      );
      results[`concurrent_${CONCURRENT}_creates_warm_${runtime}`] = timeMetric(
        [concurrent],
        [rawConcurrent],
        `${CONCURRENT} SDK creates at once until all answered vs ${CONCURRENT} raw run + exec at once; goal < 1000 ms`,
      );
    } finally {
      await server.close();
      await rt.janitor(new Set());
      await rt.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  return results;
};
