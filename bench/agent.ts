// commands.run("true") round trip through the official SDK against the agent in a sandbox,
// next to the sandbox's own floor (an in-sandbox loop of `bash -l -c true`), and 256 MiB
// upload + download through the agent next to a plain loopback HTTP transfer. Each side and
// its baseline are measured in alternating batches: other work on a small machine comes and
// goes within a run, and a baseline taken minutes earlier would not see the same machine.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { createLocalRuntime } from "@sandpit/runtime";
import { Sandbox } from "e2b";
import {
  AGENT_PORT,
  buildAgentBundle,
  createAgentSandbox,
  initAgent,
} from "../test/sandbox-agent/agent-sandbox.js";
import { BENCH_DATA_DIR, type Benchmark, type Metric, median, timeMetric } from "./measure.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 50);
const BATCHES = 5;
const TRANSFERS = 3;
const MIB = 1024 * 1024;
const TRANSFER_MIB = Number(process.env.BENCH_TRANSFER_MIB ?? 256);
// Each driver gets its own pool: the SDK keeps connections per address across sandboxes.
const RUNTIMES = (process.env.BENCH_RUNTIMES ?? "runsc,runc").split(",") as ("runsc" | "runc")[];

/**
 * MiB/s of sending `data` to a loopback HTTP server and reading it back, the body hashed as it
 * streams in, exactly as the SDK's download is.
 */
async function loopbackTransfer(data: Buffer, digest: string): Promise<number> {
  const server = createServer((req, res) => {
    if (req.method === "POST") {
      req.on("data", () => undefined);
      req.on("end", () => res.end("ok"));
    } else {
      res.end(data);
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const t = performance.now();
  await (await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: data })).text();
  const back = await sha256Of((await fetch(`http://127.0.0.1:${port}/`)).body ?? []);
  const seconds = (performance.now() - t) / 1000;
  server.close();
  if (back !== digest) throw new Error("loopback transfer corrupted the data");
  return (2 * data.length) / MIB / seconds;
}

async function sha256Of(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of chunks) hash.update(chunk);
  return hash.digest("hex");
}

/** Milliseconds of one `bash -l -c true`: a loop of `n` run by the sandbox itself, divided. */
async function floorMs(sbx: Sandbox, n: number): Promise<number> {
  const run = await sbx.commands.run(
    `s=$(date +%s%N); for i in $(seq ${n}); do bash -l -c true; done; e=$(date +%s%N); echo $(( (e - s) / ${n} ))`,
    { timeoutMs: 300_000 },
  );
  return Number(run.stdout.trim()) / 1e6;
}

/** Benchmarks `agent`. */
export const agentBenchmark: Benchmark = async ({ log }) => {
  buildAgentBundle();
  const results: Record<string, Metric> = {};
  const data = randomBytes(TRANSFER_MIB * MIB);
  const digest = createHash("sha256").update(data).digest("hex");
  // The SDK's input, made once: copying 256 MiB into a Blob is not part of a transfer.
  const blob = new Blob([data]);
  for (const runtime of RUNTIMES) {
    // A fixed place, so the janitor of the next run cleans up after a run that was killed.
    const dataDir = join(BENCH_DATA_DIR, `agent-${runtime}`);
    mkdirSync(dataDir, { recursive: true });
    const rt = createLocalRuntime({
      runtime,
      dataDir,
      prefix: "spbagent",
      addressPool: runtime === "runsc" ? "10.241.0.0/16" : "10.242.0.0/16",
      templatesDir: process.env.SANDPIT_TEMPLATES_DIR ?? "/var/lib/sandpit/templates",
    });
    try {
      await rt.janitor(new Set());
      log(`${runtime}: starting the agent sandbox`);
      const info = await createAgentSandbox(rt, `bagent${runtime}`);
      await initAgent(info, {});
      process.env.E2B_DEBUG = "true";
      process.env.E2B_SANDBOX_URL = `http://${info.address}:${AGENT_PORT}`;
      const sbx = await Sandbox.create();
      log(`${runtime}: commands.run("true") x${RUNS} and the floor, in ${BATCHES} batches each`);
      for (let i = 0; i < 5; i++) await sbx.commands.run("true");
      const perBatch = Math.max(1, Math.round(RUNS / BATCHES));
      const floors: number[] = [];
      const times: number[] = [];
      for (let b = 0; b < BATCHES; b++) {
        floors.push(await floorMs(sbx, perBatch));
        for (let i = 0; i < perBatch; i++) {
          const t = performance.now();
          await sbx.commands.run("true");
          times.push(performance.now() - t);
        }
      }
      log(`${runtime}: floor batches ${floors.map((f) => f.toFixed(1)).join(", ")} ms`);
      results[`exec_roundtrip_${runtime}`] = timeMetric(
        times,
        floors,
        "SDK commands.run('true') vs in-sandbox bash -l -c true loop",
      );
      log(`${runtime}: ${TRANSFER_MIB} MiB up and down`);
      const speeds: number[] = [];
      const loopback: number[] = [];
      for (let i = 0; i < TRANSFERS; i++) {
        loopback.push(await loopbackTransfer(data, digest));
        const t = performance.now();
        await sbx.files.write("/tmp/blob", blob);
        const written = performance.now();
        const back = await sha256Of(await sbx.files.read("/tmp/blob", { format: "stream" }));
        const done = performance.now();
        if (back !== digest) throw new Error("transfer corrupted the file");
        speeds.push((2 * data.length) / MIB / ((done - t) / 1000));
        const rate = (ms: number) => (data.length / MIB / (ms / 1000)).toFixed(0);
        log(`${runtime}: up ${rate(written - t)} MiB/s, down ${rate(done - written)} MiB/s`);
      }
      const ours = median(speeds);
      const base = median(loopback);
      results[`transfer_${runtime}`] = {
        mib_per_s: ours,
        baseline: base,
        ratio: base / ours,
        samples: speeds.length,
        note: `${TRANSFER_MIB} MiB write + streamed read vs loopback HTTP POST + GET, both hashed (ratio = baseline/ours)`,
      };
    } finally {
      await rt.janitor(new Set());
      await rt.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  return results;
};
