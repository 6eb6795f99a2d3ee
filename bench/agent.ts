// commands.run("true") round trip through the official SDK against the agent in a sandbox,
// next to the sandbox's own floor (an in-sandbox loop of `bash -l -c true`), and 256 MiB
// upload + download through the agent next to a plain loopback HTTP transfer.
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
const MIB = 1024 * 1024;
const TRANSFER_MIB = Number(process.env.BENCH_TRANSFER_MIB ?? 256);
// Each driver gets its own pool: the SDK keeps connections per address across sandboxes.
const RUNTIMES = (process.env.BENCH_RUNTIMES ?? "runsc,runc").split(",") as ("runsc" | "runc")[];

/** MiB/s of sending `data` to a loopback HTTP server and reading it back. */
async function loopbackTransfer(data: Buffer): Promise<number> {
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
  const back = Buffer.from(await (await fetch(`http://127.0.0.1:${port}/`)).arrayBuffer());
  const seconds = (performance.now() - t) / 1000;
  server.close();
  if (back.length !== data.length) throw new Error("loopback transfer lost bytes");
  return (2 * data.length) / MIB / seconds;
}

/** Benchmarks `agent`. */
export const agentBenchmark: Benchmark = async ({ log }) => {
  buildAgentBundle();
  const results: Record<string, Metric> = {};
  const data = randomBytes(TRANSFER_MIB * MIB);
  const digest = createHash("sha256").update(data).digest("hex");
  const loopback: number[] = [];
  for (let i = 0; i < 3; i++) loopback.push(await loopbackTransfer(data));
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
      log(`${runtime}: floor`);
      const floorRun = await sbx.commands.run(
        `s=$(date +%s%N); for i in $(seq ${RUNS}); do bash -l -c true; done; e=$(date +%s%N); echo $(( (e - s) / ${RUNS} ))`,
        { timeoutMs: 300_000 },
      );
      const floorMs = Number(floorRun.stdout.trim()) / 1e6;
      log(`${runtime}: commands.run("true") x${RUNS}`);
      for (let i = 0; i < 5; i++) await sbx.commands.run("true");
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now();
        await sbx.commands.run("true");
        times.push(performance.now() - t);
      }
      results[`exec_roundtrip_${runtime}`] = timeMetric(
        times,
        [floorMs],
        "SDK commands.run('true') vs in-sandbox bash -l -c true loop",
      );
      log(`${runtime}: ${TRANSFER_MIB} MiB up and down`);
      const speeds: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t = performance.now();
        await sbx.files.write("/tmp/blob", new Blob([data]));
        const stream = await sbx.files.read("/tmp/blob", { format: "stream" });
        const hash = createHash("sha256");
        let size = 0;
        for await (const chunk of stream) {
          hash.update(chunk);
          size += chunk.length;
        }
        const seconds = (performance.now() - t) / 1000;
        if (size !== data.length || hash.digest("hex") !== digest)
          throw new Error("transfer corrupted the file");
        speeds.push((2 * data.length) / MIB / seconds);
      }
      const ours = median(speeds);
      const base = median(loopback);
      results[`transfer_${runtime}`] = {
        mib_per_s: ours,
        baseline: base,
        ratio: base / ours,
        samples: speeds.length,
        note: `${TRANSFER_MIB} MiB write + streamed read with sha256 vs loopback HTTP POST + GET (ratio = baseline/ours)`,
      };
    } finally {
      await rt.janitor(new Set());
      await rt.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  return results;
};
