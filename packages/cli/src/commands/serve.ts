import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createSqliteStore,
  generateApiKey,
  loadConfig,
  type ServerConfig,
  startSandpitServer,
} from "@sandpit/server";
import type { Command } from "commander";
import { print } from "../output.js";

const KEY_FILE = "default-api-key";

/** The key a first start creates for the default team, kept so later starts can show it again. */
function savedKey(dataDir: string): string | undefined {
  const file = join(dataDir, KEY_FILE);
  return existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
}

async function ensureDefaultKey(config: ServerConfig): Promise<string | undefined> {
  if (config.apiKeys.length > 0) return config.apiKeys[0];
  const saved = savedKey(config.dataDir);
  if (saved) return saved;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const store = createSqliteStore({ path: join(config.dataDir, "sandpit.db") });
  try {
    await store.migrate();
    const team = await store.ensureTeam("default");
    if ((await store.listApiKeys(team.id)).length > 0) return undefined;
    const key = generateApiKey();
    await store.addApiKey(team.id, key, "first start");
    writeFileSync(join(config.dataDir, KEY_FILE), `${key}\n`, { mode: 0o600 });
    return key;
  } finally {
    await store.close();
  }
}

interface ServeFlags {
  port?: string;
  host?: string;
  dataDir?: string;
  templatesDir?: string;
  apiKey?: string[];
  domain?: string;
  runtime?: string;
  poolSize?: string;
  prefix?: string;
  addressPool?: string;
  logLevel?: string;
  maxTimeoutSec?: string;
  pauseWarmMs?: string;
  pauseMemoryFloorMb?: string;
  pausedRetentionSec?: string;
}

async function serve(flags: ServeFlags): Promise<void> {
  const config = loadConfig({
    port: flags.port,
    host: flags.host,
    dataDir: flags.dataDir,
    templatesDir: flags.templatesDir,
    apiKeys: flags.apiKey,
    domain: flags.domain,
    runtime: flags.runtime as ServerConfig["runtime"] | undefined,
    poolSize: flags.poolSize,
    prefix: flags.prefix,
    addressPool: flags.addressPool,
    logLevel: flags.logLevel as ServerConfig["logLevel"] | undefined,
    maxTimeoutSec: flags.maxTimeoutSec,
    pauseWarmMs: flags.pauseWarmMs,
    pauseMemoryFloorMB: flags.pauseMemoryFloorMb,
    pausedRetentionSec: flags.pausedRetentionSec,
  });
  const key = await ensureDefaultKey(config);
  const server = await startSandpitServer(config);
  const base = server.url;
  print();
  print(`Sandpit is serving on ${base} (${config.runtime}, data in ${config.dataDir})`);
  print("Point the E2B SDKs at it:");
  print(`  export E2B_API_URL=${base}`);
  print(`  export E2B_SANDBOX_URL=${base}`);
  if (key) print(`  export E2B_API_KEY=${key}`);
  else print("  export E2B_API_KEY=<a key of yours: sandpit keys create>");
  if (config.domain !== "localhost") print(`  export E2B_DOMAIN=${config.domain}`);
  print();
  // Ctrl-C reaches every process of the group, and `npm start` forwards it once more: a repeat
  // must not kill the server half-way through closing, so the listeners stay and ignore it.
  await new Promise<void>((resolve) => {
    process.on("SIGINT", () => resolve());
    process.on("SIGTERM", () => resolve());
  });
  server.logger.info("stopping; running sandboxes stay for the next start");
  await server.close();
}

/** `sandpit serve`: the server, on flags over SANDPIT_* variables over defaults. */
export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("run the server: REST API and sandbox proxy on one port")
    .option("--port <n>", "port (default 3000, env SANDPIT_PORT)")
    .option("--host <addr>", "address to listen on (default 0.0.0.0, env SANDPIT_HOST)")
    .option(
      "--data-dir <dir>",
      "store, sandboxes and templates (default /var/lib/sandpit, env SANDPIT_DATA_DIR)",
    )
    .option(
      "--templates-dir <dir>",
      "template cache (default <data-dir>/templates, env SANDPIT_TEMPLATES_DIR)",
    )
    .option(
      "--api-key <key...>",
      "register a key for the default team (env SANDPIT_API_KEY, comma-separated)",
    )
    .option(
      "--domain <domain>",
      "domain of <port>-<id>.<domain> sandbox hosts (default localhost, env SANDPIT_DOMAIN)",
    )
    .option("--runtime <name>", "runsc (gVisor, default) or runc (env SANDPIT_RUNTIME)")
    .option("--pool-size <n>", "warm sandboxes kept ready per template (default 0, env SANDPIT_POOL_SIZE)")
    .option(
      "--prefix <name>",
      "name prefix of this server's host objects (default sandpit, env SANDPIT_PREFIX)",
    )
    .option("--address-pool <cidr>", "sandbox addresses (default 10.200.0.0/16, env SANDPIT_ADDRESS_POOL)")
    .option("--log-level <level>", "fatal|error|warn|info|debug|trace|silent (env SANDPIT_LOG_LEVEL)")
    .option(
      "--max-timeout-sec <n>",
      "longest sandbox timeout a client may ask for (env SANDPIT_MAX_TIMEOUT_SEC)",
    )
    .option(
      "--pause-warm-ms <n>",
      "how long a paused sandbox stays frozen in RAM (env SANDPIT_PAUSE_WARM_MS)",
    )
    .option(
      "--pause-memory-floor-mb <n>",
      "below this much free host memory, paused sandboxes go to disk early (env SANDPIT_PAUSE_MEMORY_FLOOR_MB)",
    )
    .option(
      "--paused-retention-sec <n>",
      "kill paused sandboxes after this long; 0 keeps them (env SANDPIT_PAUSED_RETENTION_SEC)",
    )
    .action(serve);
}
