// Pause and resume latency through the server's API (REST pause; connect, then the first
// successful agent call), from RAM (warm tier) and from disk (cold tier), for an idle sandbox
// and one holding 500 MiB of touched memory, next to raw `runsc pause`/`resume` and raw
// `runsc checkpoint`/`restore` of a plain container with the same memory, in the same run.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { AGENT_PORT } from "@sandpit/protocol";
import { createLocalRuntime } from "@sandpit/runtime";
import { generateApiKey, loadConfig, type SandpitServer, startSandpitServer } from "@sandpit/server";
import { Sandbox } from "e2b";
import { pino } from "pino";
import { ociSpec } from "../packages/runtime/src/oci-spec.js";
import { NETSTACK_TRICK } from "../packages/runtime/src/runsc-runtime.js";
import { removeCgroup, removePrefixCgroups } from "../packages/runtime/src/sandbox-cgroup.js";
import {
  configureGuestInterface,
  createSandboxNetwork,
  networkNames,
  removeSandboxNetwork,
  type SandboxNetwork,
} from "../packages/runtime/src/sandbox-network.js";
import { agentBundleDir, buildAgentBundle } from "../test/sandbox-agent/agent-sandbox.js";
import { BENCH_DATA_DIR, type Benchmark, type Metric, quietHost, timeMetric } from "./measure.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TEMPLATES_DIR = process.env.SANDPIT_TEMPLATES_DIR ?? "/var/lib/sandpit/templates";
const PREFIX = "spbpause";
const RAW_ROOT = `/run/${PREFIX}raw/runsc`;
const RAW_CGROUP = `${PREFIX}raw`;
// The raw container's network: a namespace and a veth pair made as a sandbox's, no internet.
const RAW_NET_PREFIX = `${PREFIX}raw`;
const RAW_NET_ID = "net";
const RAW_NET: SandboxNetwork = {
  ...networkNames(RAW_NET_PREFIX, RAW_NET_ID),
  slot: 0,
  host: "10.250.0.1",
  guest: "10.250.0.2",
  allowInternetAccess: false,
};
/** Holds 500 MiB of random (incompressible) bytes, every page touched, then sleeps. */
const HOLD_500_MIB =
  "import os, time\nb = os.urandom(500 << 20)\nopen('/tmp/held', 'w').write('1')\ntime.sleep(10**9)";

// Output goes to a file, never a pipe: a detached runsc keeps its stdio open for ever.
const RUN_LOG = "/tmp/sandpit-bench-pause.log";

function run(cmd: string, args: string[]): Promise<void> {
  const log = openSync(RUN_LOG, "w");
  return new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", log, log] });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) return resolve();
      const tail = readFileSync(RUN_LOG, "utf8").trim().split("\n").slice(-3).join(" | ");
      reject(new Error(`${cmd} ${args.join(" ")}: exit ${code}: ${tail}`));
    });
  }).finally(() => closeSync(log));
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function waitFor(what: string, ok: () => Promise<boolean>, ms = 120_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const AGENT_MOUNT = "/opt/sandpit/agent";
/** The sandbox's main process: the agent through the bundle's own loader, as the server starts it. */
const AGENT_COMMAND = `${AGENT_MOUNT}/lib/ld-linux-x86-64.so.2 --library-path ${AGENT_MOUNT}/lib ${AGENT_MOUNT}/bin/node ${AGENT_MOUNT}/agent.mjs`;

/** Whether the agent at `host` answers `/health` on a connection of its own. */
function agentHealthy(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port: AGENT_PORT, path: "/health", agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode === 204));
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/**
 * The same container without Sandpit around it: same rootfs, the same agent process (and the
 * same 500 MiB holder), driven by the runsc command alone, with a network namespace of its own
 * and gVisor's netstack in it as a sandbox has, so that a restore has the same work to do and
 * the restored agent can be asked for its first answer.
 */
