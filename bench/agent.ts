// commands.run("true") round trip through the official SDK against the agent in a sandbox,
// next to the sandbox's own floor (an in-sandbox loop of `bash -l -c true`), both a while after
// the last command and back to back (where the agent's next login shell is still starting,
// so that the shell's cost shows again); the start cost of
// a bare /bin/true through Process/Start next to an in-sandbox loop of /bin/true; each with
// commands started through the agent's launcher and, for comparison, by forking the agent
// (SANDPIT_AGENT_LAUNCHER=off: `_fork` metrics); and 256 MiB
// upload + download through the agent next to a plain loopback HTTP transfer. Each side and
// its baseline are measured in alternating batches: other work on a small machine comes and
// goes within a run, and a baseline taken minutes earlier would not see the same machine.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { processPb } from "@sandpit/protocol";
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
// A client that thinks between commands (an agent waiting for its model) leaves the sandbox this
// long; the agent's shell for the next command is ready by then (~100 ms under gVisor).
const COMMAND_GAP_MS = 250;
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

/** One Connect stream frame (spec §2): flags, big-endian length, message. */
function frame(flags: number, message: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

// Node.js run by the null agent: it answers every Process/Start with the bytes it is given,
// after reading the request, and prints its port.
const nullAgentScript = `
const bodies = JSON.parse(process.env.NULL_AGENT_BODIES);
require("node:http").createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    const json = String(req.headers["content-type"]).includes("json");
    res.writeHead(200, { "content-type": json ? "application/connect+json" : "application/connect+proto" });
    res.end(Buffer.from(json ? bodies.json : bodies.proto, "base64"));
  });
}).listen(0, "127.0.0.1", function () { console.log(this.address().port); });
`;

/**
 * A process on the host that answers Process/Start at once with a start and an end event
 * encoded ahead: what the SDK's `commands.run` costs with nothing behind it, no sandbox, no
 * agent and no shell. Its own process, so that the SDK does not share an event loop with it.
 */
async function startNullAgent(): Promise<{ url: string; close(): void }> {
  const events = [
    create(processPb.StartResponseSchema, { event: { event: { case: "start", value: { pid: 1 } } } }),
    create(processPb.StartResponseSchema, {
      event: { event: { case: "end", value: { exitCode: 0, exited: true, status: "exit status 0" } } },
    }),
  ];
  const endOfStream = frame(2, Buffer.from("{}"));
  const body = (encode: (e: processPb.StartResponse) => Uint8Array) =>
    Buffer.concat([...events.map((e) => frame(0, encode(e))), endOfStream]).toString("base64");
  const child = spawn(process.execPath, ["-e", nullAgentScript], {
    env: {
      NULL_AGENT_BODIES: JSON.stringify({
        proto: body((e) => toBinary(processPb.StartResponseSchema, e)),
        json: body((e) => Buffer.from(toJsonString(processPb.StartResponseSchema, e))),
      }),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<string>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`the null agent exited (${code})`)));
    child.stdout.once("data", (d: Buffer) => resolve(d.toString().trim()));
  });
  return { url: `http://127.0.0.1:${port}`, close: () => child.kill() };
}

const probe = readFileSync(new URL("../test/sandbox-agent/start-cost-probe.cjs", import.meta.url), "utf8");
const bundledNode =
  "/opt/sandpit/agent/lib/ld-linux-x86-64.so.2 --library-path /opt/sandpit/agent/lib /opt/sandpit/agent/bin/node";

/** Medians of the in-sandbox start cost probe (test/sandbox-agent/start-cost-probe.cjs). */
interface StartCost {
  paddingMiB: number;
  spawnMs: number;
  spawnBlockingMs: number;
  launcherMs: number;
  launcherPidMs: number;
}

/** Runs the start cost probe inside the sandbox, as root, with the bundle's node. */
async function startCost(sbx: Sandbox, runs: number): Promise<StartCost> {
  await sbx.files.write("/tmp/start-cost-probe.cjs", probe, { user: "root" });
  const r = await sbx.commands.run(`${bundledNode} /tmp/start-cost-probe.cjs ${runs}`, {
    user: "root",
    timeoutMs: 300_000,
  });
  return JSON.parse(r.stdout) as StartCost;
}

/** Milliseconds of one /bin/true started by the sandbox's own shell: a loop of `n`, divided. */
async function trueFloorMs(sbx: Sandbox, n: number): Promise<number> {
  const run = await sbx.commands.run(
    `s=$(date +%s%N); for i in $(seq ${n}); do /bin/true; done; e=$(date +%s%N); echo $(( (e - s) / ${n} ))`,
    { timeoutMs: 300_000 },
  );
  return Number(run.stdout.trim()) / 1e6;
}

