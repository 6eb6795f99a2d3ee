import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { createLocalRuntime, type LocalRuntime } from "@sandpit/runtime";
import { createSqliteStore, type SandboxRecord } from "@sandpit/server";
import { hostLeftovers, sharedMounts } from "../../packages/runtime/test/host-leftovers.js";
import { buildAgentBundle } from "../sandbox-agent/agent-sandbox.js";
import { TEMPLATES_DIR } from "./live-server.js";

const repo = new URL("../..", import.meta.url).pathname;

/** Options of {@link startServerProcess}. */
export interface ServerProcessOptions {
  dataDir: string;
  apiKey: string;
  prefix: string;
  addressPool: string;
  runtime: "runc" | "runsc";
  /** More of the server's settings, as SANDPIT_* variables. */
  env?: Record<string, string>;
}

/** `sandpit serve` as a child process, the way a user runs it, so it can be killed -9. */
export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Sends a signal and waits for the process to be gone. */
  stop(signal: NodeJS.Signals): Promise<void>;
}

/** Starts the CLI's server and resolves once it prints its URL (reconcile is done by then). */
export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [join(repo, "packages/cli/bin/sandpit.mjs"), "serve", "--port", "0", "--host", "127.0.0.1"],
    {
      env: {
        ...process.env,
        SANDPIT_DATA_DIR: options.dataDir,
        SANDPIT_TEMPLATES_DIR: TEMPLATES_DIR,
        SANDPIT_API_KEY: options.apiKey,
        SANDPIT_RUNTIME: options.runtime,
        SANDPIT_PREFIX: options.prefix,
        SANDPIT_ADDRESS_POOL: options.addressPool,
        SANDPIT_LOG_LEVEL: process.env.SANDPIT_TEST_LOG ?? "warn",
        ...options.env,
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /export E2B_API_URL=(\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
  return {
    url,
    child,
    async stop(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill(signal);
      });
    },
  };
}

/** The server of a {@link useServerProcess} suite: started (again) on demand, stopped by the suite's end. */
export interface ServerProcessFixture {
  /** Starts a server on the suite's data dir and points the SDK at it. */
  start(): Promise<ServerProcess>;
  /** Stops the current server with a signal (a restart is `stop` then `start`). */
  stop(signal: NodeJS.Signals): Promise<void>;
  /** The current server, if one was started. */
  readonly current: ServerProcess | undefined;
}

/**
 * Registers a suite's setup and teardown for tests of server processes: the agent bundle built
 * and a fresh data dir before, {@link cleanUpServerProcess} with `endSignal` after.
 */
export function useServerProcess(
  options: ServerProcessOptions,
  endSignal: NodeJS.Signals,
): ServerProcessFixture {
  let current: ServerProcess | undefined;
  before(() => {
    buildAgentBundle();
    options.dataDir = mkdtempSync(join(tmpdir(), `sandpit-${options.prefix}-`));
  });
  after(() => cleanUpServerProcess(current, options, endSignal));
  return {
    async start() {
      current = await startServerForSdk(options);
      return current;
    },
    async stop(signal) {
      await current?.stop(signal);
    },
    get current() {
      return current;
    },
  };
}

/** Starts the server and points the e2b SDK at it (its E2B_* variables). */
export async function startServerForSdk(options: ServerProcessOptions): Promise<ServerProcess> {
  const server = await startServerProcess(options);
  process.env.E2B_API_URL = server.url;
  process.env.E2B_SANDBOX_URL = server.url;
  process.env.E2B_API_KEY = options.apiKey;
  delete process.env.E2B_DEBUG;
  return server;
}

/**
 * The end of a test of server processes: the server stopped, whatever its sandboxes left
 * removed by a runtime of the same data dir, the host checked clean, the data dir deleted.
 */
export async function cleanUpServerProcess(
  server: ServerProcess | undefined,
  options: ServerProcessOptions,
  signal: NodeJS.Signals,
): Promise<void> {
  await server?.stop(signal);
  const rt = runtimeOnDisk(options);
  await rt.janitor(new Set());
  await rt.close();
  assert.deepEqual(hostLeftovers(options.prefix, options.dataDir), []);
  assert.deepEqual(sharedMounts(options.dataDir), []);
  rmSync(options.dataDir, { recursive: true, force: true });
}

/** The sandboxes in a data dir's store, read beside (or without) its server. */
export async function storedSandboxes(dataDir: string): Promise<SandboxRecord[]> {
  const store = createSqliteStore({ path: join(dataDir, "sandpit.db") });
  try {
    return await store.listAllSandboxes();
  } finally {
    await store.close();
  }
}

/** The runtime of a server's data dir as its files are now (a runtime reads its records when made). */
export function runtimeOnDisk(options: ServerProcessOptions): LocalRuntime {
  return createLocalRuntime({
    runtime: options.runtime,
    dataDir: options.dataDir,
    templatesDir: TEMPLATES_DIR,
    prefix: options.prefix,
    addressPool: options.addressPool,
  });
}

/** Every sandbox id that has anything on the host under a prefix: layers, cgroups, namespaces. */
export function idsOnHost(prefix: string, dataDir: string): Set<string> {
  const ids = new Set<string>();
  const dirs = [
    join(dataDir, "sandboxes"),
    ...readdirSync("/sys/fs/cgroup").map((hierarchy) => join("/sys/fs/cgroup", hierarchy, prefix)),
  ];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) ids.add(e.name);
  }
  if (existsSync("/run/netns")) {
    for (const ns of readdirSync("/run/netns"))
      if (ns.startsWith(`${prefix}-`)) ids.add(ns.slice(prefix.length + 1));
  }
  return ids;
}

/** What the host holds for ids the store does not know: must be nothing. */
export function orphans(prefix: string, dataDir: string, known: ReadonlySet<string>): string[] {
  return [...idsOnHost(prefix, dataDir)]
    .filter((id) => !known.has(id))
    .flatMap((id) => hostLeftovers(prefix, dataDir, id));
}

/** SIGKILLs every process of a sandbox from outside, as the OOM killer or an operator might. */
export function killSandboxProcesses(prefix: string, runtimeId: string): number {
  let killed = 0;
  for (const hierarchy of readdirSync("/sys/fs/cgroup")) {
    const procs = join("/sys/fs/cgroup", hierarchy, prefix, runtimeId, "cgroup.procs");
    if (!existsSync(procs)) continue;
    for (const pid of readFileSync(procs, "utf8").split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
        killed++;
      } catch {
        // Already gone.
      }
    }
  }
  return killed;
}
