import { type Generated, type Kysely, type Migration, type MigrationProvider, sql } from "kysely";

/**
 * The SQLite schema, as row types for Kysely, and the migrations that build it. Migrations are
 * append-only: never edit one that has shipped, add `0002_…` instead. Names sort as strings, which
 * is the order Kysely's Migrator applies them in.
 */

/** Row of `teams`. */
export interface TeamsTable {
  id: string;
  name: string;
  created_at: number;
}

/** Row of `api_keys`; `hash` is SHA-256 hex of the key, the key itself is never stored. */
export interface ApiKeysTable {
  id: string;
  team_id: string;
  hash: string;
  prefix: string;
  name: string | null;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

/** Row of `sandboxes`; booleans are 0/1, maps are JSON text, times are epoch ms. */
export interface SandboxesTable {
  id: string;
  team_id: string;
  template_id: string;
  alias: string | null;
  state: string;
  metadata: string;
  env_vars: string;
  access_token: string | null;
  secure: number;
  allow_internet_access: number | null;
  auto_pause: number;
  auto_pause_memory: number;
  traffic_access_token: string | null;
  auto_resume: number;
  cpu_count: number;
  memory_mb: number;
  disk_size_mb: number;
  envd_version: string;
  runtime: string;
  runtime_id: string;
  address: string | null;
  started_at: number;
  end_at: number;
  paused_at: number | null;
  created_at: number;
  updated_at: number;
  pause_tier: string | null;
  checkpoint_path: string | null;
  layer_path: string | null;
}

/** Row of `sandbox_metrics`; one per sandbox and timestamp. */
export interface SandboxMetricsTable {
  sandbox_id: string;
  timestamp: number;
  cpu_count: number;
  cpu_used_pct: number;
  mem_used: number;
  mem_total: number;
  mem_cache: number;
  disk_used: number;
  disk_total: number;
}

/** Row of `sandbox_logs`; `seq` keeps insertion order among lines with equal timestamps. */
export interface SandboxLogsTable {
  seq: Generated<number>;
  sandbox_id: string;
  timestamp: number;
  level: string;
  message: string;
}

/** The whole schema, for `Kysely<StoreDatabase>`. */
export interface StoreDatabase {
  teams: TeamsTable;
  api_keys: ApiKeysTable;
  sandboxes: SandboxesTable;
  sandbox_metrics: SandboxMetricsTable;
  sandbox_logs: SandboxLogsTable;
}

// Migrations see the database as it was when they were written, not as StoreDatabase says now.
const initial: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("teams")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("name", "text", (c) => c.notNull().unique())
      .addColumn("created_at", "integer", (c) => c.notNull())
      .execute();

    await db.schema
      .createTable("api_keys")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("team_id", "text", (c) => c.notNull().references("teams.id").onDelete("cascade"))
      .addColumn("hash", "text", (c) => c.notNull().unique())
      .addColumn("prefix", "text", (c) => c.notNull())
      .addColumn("name", "text")
      .addColumn("created_at", "integer", (c) => c.notNull())
      .addColumn("last_used_at", "integer")
      .addColumn("revoked_at", "integer")
      .execute();
    await db.schema.createIndex("api_keys_team_id").on("api_keys").column("team_id").execute();
    await db.schema.createIndex("api_keys_prefix").on("api_keys").column("prefix").execute();

