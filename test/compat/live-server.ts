import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalRuntime, type LocalRuntime } from "@sandpit/runtime";
import { generateApiKey, loadConfig, type SandpitServer, startSandpitServer } from "@sandpit/server";
import { pino } from "pino";
import { hostLeftovers, sharedMounts } from "../../packages/runtime/test/host-leftovers.js";
import { buildAgentBundle } from "../sandbox-agent/agent-sandbox.js";

/** Why the suites that need sandboxes cannot run here, or false. */
export const notRoot = process.getuid?.() !== 0 ? "needs root (sandboxes)" : false;
/** Shared template cache: built once per machine. */
export const TEMPLATES_DIR = process.env.SANDPIT_TEMPLATES_DIR ?? "/var/lib/sandpit/templates";

/** Polls `fn` until it gives a value (errors count as "not yet"); fails after `ms` with `what`. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A real server on a free port, with a real runtime and a real SQLite file in a temp dir. */
export interface LiveServer {
  readonly server: SandpitServer;
  readonly runtime: LocalRuntime;
  readonly url: string;
  readonly apiKey: string;
  readonly dataDir: string;
  readonly domain: string;
  /** A key of another team. */
  keyOfTeam(team: string): Promise<string>;
  /** Points the e2b SDK at this server with the default team's key. */
  useSdk(): void;
  /** Kills every sandbox, stops the server and checks the host is clean. */
  close(): Promise<void>;
}

/** Options of {@link startLiveServer}. */
export interface LiveServerOptions {
  runtime: "runsc" | "runc";
  prefix: string;
  addressPool: string;
  poolSize?: number;
  metricsIntervalMs?: number;
  /** An existing directory to keep the server's data in (default: a new temp dir, removed on close). */
  dataDir?: string;
}

/** Starts a server the way `sandpit serve` does, but in this process. */
export async function startLiveServer(options: LiveServerOptions): Promise<LiveServer> {
  buildAgentBundle();
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), `sandpit-${options.prefix}-`));
  const apiKey = generateApiKey();
  const domain = "sandpit.test";
  const runtime = createLocalRuntime({
    runtime: options.runtime,
    dataDir,
    templatesDir: TEMPLATES_DIR,
    prefix: options.prefix,
    addressPool: options.addressPool,
  });
  await runtime.janitor(new Set());
  const config = loadConfig(
    {
      port: 0,
      host: "127.0.0.1",
      dataDir,
      templatesDir: TEMPLATES_DIR,
      apiKeys: [apiKey],
      domain,
      runtime: options.runtime,
      prefix: options.prefix,
      addressPool: options.addressPool,
      poolSize: options.poolSize ?? 0,
      metricsIntervalMs: options.metricsIntervalMs ?? 1000,
    },
    {},
  );
  const server = await startSandpitServer(config, {
    driver: runtime,
    logger: pino({ level: process.env.SANDPIT_TEST_LOG ?? "warn" }),
  });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    server,
    runtime,
    url,
    apiKey,
    dataDir,
    domain,
    async keyOfTeam(name) {
      const team = await server.store.ensureTeam(name);
      const key = generateApiKey();
      await server.store.addApiKey(team.id, key);
      return key;
    },
    useSdk() {
      delete process.env.E2B_DEBUG;
      process.env.E2B_API_URL = url;
      process.env.E2B_SANDBOX_URL = url;
      process.env.E2B_API_KEY = apiKey;
      process.env.E2B_DOMAIN = domain;
    },
    async close() {
      const records = await server.store.listAllSandboxes();
      await server.close();
      for (const r of records) await runtime.remove(r.runtimeId);
      await runtime.janitor(new Set());
      await runtime.close();
      assert.deepEqual(hostLeftovers(options.prefix, dataDir), []);
      assert.deepEqual(sharedMounts(dataDir), []);
      if (options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
