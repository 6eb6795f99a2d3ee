// Create-to-first-command latency of a sandbox on each driver, next to the raw OCI runtime
// doing the same two steps (start a container from the same rootfs, run `true` in it).
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLocalRuntime } from "@sandpit/runtime";
import { ociSpec } from "../packages/runtime/src/oci-spec.js";
import { removePrefixCgroups } from "../packages/runtime/src/sandbox-cgroup.js";
import { BENCH_DATA_DIR, type Benchmark, type Metric, timeMetric } from "./measure.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const TEMPLATES_DIR = process.env.SANDPIT_TEMPLATES_DIR ?? "/var/lib/sandpit/templates";

function run(cmd: string, args: string[]): Promise<void> {
  const devnull = openSync("/dev/null", "w");
  return new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", devnull, devnull] });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(" ")}: exit ${code}`)),
    );
  }).finally(() => closeSync(devnull));
}

/** The raw runtime: same rootfs (already mounted), same user namespace, no network set-up. */
export async function rawRuntime(runtime: "runc" | "runsc", lowerdir: string, work: string) {
  const layer = join(work, "raw");
  for (const d of ["upper", "work", "rootfs"]) mkdirSync(join(layer, d), { recursive: true });
  await run("chown", ["100000:100000", join(layer, "upper")]);
  // A killed earlier run may have left its overlay mounted here.
  if (readFileSync("/proc/self/mountinfo", "utf8").includes(` ${join(layer, "rootfs")} `)) {
    await run("umount", [join(layer, "rootfs")]);
  }
  await run("mount", [
    "-t",
    "overlay",
    "overlay",
    "-o",
    `lowerdir=${lowerdir},upperdir=${join(layer, "upper")},workdir=${join(layer, "work")}`,
    join(layer, "rootfs"),
  ]);
  const spec = ociSpec({
    rootfs: join(layer, "rootfs"),
    args: ["sleep", "infinity"],
    env: { PATH: "/usr/bin:/bin" },
    netnsPath: undefined,
    cgroupsPath: "/spbench/raw",
    hostname: "raw",
    idShift: 100_000,
    idCount: 65_536,
    limits: { cpuCount: 1, memoryMB: 512, pids: 1024 },
    binds: [],
    flavour: runtime,
    noNewPrivileges: runtime === "runc",
  });
  writeFileSync(join(layer, "config.json"), JSON.stringify(spec));
  // Its own state root: the sandboxes of the same benchmark keep theirs under /run/spbench.
  const stateRoot = `/run/spbench-raw/${runtime}`;
  const root = ["--root", stateRoot];
  const flags = runtime === "runsc" ? ["--network=none", "--overlay2=none"] : [];
  const detach = runtime === "runsc" ? "-detach" : "-d";
  return {
    /** Milliseconds from `run` to the end of the first `exec`; the delete is not timed. */
    async once(i: number): Promise<number> {
      const id = `raw${i < 0 ? `w${-i}` : i}`;
      const t = performance.now();
      await run(runtime, [...root, ...flags, "run", detach, "--bundle", layer, id]);
      await run(runtime, [...root, ...flags, "exec", id, "true"]);
      const elapsed = performance.now() - t;
      await run(runtime, [...root, ...flags, "delete", runtime === "runsc" ? "-force" : "--force", id]);
      return elapsed;
    },
    async close() {
      await run("umount", [join(layer, "rootfs")]);
      // The raw containers' cgroups live under /spbench/raw, outside any runtime's prefix.
      removePrefixCgroups("spbench/raw");
      removePrefixCgroups("spbench");
      // Every raw container was deleted: nothing in the state root is in use.
      rmSync(stateRoot, { recursive: true, force: true });
      try {
        rmdirSync("/run/spbench-raw");
      } catch {
        // The other runtime's root is still there, or it is gone already.
      }
    },
  };
}

/** Benchmarks `runtime`: create-to-first-command on runsc and runc against the raw runtime. */
export const runtimeBenchmark: Benchmark = async ({ log }) => {
  const results: Record<string, Metric> = {};
  for (const runtime of ["runsc", "runc"] as const) {
    // A fixed place, so the janitor of the next run cleans up after a run that was killed.
    const work = join(BENCH_DATA_DIR, `runtime-${runtime}`);
    mkdirSync(work, { recursive: true });
    const rt = createLocalRuntime({
      runtime,
      dataDir: work,
      templatesDir: TEMPLATES_DIR,
      prefix: "spbench",
      addressPool: "10.240.0.0/16",
      defaultLimits: { cpuCount: 1, memoryMB: 512, pids: 1024, diskMB: 1024 },
    });
    try {
      await rt.janitor(new Set());
      const template = await rt.templates.ensure("base");
      const raw = await rawRuntime(runtime, template.rootfs, work);
      log(`${runtime}: raw runtime`);
      const rawTimes = await samples((i) => raw.once(i));
      await raw.close();
      log(`${runtime}: sandpit`);
      const ours = await samples(async (i) => {
        const id = `b${runtime}${i < 0 ? `w${-i}` : i}`;
        const t = performance.now();
        await rt.create({ id, template: "base", command: ["sleep", "infinity"] });
        const r = await rt.exec(id, ["true"]);
        const elapsed = performance.now() - t;
        if (r.code !== 0) throw new Error(`true failed: ${r.stderr}`);
        await rt.remove(id);
        return elapsed;
      });
      results[`create_to_first_command_${runtime}`] = timeMetric(
        ours,
        rawTimes,
        `sandbox (overlay, netns, veth, firewall, limits) + exec true vs raw ${runtime} run + exec`,
      );
    } finally {
      await rt.janitor(new Set());
      await rt.close();
      rmSync(work, { recursive: true, force: true });
    }
  }
  return results;
};

/** RUNS timed samples after two warm-up runs. */
async function samples(once: (i: number) => Promise<number>): Promise<number[]> {
  for (const i of [-1, -2]) await once(i);
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) out.push(await once(i));
  return out;
}