async function rawContainer(lowerdir: string, work: string, hold: boolean) {
  const dir = join(work, hold ? "raw-held" : "raw-idle");
  const id = hold ? "rawheld" : "rawidle";
  for (const d of ["upper", "work", "rootfs"]) mkdirSync(join(dir, d), { recursive: true });
  await run("chown", ["100000:100000", join(dir, "upper")]);
  if (readFileSync("/proc/self/mountinfo", "utf8").includes(` ${join(dir, "rootfs")} `)) {
    await run("umount", [join(dir, "rootfs")]);
  }
  await run("mount", [
    "-t",
    "overlay",
    "overlay",
    "-o",
    `lowerdir=${lowerdir},upperdir=${join(dir, "upper")},workdir=${join(dir, "work")}`,
    join(dir, "rootfs"),
  ]);
  const spec = ociSpec({
    rootfs: join(dir, "rootfs"),
    args: [
      "/bin/sh",
      "-c",
      hold
        ? `python3 -c "${HOLD_500_MIB.replaceAll("\n", ";")}" & exec ${AGENT_COMMAND}`
        : `exec ${AGENT_COMMAND}`,
    ],
    env: { PATH: "/usr/bin:/bin" },
    netnsPath: `/run/netns/${RAW_NET.netns}`,
    cgroupsPath: `/${RAW_CGROUP}/${id}`,
    hostname: "raw",
    idShift: 100_000,
    idCount: 65_536,
    limits: { cpuCount: 1, memoryMB: 1024, pids: 1024 },
    binds: [{ source: agentBundleDir, target: AGENT_MOUNT }],
    flavour: "runsc",
    noNewPrivileges: false,
  });
  writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
  // The runtime's own flags; `run` and `restore` under the same mount trick as the runtime's.
  const flags = [
    "--root",
    RAW_ROOT,
    "--platform=systrap",
    "--network=sandbox",
    "--overlay2=none",
    "--net-disconnect-ok",
  ];
  const runsc = (...args: string[]) => run("runsc", [...flags, ...args]);
  const tricked = (...args: string[]) =>
    run("unshare", ["-m", "sh", "-c", NETSTACK_TRICK, "runsc", ...flags, ...args]);
  const image = join(dir, "image");
  await removeSandboxNetwork(RAW_NET_PREFIX, RAW_NET_ID);
  await createSandboxNetwork(RAW_NET_PREFIX, RAW_NET);
  await tricked("run", "-detach", "-bundle", dir, id);
  await waitFor("the raw container's agent and memory", async () => {
    await runsc("exec", id, "test", "-e", hold ? "/tmp/held" : "/");
    return agentHealthy(RAW_NET.guest);
  });
  // The agent's start-up (node loading agent.mjs) settles before the first figure.
  await new Promise((r) => setTimeout(r, 2000));
  return {
    pause: () => timed(() => runsc("pause", id)),
    resume: () => timed(() => runsc("resume", id)),
    async checkpoint(): Promise<number> {
      rmSync(image, { recursive: true, force: true });
      mkdirSync(image);
      // The image format the runtime writes (uncompressed), so both restores read the same.
      const ms = await timed(() => runsc("checkpoint", "-compression", "none", "-image-path", image, id));
      await runsc("delete", "-force", id).catch(() => undefined);
      return ms;
    },
    /** The restore, and then the time until the restored agent first answers. */
    async restore(): Promise<{ restoreMs: number; firstAnswerMs: number }> {
      // gVisor takes the address into its netstack: it goes back on the interface first.
      await configureGuestInterface(RAW_NET);
      const restoreMs = await timed(() =>
        tricked("restore", "-detach", "-image-path", image, "-bundle", dir, id),
      );
      const firstAnswerMs = await timed(() =>
        waitFor("the restored agent", () => agentHealthy(RAW_NET.guest), 30_000, 1),
      );
      return { restoreMs, firstAnswerMs };
    },
    async close() {
      await runsc("delete", "-force", id).catch(() => undefined);
      await removeCgroup(`/${RAW_CGROUP}/${id}`);
      await run("umount", [join(dir, "rootfs")]).catch(() => undefined);
      await removeSandboxNetwork(RAW_NET_PREFIX, RAW_NET_ID).catch(() => undefined);
    },
  };
}

interface Figures {
  pauseWarm: number[];
  resumeWarm: number[];
  pauseCold: number[];
  resumeCold: number[];
  /** Raw only: a restore and then the restored agent's first answer. */
  resumeColdAnswered: number[];
}

function figures(): Figures {
  return { pauseWarm: [], resumeWarm: [], pauseCold: [], resumeCold: [], resumeColdAnswered: [] };
}

