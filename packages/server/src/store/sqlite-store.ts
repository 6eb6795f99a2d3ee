import { randomUUID } from "node:crypto";
import { closeSync, fchmodSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type ErrorCode, SandpitError } from "@sandpit/protocol";
import Database from "better-sqlite3";
import {
  type Expression,
  type ExpressionBuilder,
  type Insertable,
  Kysely,
  Migrator,
  type Selectable,
  type SqlBool,
  SqliteDialect,
  sql,
  type Updateable,
} from "kysely";
import { apiKeyDisplayPrefix, hashApiKey, isApiKeyShape } from "../auth/api-keys.js";
import { decodeListCursor, encodeListCursor } from "./list-cursor.js";
import {
  type ApiKeysTable,
  type SandboxesTable,
  type StoreDatabase,
  sqliteMigrationProvider,
  sqliteMigrations,
  type TeamsTable,
} from "./migrations.js";
import { sandpitErrorFromSqlite, sqliteCodeOf } from "./sqlite-error.js";
import {
  type ApiKeyRecord,
  type ListedState,
  type MetricSample,
  type NewSandbox,
  pauseTiers,
  type SandboxLogLevel,
  type SandboxLogLine,
  type SandboxPatch,
  type SandboxRecord,
  type SandboxState,
  type Store,
  sandboxIdPattern,
  sandboxStates,
  statesListedAs,
  type TeamRecord,
} from "./store.js";

/** Options of `createSqliteStore`. */
export interface SqliteStoreOptions {
  /** Database file, created (0600, in a 0700 directory if that is new) when absent; `:memory:` for tests. */
  readonly path: string;
  /** How long a write waits for another process's lock before failing with `unavailable`. Default 5000. */
  readonly busyTimeoutMs?: number;
  /** Metric samples older than this, relative to a sandbox's newest sample, are dropped. Default 24 h. */
  readonly metricRetentionMs?: number;
  /** Log lines kept per sandbox; older ones are dropped. Default 10000. */
  readonly maxLogLinesPerSandbox?: number;
  /** Clock for createdAt, updatedAt, lastUsedAt and revokedAt; tests pin it. Default Date.now. */
  readonly now?: () => number;
}

const defaultListLimit = 100;
const maxListLimit = 100;
const defaultLogLimit = 1000;
const maxLogLimit = 10_000;
// Authentication would otherwise write on every request; a minute's precision is plenty.
const lastUsedResolutionMs = 60_000;
const logLevels: readonly SandboxLogLevel[] = ["debug", "info", "warn", "error"];

