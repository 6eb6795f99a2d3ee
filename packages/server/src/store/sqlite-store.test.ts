import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import Database from "better-sqlite3";
import { createSqliteStore } from "./sqlite-store.js";
import type { Store } from "./store.js";
import { runStoreSuite } from "./store-suite.js";

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "sandpit-store-"));
}

runStoreSuite("SQLite", async () => {
  const dir = tempDir();
  const path = join(dir, "state", "sandpit.db");
  return {
    open: async () => createSqliteStore({ path }),
    // The database, its WAL and its shared-memory index: everything SQLite wrote.
    readRawBytes: async () =>
      Buffer.concat(readdirSync(join(dir, "state")).map((name) => readFileSync(join(dir, "state", name)))),
    destroy: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe("SQLite store specifics", () => {
  let dir: string;
  const opened: Store[] = [];
  const open = async (options: Parameters<typeof createSqliteStore>[0]) => {
    const store = createSqliteStore(options);
    opened.push(store);
    await store.migrate();
    return store;
  };

  beforeEach(() => {
    dir = tempDir();
  });

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("creates its directory 0700 and its files 0600, in WAL mode", async () => {
    const path = join(dir, "new", "deeper", "sandpit.db");
    const store = await open({ path });
    await store.ensureTeam("default");
    assert.equal(statSync(join(dir, "new")).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, "new", "deeper")).mode & 0o777, 0o700);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(existsSync(`${path}-wal`), "journal_mode is WAL");
    assert.equal(statSync(`${path}-wal`).mode & 0o777, 0o600);
    assert.equal(statSync(`${path}-shm`).mode & 0o777, 0o600);
  });

  it("tightens an existing file and leaves an existing directory alone", async () => {
    const path = join(dir, "sandpit.db");
    new Database(path).close();
    chmodSync(path, 0o644);
    chmodSync(dir, 0o755);
    await open({ path });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o755);
  });

  it("refuses a file migrated by a newer version", async () => {
    const path = join(dir, "sandpit.db");
    await (await open({ path })).close();
    opened.length = 0;
    const raw = new Database(path);
    raw.prepare("insert into kysely_migration (name, timestamp) values (?, ?)").run("9999_future", "now");
    raw.close();
    const store = createSqliteStore({ path });
    opened.push(store);
    await assert.rejects(store.migrate(), { name: "SandpitError", code: "failed_precondition" });
  });

  it("waits busyTimeoutMs for another process's write lock, then fails with unavailable", async () => {
    const path = join(dir, "sandpit.db");
    const store = await open({ path, busyTimeoutMs: 200 });
    const other = new Database(path);
    try {
      other.exec("begin immediate");
      const started = Date.now();
      await assert.rejects(store.ensureTeam("blocked"), { name: "SandpitError", code: "unavailable" });
      assert.ok(Date.now() - started >= 150, "it waited before giving up");
      other.exec("rollback");
      assert.equal((await store.ensureTeam("blocked")).name, "blocked");
    } finally {
      other.close();
    }
  });

  it("keeps only the newest lines per sandbox", async () => {
    const store = await open({ path: join(dir, "sandpit.db"), maxLogLinesPerSandbox: 5 });
    const team = await store.ensureTeam("default");
    const base = {
      teamId: team.id,
      templateId: "t",
      state: "running",
      secure: false,
      autoPause: false,
      autoResume: false,
      cpuCount: 1,
      memoryMB: 1,
      diskSizeMB: 1,
      envdVersion: "0.2.0",
      runtime: "runc",
      startedAt: 0,
      endAt: 1,
    } as const;
    await store.insertSandbox({ ...base, id: "a", runtimeId: "a" });
    await store.insertSandbox({ ...base, id: "b", runtimeId: "b" });
    for (let i = 0; i < 12; i++)
      await store.appendSandboxLog("a", { timestamp: i, level: "info", message: `a${i}` });
    await store.appendSandboxLog("b", { timestamp: 0, level: "info", message: "b0" });
    assert.deepEqual(
      (await store.listSandboxLogs("a")).map((l) => l.message),
      ["a7", "a8", "a9", "a10", "a11"],
    );
    assert.deepEqual(
      (await store.listSandboxLogs("b")).map((l) => l.message),
      ["b0"],
      "another sandbox's lines are not pruned",
    );
  });

  it("prunes metric samples past the configured retention", async () => {
    const store = await open({ path: join(dir, "sandpit.db"), metricRetentionMs: 10_000 });
    const team = await store.ensureTeam("default");
    await store.insertSandbox({
      id: "m",
      runtimeId: "m",
      teamId: team.id,
      templateId: "t",
      state: "running",
      secure: false,
      autoPause: false,
      autoResume: false,
      cpuCount: 1,
      memoryMB: 1,
      diskSizeMB: 1,
      envdVersion: "0.2.0",
      runtime: "runc",
      startedAt: 0,
      endAt: 1,
    });
    const sample = {
      cpuCount: 1,
      cpuUsedPct: 0,
      memUsed: 0,
      memTotal: 0,
      memCache: 0,
      diskUsed: 0,
      diskTotal: 0,
    };
    for (const timestamp of [0, 5000, 10_000, 15_000, 20_000])
      await store.addMetricSample("m", { ...sample, timestamp });
    assert.deepEqual(
      (await store.listMetricSamples("m", 0, 100_000)).map((m) => m.timestamp),
      [10_000, 15_000, 20_000],
    );
  });

  it("records lastUsedAt at most once a minute and revocation time from its clock", async () => {
    let now = 1_000_000;
    const store = await open({ path: join(dir, "sandpit.db"), now: () => now });
    const team = await store.ensureTeam("default");
    const key = `e2b_${"ab".repeat(20)}`;
    await store.addApiKey(team.id, key);
    const lastUsed = async () => (await store.listApiKeys(team.id))[0]?.lastUsedAt;
    assert.equal(await lastUsed(), null);
    await store.findTeamByApiKey(key);
    assert.equal(await lastUsed(), 1_000_000);
    now += 59_999;
    await store.findTeamByApiKey(key);
    assert.equal(await lastUsed(), 1_000_000);
    now += 1;
    await store.findTeamByApiKey(key);
    assert.equal(await lastUsed(), 1_060_000);
    now += 5;
    assert.equal((await store.revokeApiKey(key.slice(0, 12))).revokedAt, 1_060_005);
  });

  it("works in memory for other components' tests", async () => {
    const store = await open({ path: ":memory:" });
    assert.deepEqual(await store.migrate(), []);
    assert.equal((await store.ensureTeam("default")).name, "default");
  });

  it("reports an unusable path as a SandpitError", () => {
    const file = join(dir, "file");
    rmSync(file, { force: true });
    new Database(file).close();
    assert.throws(() => createSqliteStore({ path: join(file, "inside.db") }), { name: "SandpitError" });
  });
});