/** Milliseconds from a Process/Start of /bin/true to its end event, as seen by a client. */
async function startTrueMs(
  client: ReturnType<typeof createClient<typeof processPb.Process>>,
): Promise<number> {
  const t = performance.now();
  for await (const res of client.start({ process: { cmd: "/bin/true", args: [], envs: {} }, stdin: false })) {
    if (res.event?.event.case === "end") break;
  }
  return performance.now() - t;
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
      for (const mode of ["fork", "launcher"] as const) {
        const suffix = mode === "fork" ? "_fork" : "";
        log(`${runtime}: starting the agent sandbox (${mode})`);
        const sandboxId = `bagent${runtime}${mode === "fork" ? "f" : ""}`;
        const info = await createAgentSandbox(rt, sandboxId, {
          env: { SANDPIT_AGENT_LAUNCHER: mode === "fork" ? "off" : "on" },
        });
        await initAgent(info, {});
        process.env.E2B_DEBUG = "true";
        process.env.E2B_SANDBOX_URL = `http://${info.address}:${AGENT_PORT}`;
        const sbx = await Sandbox.create();
        const client = createClient(
          processPb.Process,
          createConnectTransport({ baseUrl: `http://${info.address}:${AGENT_PORT}`, httpVersion: "1.1" }),
        );
        log(`${runtime} (${mode}): commands.run("true") x${RUNS} and the floor, in ${BATCHES} batches each`);
        for (let i = 0; i < 5; i++) await sbx.commands.run("true");
        const perBatch = Math.max(1, Math.round(RUNS / BATCHES));
        const floors: number[] = [];
        const times: number[] = [];
        const backToBack: number[] = [];
        const nullTimes: number[] = [];
        const timeRun = async (into: number[], on = sbx) => {
          const t = performance.now();
          await on.commands.run("true");
          into.push(performance.now() - t);
        };
        // Once per driver, next to its floor: the part of a round trip that is the SDK's alone.
        const nullAgent = mode === "launcher" ? await startNullAgent() : undefined;
        try {
          let onNull: Sandbox | undefined;
          if (nullAgent) {
            // The SDK takes the address at create: `sbx` keeps the agent's.
            process.env.E2B_SANDBOX_URL = nullAgent.url;
            onNull = await Sandbox.create();
            process.env.E2B_SANDBOX_URL = `http://${info.address}:${AGENT_PORT}`;
            for (let i = 0; i < 5; i++) await onNull.commands.run("true");
          }
          for (let b = 0; b < BATCHES; b++) {
            floors.push(await floorMs(sbx, perBatch));
            for (let i = 0; i < perBatch; i++) {
              await sleep(COMMAND_GAP_MS);
              await timeRun(times);
            }
            for (let i = 0; i < perBatch; i++) await timeRun(backToBack);
            for (let i = 0; onNull && i < perBatch; i++) {
              await sleep(COMMAND_GAP_MS);
              await timeRun(nullTimes, onNull);
            }
          }
        } finally {
          nullAgent?.close();
        }
        log(`${runtime} (${mode}): floor batches ${floors.map((f) => f.toFixed(1)).join(", ")} ms`);
        results[`exec_roundtrip_${runtime}${suffix}`] = timeMetric(
          times,
          floors,
          `SDK commands.run('true') ${COMMAND_GAP_MS} ms after the last one vs in-sandbox bash -l -c true loop (${mode})`,
        );
        results[`exec_roundtrip_back_to_back_${runtime}${suffix}`] = timeMetric(
          backToBack,
          floors,
          `the same, each command sent as soon as the last one ended (${mode})`,
        );
        if (nullTimes.length > 0) {
          results[`exec_roundtrip_null_agent_${runtime}`] = timeMetric(
            nullTimes,
            floors,
            `the same SDK call, ${COMMAND_GAP_MS} ms apart, answered at once by a host process with ` +
              "pre-encoded start and end events: the SDK's own share, vs the same floor",
          );
        }
        log(`${runtime} (${mode}): Process/Start of /bin/true x${RUNS} and an in-sandbox /bin/true loop`);
        for (let i = 0; i < 5; i++) await startTrueMs(client);
        const trueFloors: number[] = [];
        const starts: number[] = [];
        for (let b = 0; b < BATCHES; b++) {
          trueFloors.push(await trueFloorMs(sbx, perBatch));
          for (let i = 0; i < perBatch; i++) starts.push(await startTrueMs(client));
        }
        results[`process_start_${runtime}${suffix}`] = timeMetric(
          starts,
          trueFloors,
          `Process/Start of /bin/true to its end event vs in-sandbox /bin/true loop (${mode})`,
        );
        if (mode === "launcher") {
          log(`${runtime}: start cost inside the sandbox, node spawn() vs the launcher, ${BATCHES} runs`);
          const costs: StartCost[] = [];
          for (let b = 0; b < BATCHES; b++) costs.push(await startCost(sbx, perBatch));
          for (const c of costs) log(`${runtime}: ${JSON.stringify(c)}`);
          const med = (f: (c: StartCost) => number) => median(costs.map(f));
          results[`start_cost_${runtime}`] = {
            median_ms: med((c) => c.launcherMs),
            baseline: med((c) => c.spawnMs),
            ratio: med((c) => c.launcherMs) / med((c) => c.spawnMs),
            samples: costs.length * perBatch,
            note:
              "in-sandbox /bin/true start to exit: launcher vs node spawn() from a process of the agent's RSS " +
              `(${costs[0]?.paddingMiB} MiB padding; spawn() blocks the event loop ${med((c) => c.spawnBlockingMs).toFixed(1)} ms, ` +
              `launcher pid after ${med((c) => c.launcherPidMs).toFixed(1)} ms)`,
          };
        }
        // The fork sandbox stays until the end: a new one would reuse its address, and the SDK
        // its dead keep-alive connections.
        if (mode === "fork") continue;
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
      }
    } finally {
      await rt.janitor(new Set());
      await rt.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  return results;
};
