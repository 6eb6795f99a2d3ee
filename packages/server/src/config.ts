import { SandpitError } from "@sandpit/protocol";
import { z } from "zod";

const port = z.coerce.number().int().min(0).max(65_535);
const count = z.coerce.number().int().min(0);
const bool = z
  .union([z.boolean(), z.enum(["true", "false", "1", "0", "yes", "no"])])
  .transform((v) => v === true || v === "true" || v === "1" || v === "yes");

const configSchema = z.object({
  /** TCP port of the API and the sandbox proxy (0 picks a free one). */
  port: port.default(3000),
  host: z.string().min(1).default("0.0.0.0"),
  /** The store, the sandboxes' writable layers and the runtime's state live here. */
  dataDir: z.string().min(1).default("/var/lib/sandpit"),
  /** Shared template cache; default `<dataDir>/templates`. */
  templatesDir: z.string().min(1).optional(),
  /** Keys registered for the default team at start. */
  apiKeys: z
    .array(z.string().regex(/^e2b_[0-9a-f]{32,128}$/, "an API key is e2b_ and 32 to 128 hex digits"))
    .default([]),
  /** Base of `<port>-<id>.<domain>` host routing, returned to clients as `domain`. */
  domain: z
    .string()
    .regex(/^[a-z0-9.-]+(:\d+)?$/i, "domain is a host name")
    .default("localhost"),
  runtime: z.enum(["runsc", "runc"]).default("runsc"),
  /** Warm sandboxes kept started per template. */
  poolSize: count.max(200).default(0),
  /** Names the runtime's namespaces, chains and cgroups (one per server on a host). */
  prefix: z
    .string()
    .regex(/^[a-z][a-z0-9]{0,15}$/)
    .default("sandpit"),
  addressPool: z.string().default("10.200.0.0/16"),
  /** Where the agent bundle is (agent.mjs, node and its libraries). */
  agentDir: z.string().min(1).optional(),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** How often each sandbox's usage is sampled for GET /sandboxes/{id}/metrics. */
  metricsIntervalMs: z.coerce.number().int().min(100).default(5000),
  /** Longest sandbox life a create or set-timeout may ask for. */
  maxTimeoutSec: z.coerce.number().int().min(1).default(86_400),
  /** Largest request body the API accepts. */
  bodyLimitBytes: z.coerce.number().int().min(1024).default(1_048_576),
  /**
   * How long a paused sandbox stays frozen with its memory in RAM before it is checkpointed to
   * disk (gVisor). 30 s: most resumes follow a pause within seconds (an idle client, a laptop
   * lid), and those then thaw in a millisecond; past that the RAM is worth more to others.
   */
  pauseWarmMs: z.coerce.number().int().min(0).default(30_000),
  /** Below this much MemAvailable on the host, frozen sandboxes move to disk before their grace ends. */
  pauseMemoryFloorMB: z.coerce.number().int().min(0).default(2048),
  /** How long a paused sandbox is kept before it is killed; 0 keeps it until killed. */
  pausedRetentionSec: z.coerce.number().int().min(0).default(0),
  /** runc only: no_new_privs (default on; sudo then cannot elevate inside a sandbox). */
  noNewPrivileges: bool.default(true),
});

/** The server's validated, frozen configuration. */
export type ServerConfig = Readonly<z.infer<typeof configSchema>>;

/** What a caller may set; the rest takes defaults. */
export type ServerConfigInput = z.input<typeof configSchema>;

const envNames: Record<string, keyof ServerConfigInput> = {
  SANDPIT_PORT: "port",
  SANDPIT_HOST: "host",
  SANDPIT_DATA_DIR: "dataDir",
  SANDPIT_TEMPLATES_DIR: "templatesDir",
  SANDPIT_DOMAIN: "domain",
  SANDPIT_RUNTIME: "runtime",
  SANDPIT_POOL_SIZE: "poolSize",
  SANDPIT_PREFIX: "prefix",
  SANDPIT_ADDRESS_POOL: "addressPool",
  SANDPIT_AGENT_DIR: "agentDir",
  SANDPIT_LOG_LEVEL: "logLevel",
  SANDPIT_METRICS_INTERVAL_MS: "metricsIntervalMs",
  SANDPIT_MAX_TIMEOUT_SEC: "maxTimeoutSec",
  SANDPIT_NO_NEW_PRIVILEGES: "noNewPrivileges",
  SANDPIT_PAUSE_WARM_MS: "pauseWarmMs",
  SANDPIT_PAUSE_MEMORY_FLOOR_MB: "pauseMemoryFloorMB",
  SANDPIT_PAUSED_RETENTION_SEC: "pausedRetentionSec",
};

/**
 * Reads the configuration once: explicit values (CLI flags) override `SANDPIT_*` variables,
 * which override defaults. `SANDPIT_API_KEY` may hold several keys separated by commas.
 */
export function loadConfig(
  explicit: Partial<ServerConfigInput> = {},
  env: NodeJS.ProcessEnv = process.env,
): ServerConfig {
  const fromEnv: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(envNames)) {
    const value = env[name];
    if (value !== undefined && value !== "") fromEnv[key] = value;
  }
  const envKeys = (env.SANDPIT_API_KEY ?? "")
    .split(",")
    .map((k) => k.trim())
    .filter(Boolean);
  const defined = Object.fromEntries(Object.entries(explicit).filter(([, v]) => v !== undefined));
  const merged = { ...fromEnv, ...defined, apiKeys: [...envKeys, ...(explicit.apiKeys ?? [])] };
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join(".") ?? "config";
    throw new SandpitError("invalid_argument", `invalid setting ${where}: ${issue?.message ?? "bad value"}`);
  }
  return Object.freeze({
    ...parsed.data,
    apiKeys: Object.freeze([...new Set(parsed.data.apiKeys)]),
  }) as ServerConfig;
}
