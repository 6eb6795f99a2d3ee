import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { SandpitError } from "@sandpit/protocol";
import {
  createSqliteStore,
  generateApiKey,
  loadConfig,
  type ServerConfig,
  startSandpitServer,
} from "@sandpit/server";

const usage = `usage: sandpit <command> [options]

commands:
  serve                 run the server (API and sandbox proxy on one port)
    --port N            port (default 3000, env SANDPIT_PORT)
    --host H            address to listen on (default 0.0.0.0, env SANDPIT_HOST)
    --data-dir D        store, sandboxes and templates (default /var/lib/sandpit, env SANDPIT_DATA_DIR)
    --api-key K         register K for the default team (repeatable, env SANDPIT_API_KEY)
    --domain D          domain of <port>-<id>.<domain> sandbox hosts (default localhost, env SANDPIT_DOMAIN)
    --runtime R         runsc (gVisor, default) or runc (env SANDPIT_RUNTIME)
    --pool-size N       warm sandboxes kept ready per template (default 0, env SANDPIT_POOL_SIZE)
    --log-level L       fatal|error|warn|info|debug|trace|silent (env SANDPIT_LOG_LEVEL)
  keys create [--team T] [--name N]   create an API key and print it (once)
  keys list [--team T]                list keys (prefixes only)
  keys revoke <id|prefix>             revoke a key
    (keys commands take --data-dir too)
`;

const KEY_FILE = "default-api-key";

function print(line = ""): void {
  process.stdout.write(`${line}\n`);
}

/** The key a first start creates for the default team, kept so later starts can show it again. */
function defaultKey(dataDir: string): string | undefined {
  const file = join(dataDir, KEY_FILE);
  return existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
}

async function ensureDefaultKey(config: ServerConfig): Promise<string | undefined> {
  if (config.apiKeys.length > 0) return config.apiKeys[0];
  const saved = defaultKey(config.dataDir);
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

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      "data-dir": { type: "string" },
      "api-key": { type: "string", multiple: true },
      domain: { type: "string" },
      runtime: { type: "string" },
      "pool-size": { type: "string" },
      "log-level": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    print(usage);
    return 0;
  }
  const config = loadConfig({
    port: values.port,
    host: values.host,
    dataDir: values["data-dir"],
    apiKeys: values["api-key"],
    domain: values.domain,
    runtime: values.runtime as ServerConfig["runtime"] | undefined,
    poolSize: values["pool-size"],
    logLevel: values["log-level"] as ServerConfig["logLevel"] | undefined,
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
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  server.logger.info("stopping; running sandboxes stay for the next start");
  await server.close();
  return 0;
}

async function keys(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { team: { type: "string" }, name: { type: "string" }, "data-dir": { type: "string" } },
  });
  const config = loadConfig({ dataDir: values["data-dir"] });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const store = createSqliteStore({ path: join(config.dataDir, "sandpit.db") });
  try {
    await store.migrate();
    const [action, target] = positionals;
    if (action === "create") {
      const team = await store.ensureTeam(values.team ?? "default");
      const key = generateApiKey();
      await store.addApiKey(team.id, key, values.name);
      print(key);
      return 0;
    }
    if (action === "list") {
      const team = values.team ? await store.findTeamByName(values.team) : undefined;
      if (values.team && !team) throw new SandpitError("not_found", `team '${values.team}' not found`);
      for (const k of await store.listApiKeys(team?.id)) {
        const state = k.revokedAt ? "revoked" : "active";
        print(`${k.id}  ${k.prefix}  team=${k.teamId}  ${state}  ${k.name ?? ""}`.trimEnd());
      }
      return 0;
    }
    if (action === "revoke" && target) {
      const k = await store.revokeApiKey(target);
      print(`revoked ${k.prefix}`);
      return 0;
    }
    process.stderr.write(usage);
    return 2;
  } finally {
    await store.close();
  }
}

/** Runs the `sandpit` command; returns its exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === "serve") return await serve(rest);
    if (command === "keys") return await keys(rest);
    process.stderr.write(usage);
    return command === undefined || command === "help" || command === "--help" ? 0 : 2;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`sandpit: ${message}\n`);
    return 1;
  }
}