/** A Store on a local SQLite file through Kysely and better-sqlite3: the single-host default. */
export function createSqliteStore(options: SqliteStoreOptions): Store {
  const now = options.now ?? Date.now;
  const metricRetentionMs = options.metricRetentionMs ?? 24 * 60 * 60 * 1000;
  const maxLogLines = options.maxLogLinesPerSandbox ?? 10_000;
  const sqlite = openDatabase(options.path, options.busyTimeoutMs ?? 5000);
  const db = new Kysely<StoreDatabase>({ dialect: new SqliteDialect({ database: sqlite }) });
  let closed = false;

  async function run<T>(operation: () => Promise<T>): Promise<T> {
    if (closed) throw new SandpitError("failed_precondition", "store is closed");
    try {
      return await operation();
    } catch (error) {
      throw sandpitErrorFromSqlite(error);
    }
  }

  async function selectSandbox(id: string): Promise<SandboxRecord | undefined> {
    const row = await db.selectFrom("sandboxes").selectAll().where("id", "=", id).executeTakeFirst();
    return row && sandboxFromRow(row);
  }

  async function selectTeam(column: "id" | "name", value: string): Promise<TeamRecord | undefined> {
    const row = await db.selectFrom("teams").selectAll().where(column, "=", value).executeTakeFirst();
    return row && teamFromRow(row);
  }

  return {
    migrate: () =>
      run(async () => {
        await refuseUnknownMigrations(db);
        const migrator = new Migrator({ db, provider: sqliteMigrationProvider });
        const { error, results } = await migrator.migrateToLatest();
        if (error !== undefined) {
          throw new SandpitError("internal", "store migration failed", { cause: error });
        }
        return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
      }),

    async close() {
      if (closed) return;
      closed = true;
      // Closing the last connection checkpoints the WAL into the main file and removes it.
      await db.destroy().catch((error: unknown) => {
        throw sandpitErrorFromSqlite(error);
      });
    },

    ensureTeam: (name) =>
      run(async () => {
        if (name.trim() === "" || name.length > 200) {
          throw new SandpitError("invalid_argument", "team name must be 1 to 200 characters");
        }
        // Insert-or-ignore then read: two servers ensuring the same team end up with one row.
        await db
          .insertInto("teams")
          .values({ id: randomUUID(), name, created_at: now() })
          .onConflict((oc) => oc.column("name").doNothing())
          .execute();
        const team = await selectTeam("name", name);
        if (!team) throw new SandpitError("internal", `team ${name} vanished while being ensured`);
        return team;
      }),

    getTeam: (id) => run(() => selectTeam("id", id)),

    findTeamByName: (name) => run(() => selectTeam("name", name)),

    addApiKey: (teamId, key, name) =>
      run(async () => {
        if (!isApiKeyShape(key)) {
          throw new SandpitError(
            "invalid_argument",
            "an API key is e2b_ followed by 32 to 128 lowercase hex digits",
          );
        }
        if (!(await selectTeam("id", teamId)))
          throw new SandpitError("not_found", `team ${teamId} not found`);
        const hash = hashApiKey(key);
        await db
          .insertInto("api_keys")
          .values({
            id: randomUUID(),
            team_id: teamId,
            hash,
            prefix: apiKeyDisplayPrefix(key),
            name: name ?? null,
            created_at: now(),
            last_used_at: null,
            revoked_at: null,
          })
          .onConflict((oc) => oc.column("hash").doNothing())
          .execute();
        const row = await db
          .selectFrom("api_keys")
          .selectAll()
          .where("hash", "=", hash)
          .executeTakeFirstOrThrow();
        if (row.team_id !== teamId) {
          throw new SandpitError("already_exists", "this API key is registered to another team");
        }
        // A revoked key stays revoked, even when a restart re-registers it from old config.
        if (row.revoked_at !== null)
          throw new SandpitError("failed_precondition", "this API key was revoked");
        return apiKeyFromRow(row);
      }),

    findTeamByApiKey: (key) =>
      run(async () => {
        if (!isApiKeyShape(key)) return undefined;
        const row = await db
          .selectFrom("api_keys")
          .innerJoin("teams", "teams.id", "api_keys.team_id")
          .select([
            "api_keys.id as key_id",
            "api_keys.last_used_at",
            "teams.id",
            "teams.name",
            "teams.created_at",
          ])
          .where("api_keys.hash", "=", hashApiKey(key))
          .where("api_keys.revoked_at", "is", null)
          .executeTakeFirst();
        if (!row) return undefined;
        const at = now();
        if (row.last_used_at === null || at - row.last_used_at >= lastUsedResolutionMs) {
          await db.updateTable("api_keys").set({ last_used_at: at }).where("id", "=", row.key_id).execute();
        }
        return teamFromRow(row);
      }),

    listApiKeys: (teamId) =>
      run(async () => {
        let query = db.selectFrom("api_keys").selectAll().orderBy("created_at").orderBy("id");
        if (teamId !== undefined) query = query.where("team_id", "=", teamId);
        return (await query.execute()).map(apiKeyFromRow);
      }),

    revokeApiKey: (idOrPrefix) =>
      run(async () => {
        // Accept the prefix as listings show it, with the ellipsis a user may paste along.
        const needle = idOrPrefix.replace(/…$/, "");
        const rows = await db
          .selectFrom("api_keys")
          .selectAll()
          .where((eb) => eb.or([eb("id", "=", needle), eb("prefix", "=", needle)]))
          .execute();
        const [row, ...others] = rows;
        if (!row) throw new SandpitError("not_found", `no API key with id or prefix ${needle}`);
        if (others.length > 0) {
          throw new SandpitError(
            "invalid_argument",
            `prefix ${needle} matches ${rows.length} keys; name one by id`,
          );
        }
        if (row.revoked_at !== null) return apiKeyFromRow(row);
        const revoked = await db
          .updateTable("api_keys")
          .set({ revoked_at: now() })
          .where("id", "=", row.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return apiKeyFromRow(revoked);
      }),

    insertSandbox: (sandbox) =>
      run(async () => {
        if (!sandboxIdPattern.test(sandbox.id)) {
          throw new SandpitError("invalid_argument", "a sandbox id is lowercase letters and digits");
        }
        assertState(sandbox.state);
        const at = now();
        try {
          const row = await db
            .insertInto("sandboxes")
            .values(sandboxToRow(sandbox, at))
            .returningAll()
            .executeTakeFirstOrThrow();
          return sandboxFromRow(row);
        } catch (error) {
          const code = sqliteCodeOf(error);
          if (code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
            throw new SandpitError("already_exists", `sandbox ${sandbox.id} already exists`, {
              cause: error,
            });
          }
          if (code === "SQLITE_CONSTRAINT_FOREIGNKEY") {
            throw new SandpitError("not_found", `team ${sandbox.teamId} not found`, { cause: error });
          }
          throw error;
        }
      }),

    getSandbox: (id) => run(() => selectSandbox(id)),

    updateSandbox: (id, patch, options) =>
      run(async () => {
        if (patch.state !== undefined) assertState(patch.state);
        const expected = options?.expectState === undefined ? undefined : [options.expectState].flat();
        // One statement does the check and the write, so the check cannot go stale in between,
        // neither against this process nor against another one on the same file.
        let query = db
          .updateTable("sandboxes")
          .set({ ...sandboxPatchToRow(patch), updated_at: now() })
          .where("id", "=", id);
        if (expected !== undefined) {
          query = expected.length > 0 ? query.where("state", "in", expected) : query.where(sql.lit(false));
        }
        const row = await query.returningAll().executeTakeFirst();
        if (row) return sandboxFromRow(row);
        const current = await selectSandbox(id);
        if (!current) throw new SandpitError("not_found", `sandbox ${id} not found`);
        throw new SandpitError(
          "failed_precondition",
          `sandbox ${id} is ${current.state}, not ${(expected ?? []).join(" or ") || "any expected state"}`,
        );
      }),

    deleteSandbox: (id) =>
      run(async () => {
        const result = await db.deleteFrom("sandboxes").where("id", "=", id).executeTakeFirst();
        return result.numDeletedRows > 0n;
      }),

    listAllSandboxes: () =>
      run(async () => {
        const rows = await db
          .selectFrom("sandboxes")
          .selectAll()
          .orderBy("created_at")
          .orderBy("id")
          .execute();
        return rows.map(sandboxFromRow);
      }),

    listSandboxes: (query) =>
      run(async () => {
        const order = query.order ?? "desc";
        if (order !== "asc" && order !== "desc")
          throw new SandpitError("invalid_argument", "order is asc or desc");
        const limit = query.limit ?? defaultListLimit;
        if (!Number.isInteger(limit) || limit < 1 || limit > maxListLimit) {
          throw new SandpitError("invalid_argument", `limit must be an integer from 1 to ${maxListLimit}`);
        }
        if (query.startedAfter !== undefined && !Number.isFinite(query.startedAfter)) {
          throw new SandpitError("invalid_argument", "startedAfter must be a time");
        }
        const cursor = query.cursor === undefined ? undefined : decodeListCursor(query.cursor, order);
        const listed: readonly ListedState[] =
          query.states === undefined || query.states.length === 0 ? ["running", "paused"] : query.states;
        for (const state of listed) {
          if (state !== "running" && state !== "paused") {
            throw new SandpitError("invalid_argument", "state is running or paused");
          }
        }
        const states = [...new Set(listed.flatMap(statesListedAs))];
        const runningStates = statesListedAs("running").filter((s) => states.includes(s));

        // The filters of the query without its paging; shared by the page and the running count.
        const matching = (eb: ExpressionBuilder<StoreDatabase, "sandboxes">, inStates: SandboxState[]) => {
          const conditions: Expression<SqlBool>[] = [
            eb("team_id", "=", query.teamId),
            eb("state", "in", inStates),
          ];
          if (query.template !== undefined) {
            conditions.push(
              eb.or([eb("template_id", "=", query.template), eb("alias", "=", query.template)]),
            );
          }
          if (query.startedAfter !== undefined) conditions.push(eb("started_at", ">=", query.startedAfter));
          // json_each rather than json_extract: a JSON path cannot quote every possible key.
          for (const [key, value] of Object.entries(query.metadata ?? {})) {
            conditions.push(
              sql<SqlBool>`exists (select 1 from json_each(${eb.ref("sandboxes.metadata")}) as m where m.key = ${key} and m.type = 'text' and m.value = ${value})`,
            );
          }
          return eb.and(conditions);
        };

        let page = db
          .selectFrom("sandboxes")
          .selectAll()
          .where((eb) => matching(eb, states));
        if (cursor !== undefined) {
          // desc walks startedAt down and id up; asc is the exact reverse.
          const [time, tie] = order === "desc" ? (["<", ">"] as const) : ([">", "<"] as const);
          page = page.where((eb) =>
            eb.or([
              eb("started_at", time, cursor.startedAt),
              eb.and([eb("started_at", "=", cursor.startedAt), eb("id", tie, cursor.id)]),
            ]),
          );
        }
        page =
          order === "desc"
            ? page.orderBy("started_at", "desc").orderBy("id", "asc")
            : page.orderBy("started_at", "asc").orderBy("id", "desc");
        // One row more than asked tells whether another page exists without a second query.
        const rows = await page.limit(limit + 1).execute();
        const items = rows.slice(0, limit).map(sandboxFromRow);
        const last = items.at(-1);
        const nextCursor =
          rows.length > limit && last
            ? encodeListCursor({ order, startedAt: last.startedAt, id: last.id })
            : undefined;

        let runningCount = 0;
        if (runningStates.length > 0) {
          const counted = await db
            .selectFrom("sandboxes")
            .select((eb) => eb.fn.countAll<number>().as("count"))
            .where((eb) => matching(eb, runningStates))
            .executeTakeFirstOrThrow();
          runningCount = Number(counted.count);
        }
        return nextCursor === undefined ? { items, runningCount } : { items, nextCursor, runningCount };
      }),

    addMetricSample: (sandboxId, sample) =>
      run(async () => {
        for (const [field, value] of Object.entries(sample)) {
          if (typeof value !== "number" || !Number.isFinite(value)) {
            throw new SandpitError("invalid_argument", `metric ${field} must be a finite number`);
          }
        }
        try {
          await db.transaction().execute(async (trx) => {
            await trx
              .replaceInto("sandbox_metrics")
              .values({
                sandbox_id: sandboxId,
                timestamp: sample.timestamp,
                cpu_count: sample.cpuCount,
                cpu_used_pct: sample.cpuUsedPct,
                mem_used: sample.memUsed,
                mem_total: sample.memTotal,
                mem_cache: sample.memCache,
                disk_used: sample.diskUsed,
                disk_total: sample.diskTotal,
              })
              .execute();
            // Pruning per insert keeps each sandbox's history bounded without a separate sweeper.
            await trx
              .deleteFrom("sandbox_metrics")
              .where("sandbox_id", "=", sandboxId)
              .where("timestamp", "<", sample.timestamp - metricRetentionMs)
              .execute();
          });
        } catch (error) {
          throw missingSandboxAsNotFound(error, sandboxId);
        }
      }),

    listMetricSamples: (sandboxId, fromMs, toMs) =>
      run(async () => {
        const rows = await db
          .selectFrom("sandbox_metrics")
          .selectAll()
          .where("sandbox_id", "=", sandboxId)
          .where("timestamp", ">=", fromMs)
          .where("timestamp", "<=", toMs)
          .orderBy("timestamp")
          .execute();
        return rows.map(
          (row): MetricSample => ({
            timestamp: row.timestamp,
            cpuCount: row.cpu_count,
            cpuUsedPct: row.cpu_used_pct,
            memUsed: row.mem_used,
            memTotal: row.mem_total,
            memCache: row.mem_cache,
            diskUsed: row.disk_used,
            diskTotal: row.disk_total,
          }),
        );
      }),

    appendSandboxLog: (sandboxId, line) =>
      run(async () => {
        if (!logLevels.includes(line.level)) {
          throw new SandpitError("invalid_argument", `log level is one of ${logLevels.join(", ")}`);
        }
        try {
          await db.transaction().execute(async (trx) => {
            await trx
              .insertInto("sandbox_logs")
              .values({
                sandbox_id: sandboxId,
                timestamp: line.timestamp,
                level: line.level,
                message: line.message,
              })
              .execute();
            // The newest maxLogLines lines survive; the subquery finds the newest line to drop.
            await trx
              .deleteFrom("sandbox_logs")
              .where("sandbox_id", "=", sandboxId)
              .where(
                "seq",
                "<=",
                trx
                  .selectFrom("sandbox_logs")
                  .select("seq")
                  .where("sandbox_id", "=", sandboxId)
                  .orderBy("seq", "desc")
                  .limit(1)
                  .offset(maxLogLines),
              )
              .execute();
          });
        } catch (error) {
          throw missingSandboxAsNotFound(error, sandboxId);
        }
      }),

    listSandboxLogs: (sandboxId, options = {}) =>
      run(async () => {
        const limit = options.limit ?? defaultLogLimit;
        if (!Number.isInteger(limit) || limit < 1 || limit > maxLogLimit) {
          throw new SandpitError("invalid_argument", `limit must be an integer from 1 to ${maxLogLimit}`);
        }
        let query = db
          .selectFrom("sandbox_logs")
          .select(["timestamp", "level", "message"])
          .where("sandbox_id", "=", sandboxId)
          .orderBy("timestamp")
          .orderBy("seq")
          .limit(limit);
        if (options.start !== undefined) query = query.where("timestamp", ">=", options.start);
        const rows = await query.execute();
        return rows.map(
          (row): SandboxLogLine => ({
            timestamp: row.timestamp,
            level: row.level as SandboxLogLevel,
            message: row.message,
          }),
        );
      }),
  };
}

/** Opens the file with the pragmas the store relies on, creating it private to this user first. */
function openDatabase(path: string, busyTimeoutMs: number): Database.Database {
  try {
    if (path !== ":memory:") {
      const file = resolve(path);
      // The file holds access tokens and env vars: a directory we create is ours alone, and the
      // file is created 0600 (and tightened if it exists) before SQLite writes anything to it.
      // SQLite gives its -wal and -shm files the main file's permissions.
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      const fd = openSync(file, "a", 0o600);
      try {
        fchmodSync(fd, 0o600);
      } finally {
        closeSync(fd);
      }
    }
    const sqlite = new Database(path);
    // WAL lets readers proceed during a write; NORMAL sync is durable across crashes of this
    // process in WAL mode and avoids an fsync per commit.
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = NORMAL");
    sqlite.pragma(`busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
    // SQLite leaves foreign keys off per connection unless asked; the cascades depend on them.
    sqlite.pragma("foreign_keys = ON");
    return sqlite;
  } catch (error) {
    throw fileError(error, path);
  }
}

// Platform errors become Sandpit's codes where they enter (STYLE.md).
function fileError(error: unknown, path: string): SandpitError {
  if (sqliteCodeOf(error) !== undefined) return sandpitErrorFromSqlite(error);
  const errno = error instanceof Error ? (error as NodeJS.ErrnoException).code : undefined;
  const code: ErrorCode =
    errno === "EACCES" || errno === "EPERM"
      ? "permission_denied"
      : errno === "ENOENT"
        ? "not_found"
        : "internal";
  return new SandpitError(code, `cannot open the store at ${path}`, { cause: error });
}

// Kysely's Migrator would also fail, but with a message that does not say what to do.
async function refuseUnknownMigrations(db: Kysely<StoreDatabase>): Promise<void> {
  const table = await sql<{
    name: string;
  }>`select name from sqlite_master where type = 'table' and name = 'kysely_migration'`.execute(db);
  if (table.rows.length === 0) return;
  const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
  const unknown = applied.rows.map((r) => r.name).filter((name) => !Object.hasOwn(sqliteMigrations, name));
  if (unknown.length > 0) {
    throw new SandpitError(
      "failed_precondition",
      `the store was migrated by a newer Sandpit (unknown migrations: ${unknown.join(", ")}); upgrade the server`,
    );
  }
}

function missingSandboxAsNotFound(error: unknown, sandboxId: string): unknown {
  return sqliteCodeOf(error) === "SQLITE_CONSTRAINT_FOREIGNKEY"
    ? new SandpitError("not_found", `sandbox ${sandboxId} not found`, { cause: error })
    : error;
}

function assertState(state: string): asserts state is SandboxState {
  if (!(sandboxStates as readonly string[]).includes(state)) {
    throw new SandpitError("invalid_argument", `unknown sandbox state ${state}`);
  }
}

function teamFromRow(row: Selectable<TeamsTable>): TeamRecord {
  return { id: row.id, name: row.name, createdAt: row.created_at };
}

function apiKeyFromRow(row: Selectable<ApiKeysTable>): ApiKeyRecord {
  return {
    id: row.id,
    teamId: row.team_id,
    prefix: row.prefix,
    name: row.name,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

function sandboxFromRow(row: Selectable<SandboxesTable>): SandboxRecord {
  return {
    id: row.id,
    teamId: row.team_id,
    templateId: row.template_id,
    alias: row.alias,
    state: row.state as SandboxState,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    envVars: JSON.parse(row.env_vars) as Record<string, string>,
    accessToken: row.access_token,
    trafficAccessToken: row.traffic_access_token,
    secure: row.secure !== 0,
    allowInternetAccess: row.allow_internet_access === null ? null : row.allow_internet_access !== 0,
    autoPause: row.auto_pause !== 0,
    autoPauseMemory: row.auto_pause_memory !== 0,
    autoResume: row.auto_resume !== 0,
    cpuCount: row.cpu_count,
    memoryMB: row.memory_mb,
    diskSizeMB: row.disk_size_mb,
    envdVersion: row.envd_version,
    runtime: row.runtime,
    runtimeId: row.runtime_id,
    address: row.address,
    startedAt: row.started_at,
    endAt: row.end_at,
    pausedAt: row.paused_at,
    pauseTier: pauseTiers.find((t) => t === row.pause_tier) ?? null,
    checkpointPath: row.checkpoint_path,
    layerPath: row.layer_path,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

// Column of each patchable field; `satisfies` makes adding a field to SandboxPatch a compile error here.
const sandboxColumns = {
  templateId: "template_id",
  alias: "alias",
  state: "state",
  metadata: "metadata",
  envVars: "env_vars",
  accessToken: "access_token",
  trafficAccessToken: "traffic_access_token",
  secure: "secure",
  allowInternetAccess: "allow_internet_access",
  autoPause: "auto_pause",
  autoPauseMemory: "auto_pause_memory",
  autoResume: "auto_resume",
  cpuCount: "cpu_count",
  memoryMB: "memory_mb",
  diskSizeMB: "disk_size_mb",
  envdVersion: "envd_version",
  runtime: "runtime",
  runtimeId: "runtime_id",
  address: "address",
  startedAt: "started_at",
  endAt: "end_at",
  pausedAt: "paused_at",
  pauseTier: "pause_tier",
  checkpointPath: "checkpoint_path",
  layerPath: "layer_path",
} as const satisfies Record<keyof SandboxPatch, keyof SandboxesTable>;

// SQLite has no boolean and better-sqlite3 refuses to bind one; maps are stored as JSON text.
function columnValue(value: unknown): unknown {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value !== null && typeof value === "object") return JSON.stringify(value);
  return value;
}

function sandboxPatchToRow(patch: SandboxPatch): Updateable<SandboxesTable> {
  const row: Record<string, unknown> = {};
  for (const [field, column] of Object.entries(sandboxColumns)) {
    const value = patch[field as keyof SandboxPatch];
    if (value !== undefined) row[column] = columnValue(value);
  }
  return row as Updateable<SandboxesTable>;
}

function sandboxToRow(sandbox: NewSandbox, at: number): Insertable<SandboxesTable> {
  const complete: Omit<SandboxRecord, "id" | "teamId" | "createdAt" | "updatedAt"> = {
    ...sandbox,
    alias: sandbox.alias ?? null,
    metadata: sandbox.metadata ?? {},
    envVars: sandbox.envVars ?? {},
    accessToken: sandbox.accessToken ?? null,
    trafficAccessToken: sandbox.trafficAccessToken ?? null,
    allowInternetAccess: sandbox.allowInternetAccess ?? null,
    autoPauseMemory: sandbox.autoPauseMemory ?? true,
    address: sandbox.address ?? null,
    pausedAt: sandbox.pausedAt ?? null,
    pauseTier: sandbox.pauseTier ?? null,
    checkpointPath: sandbox.checkpointPath ?? null,
    layerPath: sandbox.layerPath ?? null,
  };
  return {
    ...(sandboxPatchToRow(complete) as Insertable<SandboxesTable>),
    id: sandbox.id,
    team_id: sandbox.teamId,
    created_at: at,
    updated_at: at,
  };
}