    // No CHECK on state: SQLite cannot alter one without rebuilding the table; the store validates.
    await db.schema
      .createTable("sandboxes")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("team_id", "text", (c) => c.notNull().references("teams.id"))
      .addColumn("template_id", "text", (c) => c.notNull())
      .addColumn("alias", "text")
      .addColumn("state", "text", (c) => c.notNull())
      .addColumn("metadata", "text", (c) => c.notNull().defaultTo("{}"))
      .addColumn("env_vars", "text", (c) => c.notNull().defaultTo("{}"))
      .addColumn("access_token", "text")
      .addColumn("secure", "integer", (c) => c.notNull())
      .addColumn("allow_internet_access", "integer")
      .addColumn("auto_pause", "integer", (c) => c.notNull())
      .addColumn("auto_resume", "integer", (c) => c.notNull())
      .addColumn("cpu_count", "integer", (c) => c.notNull())
      .addColumn("memory_mb", "integer", (c) => c.notNull())
      .addColumn("disk_size_mb", "integer", (c) => c.notNull())
      .addColumn("envd_version", "text", (c) => c.notNull())
      .addColumn("runtime", "text", (c) => c.notNull())
      .addColumn("runtime_id", "text", (c) => c.notNull())
      .addColumn("address", "text")
      .addColumn("started_at", "integer", (c) => c.notNull())
      .addColumn("end_at", "integer", (c) => c.notNull())
      .addColumn("paused_at", "integer")
      .addColumn("created_at", "integer", (c) => c.notNull())
      .addColumn("updated_at", "integer", (c) => c.notNull())
      .execute();
    // Serves the list query: team filter, then the (startedAt, id) keyset in either direction.
    await db.schema
      .createIndex("sandboxes_team_started")
      .on("sandboxes")
      .columns(["team_id", "started_at", "id"])
      .execute();

    await db.schema
      .createTable("sandbox_metrics")
      .addColumn("sandbox_id", "text", (c) => c.notNull().references("sandboxes.id").onDelete("cascade"))
      .addColumn("timestamp", "integer", (c) => c.notNull())
      .addColumn("cpu_count", "integer", (c) => c.notNull())
      .addColumn("cpu_used_pct", "real", (c) => c.notNull())
      .addColumn("mem_used", "integer", (c) => c.notNull())
      .addColumn("mem_total", "integer", (c) => c.notNull())
      .addColumn("mem_cache", "integer", (c) => c.notNull())
      .addColumn("disk_used", "integer", (c) => c.notNull())
      .addColumn("disk_total", "integer", (c) => c.notNull())
      .addPrimaryKeyConstraint("sandbox_metrics_pk", ["sandbox_id", "timestamp"])
      // Rows are only ever reached through the primary key, so cluster them on it.
      .modifyEnd(sql`without rowid`)
      .execute();

    await db.schema
      .createTable("sandbox_logs")
      .addColumn("seq", "integer", (c) => c.primaryKey().autoIncrement())
      .addColumn("sandbox_id", "text", (c) => c.notNull().references("sandboxes.id").onDelete("cascade"))
      .addColumn("timestamp", "integer", (c) => c.notNull())
      .addColumn("level", "text", (c) => c.notNull())
      .addColumn("message", "text", (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex("sandbox_logs_sandbox_time")
      .on("sandbox_logs")
      .columns(["sandbox_id", "timestamp", "seq"])
      .execute();
    // Pruning drops the oldest lines by seq; this also serves the cascade from sandboxes.
    await db.schema
      .createIndex("sandbox_logs_sandbox_seq")
      .on("sandbox_logs")
      .columns(["sandbox_id", "seq"])
      .execute();
  },
};

// Where a paused sandbox's memory is and where its checkpoint and writable layer live, so a
// restarted server finds them even when the host's runtime state is gone.
const pauseTiers: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable("sandboxes").addColumn("pause_tier", "text").execute();
    await db.schema.alterTable("sandboxes").addColumn("checkpoint_path", "text").execute();
    await db.schema.alterTable("sandboxes").addColumn("layer_path", "text").execute();
  },
};

// Whether the pause at the end of life keeps memory; older rows did.
const autoPauseMemory: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .alterTable("sandboxes")
      .addColumn("auto_pause_memory", "integer", (c) => c.notNull().defaultTo(1))
      .execute();
  },
};

// The token of sandboxes whose ports are not public (network.allowPublicTraffic false).
const trafficAccessToken: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable("sandboxes").addColumn("traffic_access_token", "text").execute();
  },
};

/** Every SQLite migration by name, in the order they apply. */
export const sqliteMigrations: Readonly<Record<string, Migration>> = {
  "0001_initial": initial,
  "0002_pause_tiers": pauseTiers,
  "0003_auto_pause_memory": autoPauseMemory,
  "0004_traffic_access_token": trafficAccessToken,
};

/** Hands the in-code migrations to Kysely's Migrator (no migration files to find at run time). */
export const sqliteMigrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve({ ...sqliteMigrations }),
};