/** Benchmarks `pause`. */
export const pauseBenchmark: Benchmark = async ({ log }) => {
  buildAgentBundle();
  const dataDir = join(BENCH_DATA_DIR, "pause");
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const rt = createLocalRuntime({
    runtime: "runsc",
    dataDir,
    templatesDir: TEMPLATES_DIR,
    prefix: PREFIX,
    addressPool: "10.249.0.0/16",
  });
  await rt.janitor(new Set());
  const template = await rt.templates.ensure("base");
  const results: Record<string, Metric> = {};
  const apiKey = generateApiKey();
  let server: SandpitServer | undefined;
  try {
    const raw: Record<"idle" | "held", Figures> = { idle: figures(), held: figures() };
    for (const kind of ["idle", "held"] as const) {
      log(`raw runsc (${kind}): pause/resume, checkpoint/restore`);
      const c = await rawContainer(template.rootfs, dataDir, kind === "held");
      try {
        for (let i = -1; i < RUNS; i++) {
          const [p, r] = [await c.pause(), await c.resume()];
          const [cp, rs] = [await c.checkpoint(), await c.restore()];
          log(
            `  ${i < 0 ? "warm-up" : `run ${i + 1}`}: restore ${rs.restoreMs.toFixed(0)} ms, ` +
              `then the first answer ${rs.firstAnswerMs.toFixed(0)} ms`,
          );
          if (i < 0) continue;
          raw[kind].pauseWarm.push(p);
          raw[kind].resumeWarm.push(r);
          raw[kind].pauseCold.push(cp);
          raw[kind].resumeCold.push(rs.restoreMs);
          raw[kind].resumeColdAnswered.push(rs.restoreMs + rs.firstAnswerMs);
        }
      } finally {
        await c.close();
      }
    }
    removePrefixCgroups(RAW_CGROUP);

    const config = loadConfig(
      {
        port: 0,
        host: "127.0.0.1",
        dataDir,
        templatesDir: TEMPLATES_DIR,
        apiKeys: [apiKey],
        runtime: "runsc",
        prefix: PREFIX,
        addressPool: "10.249.0.0/16",
      },
      {},
    );
    const started = await startSandpitServer(config, { driver: rt, logger: pino({ level: "warn" }) });
    server = started;
    const url = `http://127.0.0.1:${started.port}`;
    Object.assign(process.env, { E2B_API_URL: url, E2B_SANDBOX_URL: url, E2B_API_KEY: apiKey });
    delete process.env.E2B_DEBUG;

    const ours: Record<"idle" | "held", Figures> = { idle: figures(), held: figures() };
    for (const kind of ["idle", "held"] as const) {
      log(`sandpit (${kind}): pause + connect + first agent call, warm and cold`);
      const sbx = await Sandbox.create({ timeoutMs: 3_600_000 });
      const id = sbx.sandboxId;
      try {
        if (kind === "held") {
          // No deadline: the SDK's default (60 s) would end the holder part-way through the runs.
          await sbx.commands.run(`python3 -c "${HOLD_500_MIB.replaceAll("\n", ";")}"`, {
            background: true,
            timeoutMs: 0,
          });
          await waitFor("the sandbox's memory", () => sbx.files.exists("/tmp/held"));
        }
        const tier = async () => (await started.store.getSandbox(id))?.pauseTier;
        for (let i = -1; i < RUNS; i++) {
          started.manager.configurePause({ warmMs: 3_600_000 });
          // Each run starts from a settled sandbox, not the tail of the last resume from disk
          // (gVisor's restore goes on faulting memory in after the agent answers).
          await quietHost();
          const pw = await timed(() => Sandbox.pause(id));
          const rw = await timed(async () => {
            const again = await Sandbox.connect(id);
            if (!(await again.files.exists("/home/user"))) throw new Error("no /home/user");
          });
          await Sandbox.pause(id);
          // The cold move starts once the grace period is cut short; timed until it is on disk.
          const pc = await timed(async () => {
            started.manager.configurePause({ warmMs: 0 });
            await waitFor("the move to disk", async () => (await tier()) === "cold");
          });
          const rc = await timed(async () => {
            const again = await Sandbox.connect(id);
            if (!(await again.files.exists("/home/user"))) throw new Error("no /home/user");
          });
          log(
            `  ${i < 0 ? "warm-up" : `run ${i + 1}`}: pause ${pw.toFixed(1)}, resume ${rw.toFixed(1)}, ` +
              `to disk ${pc.toFixed(0)}, resume from disk ${rc.toFixed(0)} ms`,
          );
          if (i < 0) continue;
          ours[kind].pauseWarm.push(pw);
          ours[kind].resumeWarm.push(rw);
          ours[kind].pauseCold.push(pc);
          ours[kind].resumeCold.push(rc);
        }
      } finally {
        await Sandbox.kill(id);
      }
    }

    for (const kind of ["idle", "held"] as const) {
      const suffix = kind === "idle" ? "" : "_500mib";
      const what = kind === "idle" ? "idle sandbox" : "sandbox holding 500 MiB";
      const o = ours[kind];
      const r = raw[kind];
      results[`pause_warm${suffix}`] = timeMetric(
        o.pauseWarm,
        r.pauseWarm,
        `${what}: REST pause (freeze) vs raw runsc pause`,
      );
      results[`resume_warm${suffix}`] = timeMetric(
        o.resumeWarm,
        r.resumeWarm,
        `${what}: REST connect + first agent call vs raw runsc resume; goal < 20 ms`,
      );
      results[`pause_cold${suffix}`] = timeMetric(
        o.pauseCold,
        r.pauseCold,
        `${what}: frozen to checkpointed on disk vs raw runsc checkpoint`,
      );
      results[`resume_cold${suffix}`] = timeMetric(
        o.resumeCold,
        r.resumeCold,
        `${what}: REST connect (restore) + first agent call vs raw runsc restore; goal ratio <= 1.2`,
      );
      // Like for like: gVisor's restored sandbox is slow to give its first answer, raw or ours.
      results[`resume_cold_answered${suffix}`] = timeMetric(
        o.resumeCold,
        r.resumeColdAnswered,
        `${what}: the same vs raw runsc restore + the restored agent's first /health answer`,
      );
    }
  } finally {
    await server?.close();
    await rt.janitor(new Set());
    await rt.close();
    removePrefixCgroups(RAW_CGROUP);
    await removeSandboxNetwork(RAW_NET_PREFIX, RAW_NET_ID).catch(() => undefined);
    rmSync(`/run/${PREFIX}raw`, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(RUN_LOG, { force: true });
  }
  return results;
};
