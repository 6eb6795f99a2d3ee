import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import { generateApiKey, hashApiKey } from "../auth/api-keys.js";
import type {
  ListSandboxesQuery,
  MetricSample,
  NewSandbox,
  SandboxRecord,
  SandboxState,
  Store,
  TeamRecord,
} from "./store.js";

/**
 * What an implementation hands the shared suite: fresh, empty backing data per test and a way to
 * open more connections to it, so the suite can test reopening and cross-connection races.
 */
export interface StoreHarness {
  /** A new, unmigrated store over this harness's data; the suite migrates and closes it. */
  open(): Promise<Store>;
  /** Every byte the store has persisted, to prove secrets are not among them; omit if unreachable. */
  readRawBytes?(): Promise<Buffer>;
  /** Removes the backing data. */
  destroy(): Promise<void>;
}

/** Registers the tests every Store implementation must pass (SQLite now, Postgres later). */
export function runStoreSuite(name: string, createHarness: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${name}`, () => {
    let harness: StoreHarness;
    let store: Store;
    let applied: string[];
    const extraStores: Store[] = [];

    async function openAnother(): Promise<Store> {
      const other = await harness.open();
      extraStores.push(other);
      await other.migrate();
      return other;
    }

    beforeEach(async () => {
      harness = await createHarness();
      store = await harness.open();
      applied = await store.migrate();
    });

    afterEach(async () => {
      for (const other of extraStores.splice(0)) await other.close();
      await store.close();
      await harness.destroy();
    });

    const code = (c: string) => ({ name: "SandpitError", code: c });

    let seq = 0;
    function sandbox(teamId: string, overrides: Partial<NewSandbox> = {}): NewSandbox {
      seq += 1;
      return {
        id: `sbx${seq}`,
        runtimeId: `sbx${seq}`,
        teamId,
        templateId: "tpl1",
        alias: "base",
        state: "running",
        secure: true,
        accessToken: "token",
        autoPause: false,
        autoResume: false,
        cpuCount: 2,
        memoryMB: 512,
        diskSizeMB: 1024,
        envdVersion: "0.2.0",
        runtime: "runsc",
        startedAt: 1_767_323_045_678,
        endAt: 1_767_323_060_678,
        ...overrides,
      };
    }

    function sample(timestamp: number): MetricSample {
      return {
        timestamp,
        cpuCount: 2,
        cpuUsedPct: 12.5,
        memUsed: 3 * 2 ** 30,
        memTotal: 8 * 2 ** 30,
        memCache: 1024,
        diskUsed: 5 * 2 ** 30,
        diskTotal: 20 * 2 ** 30,
      };
    }

    async function listAll(query: ListSandboxesQuery): Promise<{ ids: string[]; pages: number }> {
      const ids: string[] = [];
      let cursor = query.cursor;
      let pages = 0;
      do {
        const page = await store.listSandboxes({ ...query, cursor });
        pages += 1;
        ids.push(...page.items.map((s) => s.id));
        cursor = page.nextCursor;
        assert.ok(pages <= 100, "pagination does not end");
      } while (cursor !== undefined);
      return { ids, pages };
    }

    describe("migrations", () => {
      it("apply once, in name order, and a reopened store migrates nothing and keeps its data", async () => {
        assert.ok(applied.length > 0, "a fresh store applies its migrations");
        assert.deepEqual([...applied].sort(), applied);
        const team = await store.ensureTeam("default");
        await store.insertSandbox(sandbox(team.id, { id: "keepme" }));
        assert.deepEqual(await store.migrate(), []);
        await store.close();

        store = await harness.open();
        assert.deepEqual(await store.migrate(), []);
        assert.deepEqual(await store.findTeamByName("default"), team);
        assert.equal((await store.getSandbox("keepme"))?.teamId, team.id);
      });

      it("close is safe twice, and a closed store refuses work", async () => {
        const other = await harness.open();
        await other.close();
        await other.close();
        await assert.rejects(other.getTeam("x"), code("failed_precondition"));
      });
    });

    describe("teams", () => {
      it("ensureTeam creates once and then returns the same team", async () => {
        const first = await store.ensureTeam("default");
        const second = await store.ensureTeam("default");
        assert.deepEqual(second, first);
        assert.deepEqual(await store.getTeam(first.id), first);
        assert.deepEqual(await store.findTeamByName("default"), first);
        assert.notEqual((await store.ensureTeam("other")).id, first.id);
      });

      it("ensureTeam from two connections at once yields one team", async () => {
        const other = await openAnother();
        const teams = await Promise.all([
          store.ensureTeam("raced"),
          other.ensureTeam("raced"),
          store.ensureTeam("raced"),
        ]);
        assert.equal(new Set(teams.map((t) => t.id)).size, 1);
      });

      it("answers undefined for unknown teams and rejects empty names", async () => {
        assert.equal(await store.getTeam("nope"), undefined);
        assert.equal(await store.findTeamByName("nope"), undefined);
        await assert.rejects(store.ensureTeam(""), code("invalid_argument"));
        await assert.rejects(store.ensureTeam("   "), code("invalid_argument"));
      });
    });

    describe("API keys", () => {
      let team: TeamRecord;
      let otherTeam: TeamRecord;
      beforeEach(async () => {
        team = await store.ensureTeam("default");
        otherTeam = await store.ensureTeam("other");
      });

      it("a registered key finds its team and is listed by prefix only", async () => {
        const key = generateApiKey();
        const record = await store.addApiKey(team.id, key, "laptop");
        assert.equal(record.prefix, key.slice(0, 12));
        assert.equal(record.name, "laptop");
        assert.equal(record.revokedAt, null);
        assert.deepEqual(await store.findTeamByApiKey(key), team);

        const [listed, ...rest] = await store.listApiKeys(team.id);
        assert.equal(rest.length, 0);
        assert.equal(listed?.id, record.id);
        assert.notEqual(listed?.lastUsedAt, null, "lookup records when the key was last used");
        assert.ok(!JSON.stringify(listed).includes(key.slice(12)), "a listing never reveals the key");
        assert.deepEqual(await store.listApiKeys(otherTeam.id), []);
        assert.equal((await store.listApiKeys()).length, 1);
      });

      it("registering the same key again is idempotent; for another team it is already_exists", async () => {
        const key = generateApiKey();
        const first = await store.addApiKey(team.id, key);
        assert.equal((await store.addApiKey(team.id, key)).id, first.id);
        await assert.rejects(store.addApiKey(otherTeam.id, key), code("already_exists"));
        assert.equal((await store.listApiKeys()).length, 1);
        assert.deepEqual(await store.findTeamByApiKey(key), team);
      });

      it("rejects malformed keys and unknown teams; unknown or junk keys find nothing", async () => {
        await assert.rejects(store.addApiKey(team.id, "e2b_short"), code("invalid_argument"));
        await assert.rejects(store.addApiKey(team.id, "hunter2"), code("invalid_argument"));
        await assert.rejects(store.addApiKey("no-such-team", generateApiKey()), code("not_found"));
        assert.equal(await store.findTeamByApiKey(generateApiKey()), undefined);
        assert.equal(await store.findTeamByApiKey(""), undefined);
        assert.equal(await store.findTeamByApiKey("' or 1=1 --"), undefined);
      });

      it("a revoked key stops matching, stays revoked, and cannot be re-registered", async () => {
        const key = generateApiKey();
        const kept = generateApiKey();
        await store.addApiKey(team.id, key);
        const keptRecord = await store.addApiKey(team.id, kept);
        const revoked = await store.revokeApiKey(`${key.slice(0, 12)}…`);
        assert.notEqual(revoked.revokedAt, null);
        assert.equal(await store.findTeamByApiKey(key), undefined);
        assert.deepEqual(await store.findTeamByApiKey(kept), team, "other keys keep working");

        assert.equal((await store.revokeApiKey(revoked.id)).revokedAt, revoked.revokedAt, "idempotent");
        await assert.rejects(store.addApiKey(team.id, key), code("failed_precondition"));
        assert.equal(await store.findTeamByApiKey(key), undefined);

        assert.notEqual((await store.revokeApiKey(keptRecord.id)).revokedAt, null);
        assert.equal(await store.findTeamByApiKey(kept), undefined);
        await assert.rejects(store.revokeApiKey("e2b_00000000"), code("not_found"));
      });

      it("an ambiguous prefix revokes nothing", async () => {
        const a = `e2b_deadbeef${"0".repeat(32)}`;
        const b = `e2b_deadbeef${"1".repeat(32)}`;
        await store.addApiKey(team.id, a);
        await store.addApiKey(team.id, b);
        await assert.rejects(store.revokeApiKey("e2b_deadbeef"), code("invalid_argument"));
        assert.deepEqual(await store.findTeamByApiKey(a), team);
        assert.deepEqual(await store.findTeamByApiKey(b), team);
      });

      it("persists the hash, never the key", async (t) => {
        if (!harness.readRawBytes)
          return t.skip("this store's persisted bytes are not reachable from the test");
        const key = generateApiKey();
        await store.addApiKey(team.id, key);
        const raw = await harness.readRawBytes();
        assert.ok(raw.includes(hashApiKey(key)), "the raw bytes were read (the hash is there)");
        assert.ok(!raw.includes(key), "the key is not stored");
        assert.ok(!raw.includes(key.slice(12)), "nor its secret part");
      });
    });

    describe("sandboxes", () => {
      let team: TeamRecord;
      beforeEach(async () => {
        team = await store.ensureTeam("default");
      });

      it("round-trips every field", async () => {
        const input = sandbox(team.id, {
          id: "roundtrip1",
          runtimeId: "warm7",
          metadata: { "user=id": "a&b=c", ключ: "значение 🦀", empty: "" },
          envVars: { PATH: "/usr/bin", QUOTE: `it's "quoted"` },
          allowInternetAccess: null,
          autoPause: true,
          autoResume: true,
          secure: false,
          accessToken: null,
          address: "10.11.0.2",
        });
        const inserted = await store.insertSandbox(input);
        assert.deepEqual(await store.getSandbox("roundtrip1"), inserted);
        assert.equal(inserted.alias, "base");
        assert.equal(inserted.runtimeId, "warm7");
        assert.deepEqual(inserted.metadata, input.metadata);
        assert.deepEqual(inserted.envVars, input.envVars);
        assert.equal(inserted.allowInternetAccess, null);
        assert.equal(inserted.autoPause, true);
        assert.equal(inserted.secure, false);
        assert.equal(inserted.accessToken, null);
        assert.equal(inserted.pausedAt, null);
        assert.equal(inserted.startedAt, input.startedAt);
        assert.equal(inserted.endAt, input.endAt);
        assert.equal(inserted.createdAt, inserted.updatedAt);

        const minimal = await store.insertSandbox(
          sandbox(team.id, { id: "minimal1", allowInternetAccess: false, alias: undefined }),
        );
        assert.equal(minimal.allowInternetAccess, false);
        assert.equal(minimal.alias, null);
        assert.deepEqual(minimal.metadata, {});
        assert.equal(minimal.address, null);
      });

      it("rejects a taken id, a malformed id and an unknown team", async () => {
        await store.insertSandbox(sandbox(team.id, { id: "dup1" }));
        await assert.rejects(store.insertSandbox(sandbox(team.id, { id: "dup1" })), code("already_exists"));
        for (const id of ["", "Upper1", "with-dash", "a b", "ünï"]) {
          await assert.rejects(store.insertSandbox(sandbox(team.id, { id })), code("invalid_argument"), id);
        }
        await assert.rejects(store.insertSandbox(sandbox("no-such-team")), code("not_found"));
        await assert.rejects(
          store.insertSandbox(sandbox(team.id, { state: "sleeping" as SandboxState })),
          code("invalid_argument"),
        );
        assert.equal(await store.getSandbox("nope"), undefined);
      });

      it("updates a patch, clears with null, and leaves identity alone", async () => {
        const before = await store.insertSandbox(sandbox(team.id, { address: "10.0.0.2" }));
        const after = await store.updateSandbox(before.id, {
          state: "paused",
          pausedAt: before.startedAt + 5000,
          endAt: before.startedAt + 5000,
          address: null,
          metadata: { a: "1" },
          allowInternetAccess: true,
        });
        assert.equal(after.state, "paused");
        assert.equal(after.pausedAt, before.startedAt + 5000);
        assert.equal(after.address, null);
        assert.deepEqual(after.metadata, { a: "1" });
        assert.equal(after.allowInternetAccess, true);
        assert.equal(after.id, before.id);
        assert.equal(after.teamId, before.teamId);
        assert.equal(after.createdAt, before.createdAt);
        assert.ok(after.updatedAt >= before.updatedAt, "updatedAt moves forward");
        assert.equal(after.templateId, before.templateId, "fields not in the patch are kept");
        assert.deepEqual(await store.getSandbox(before.id), after);
      });

      it("compare-and-set: a wrong expected state changes nothing; unknown ids are not_found", async () => {
        const s = await store.insertSandbox(sandbox(team.id, { state: "paused" }));
        await assert.rejects(
          store.updateSandbox(s.id, { state: "pausing" }, { expectState: "running" }),
          code("failed_precondition"),
        );
        await assert.rejects(
          store.updateSandbox(s.id, { state: "pausing" }, { expectState: [] }),
          code("failed_precondition"),
        );
        assert.equal((await store.getSandbox(s.id))?.state, "paused");
        const resumed = await store.updateSandbox(
          s.id,
          { state: "resuming" },
          { expectState: ["pausing", "paused"] },
        );
        assert.equal(resumed.state, "resuming");
        await assert.rejects(store.updateSandbox("nope", { state: "running" }), code("not_found"));
        await assert.rejects(
          store.updateSandbox("nope", { state: "running" }, { expectState: "resuming" }),
          code("not_found"),
        );
        await assert.rejects(
          store.updateSandbox(s.id, { state: "gone" as SandboxState }),
          code("invalid_argument"),
        );
      });

      it("compare-and-set: of concurrent conflicting transitions from two connections exactly one wins", async () => {
        const other = await openAnother();
        for (let round = 0; round < 5; round++) {
          const s = await store.insertSandbox(sandbox(team.id));
          const wanted: SandboxState[] = ["pausing", "killing", "killing", "pausing", "error", "killing"];
          const results = await Promise.allSettled(
            wanted.map((state, i) =>
              (i % 2 === 0 ? store : other).updateSandbox(s.id, { state }, { expectState: "running" }),
            ),
          );
          const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
          assert.equal(won.length, 1, `round ${round}: exactly one transition wins`);
          for (const r of results) {
            if (r.status === "rejected")
              assert.equal((r.reason as { code?: unknown }).code, "failed_precondition");
          }
          assert.equal((await other.getSandbox(s.id))?.state, won[0]?.state);
        }
      });

      it("delete removes the sandbox with its metric samples and log lines", async () => {
        const s = await store.insertSandbox(sandbox(team.id, { id: "doomed1" }));
        await store.addMetricSample(s.id, sample(s.startedAt));
        await store.appendSandboxLog(s.id, { timestamp: s.startedAt, level: "info", message: "hello" });
        assert.equal(await store.deleteSandbox(s.id), true);
        assert.equal(await store.getSandbox(s.id), undefined);
        assert.equal(await store.deleteSandbox(s.id), false);
        // Re-creating the id shows the old rows are gone, not merely unreachable.
        await store.insertSandbox(sandbox(team.id, { id: "doomed1" }));
        assert.deepEqual(await store.listMetricSamples(s.id, 0, Number.MAX_SAFE_INTEGER), []);
        assert.deepEqual(await store.listSandboxLogs(s.id), []);
      });

      it("listAllSandboxes returns every team's sandboxes in every state", async () => {
        const other = await store.ensureTeam("other");
        const states: SandboxState[] = [
          "starting",
          "running",
          "pausing",
          "paused",
          "resuming",
          "killing",
          "error",
        ];
        for (const state of states) await store.insertSandbox(sandbox(team.id, { state }));
        await store.insertSandbox(sandbox(other.id));
        const all = await store.listAllSandboxes();
        assert.equal(all.length, states.length + 1);
        assert.deepEqual(new Set(all.map((s) => s.state)), new Set(states));
      });
    });

    describe("listSandboxes", () => {
      let team: TeamRecord;
      beforeEach(async () => {
        team = await store.ensureTeam("default");
      });

      // 25 sandboxes in groups of three with equal startedAt, and ids that do not sort like time.
      async function seed25(): Promise<SandboxRecord[]> {
        const letters = "abcdefghijklmnopqrstuvwxy";
        const records: SandboxRecord[] = [];
        for (let i = 0; i < 25; i++) {
          const id = `p${letters[(i * 7) % 25]}${i % 2}`;
          const startedAt = 1_767_000_000_000 + Math.floor(i / 3) * 1000;
          const state = i % 4 === 0 ? "paused" : "running";
          records.push(await store.insertSandbox(sandbox(team.id, { id, startedAt, state })));
        }
        return records;
      }

      function sortedDesc(records: SandboxRecord[]): string[] {
        return [...records]
          .sort((a, b) => b.startedAt - a.startedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
          .map((s) => s.id);
      }

      it("pages desc (newest first, id ascending on ties) without duplicates or gaps", async () => {
        const records = await seed25();
        const first = await store.listSandboxes({ teamId: team.id, limit: 10 });
        assert.equal(first.items.length, 10);
        assert.ok(first.nextCursor, "page 1 has a cursor");
        const second = await store.listSandboxes({ teamId: team.id, limit: 10, cursor: first.nextCursor });
        assert.equal(second.items.length, 10);
        assert.ok(second.nextCursor, "page 2 has a cursor");
        const third = await store.listSandboxes({ teamId: team.id, limit: 10, cursor: second.nextCursor });
        assert.equal(third.items.length, 5);
        assert.equal(third.nextCursor, undefined, "the last page carries no cursor");
        const ids = [...first.items, ...second.items, ...third.items].map((s) => s.id);
        assert.deepEqual(ids, sortedDesc(records));
        assert.equal(first.runningCount, 18);
        assert.equal(third.runningCount, 18, "the running count ignores paging");
      });

      it("pages asc as the exact reverse of desc", async () => {
        const records = await seed25();
        const { ids, pages } = await listAll({ teamId: team.id, order: "asc", limit: 10 });
        assert.equal(pages, 3);
        assert.deepEqual(ids, sortedDesc(records).reverse());
        for (const limit of [1, 3, 7, 24, 25, 100]) {
          const desc = await listAll({ teamId: team.id, order: "desc", limit });
          assert.deepEqual(desc.ids, sortedDesc(records), `limit ${limit}`);
          assert.equal(desc.pages, Math.max(1, Math.ceil(25 / limit)), `limit ${limit}`);
        }
      });

      it("gives no cursor when the page is exactly the rest", async () => {
        for (let i = 0; i < 10; i++) await store.insertSandbox(sandbox(team.id));
        const page = await store.listSandboxes({ teamId: team.id, limit: 10 });
        assert.equal(page.items.length, 10);
        assert.equal(page.nextCursor, undefined);
        const empty = await store.listSandboxes({ teamId: (await store.ensureTeam("empty")).id });
        assert.deepEqual(empty, { items: [], runningCount: 0 });
      });

      it("keeps its place when sandboxes come and go between pages", async () => {
        const records = await seed25();
        const first = await store.listSandboxes({ teamId: team.id, limit: 10 });
        await store.insertSandbox(sandbox(team.id, { id: "newest", startedAt: 1_800_000_000_000 }));
        const gone = sortedDesc(records)[12] ?? "";
        await store.deleteSandbox(gone);
        const rest = await listAll({ teamId: team.id, limit: 10, cursor: first.nextCursor });
        const expected = sortedDesc(records).filter((id) => id !== gone);
        assert.deepEqual([...first.items.map((s) => s.id), ...rest.ids], expected);
      });

      it("rejects a cursor of the other order, malformed cursors and bad limits", async () => {
        await seed25();
        const desc = await store.listSandboxes({ teamId: team.id, limit: 5 });
        assert.ok(desc.nextCursor, "desc page has a cursor");
        await assert.rejects(
          store.listSandboxes({ teamId: team.id, order: "asc", limit: 5, cursor: desc.nextCursor }),
          code("invalid_argument"),
        );
        const asc = await store.listSandboxes({ teamId: team.id, order: "asc", limit: 5 });
        assert.ok(asc.nextCursor, "asc page has a cursor");
        await assert.rejects(
          store.listSandboxes({ teamId: team.id, order: "desc", cursor: asc.nextCursor }),
          code("invalid_argument"),
        );
        for (const cursor of ["", "garbage!", "bm9wZQ", `${desc.nextCursor}x`]) {
          await assert.rejects(
            store.listSandboxes({ teamId: team.id, cursor }),
            code("invalid_argument"),
            cursor,
          );
        }
        for (const limit of [0, -1, 101, 1.5, Number.NaN]) {
          await assert.rejects(
            store.listSandboxes({ teamId: team.id, limit }),
            code("invalid_argument"),
            String(limit),
          );
        }
      });

      it("lists pausing as paused and resuming as running, and hides starting, killing and error", async () => {
        const ids: Partial<Record<SandboxState, string>> = {};
        for (const state of [
          "starting",
          "running",
          "pausing",
          "paused",
          "resuming",
          "killing",
          "error",
        ] as const) {
          ids[state] = (await store.insertSandbox(sandbox(team.id, { state }))).id;
        }
        const listedIds = async (states?: ("running" | "paused")[]) => {
          const page = await store.listSandboxes({ teamId: team.id, states });
          return { ids: new Set(page.items.map((s) => s.id)), running: page.runningCount };
        };
        assert.deepEqual(await listedIds(), {
          ids: new Set([ids.running, ids.pausing, ids.paused, ids.resuming]),
          running: 2,
        });
        assert.deepEqual(await listedIds([]), await listedIds());
        assert.deepEqual(await listedIds(["running", "paused"]), await listedIds());
        assert.deepEqual(await listedIds(["running"]), {
          ids: new Set([ids.running, ids.resuming]),
          running: 2,
        });
        assert.deepEqual(await listedIds(["paused"]), {
          ids: new Set([ids.pausing, ids.paused]),
          running: 0,
        });
      });

      it("filters metadata by exact match of every pair, whatever the characters", async () => {
        const tricky = {
          "k=1&x": "v=2&y=3",
          ключ: "значение 🦀",
          'q"uote': "a.b[0]",
          "$.path": "",
          "": "blank",
        };
        const a = await store.insertSandbox(sandbox(team.id, { metadata: { ...tricky, team: "red" } }));
        const b = await store.insertSandbox(sandbox(team.id, { metadata: { ...tricky, team: "blue" } }));
        const c = await store.insertSandbox(sandbox(team.id, { metadata: { team: "red" } }));
        const d = await store.insertSandbox(sandbox(team.id, { metadata: { team: "red ", "k=1&x": "v=2" } }));
        const e = await store.insertSandbox(sandbox(team.id, { metadata: { team: "RED", n: "1" } }));
        const matching = async (metadata: Record<string, string>) =>
          new Set((await store.listSandboxes({ teamId: team.id, metadata })).items.map((s) => s.id));

        assert.equal((await matching({})).size, 5);
        assert.deepEqual(await matching({ team: "red" }), new Set([a.id, c.id]));
        assert.deepEqual(await matching(tricky), new Set([a.id, b.id]));
        assert.deepEqual(await matching({ ...tricky, team: "red" }), new Set([a.id]), "pairs are ANDed");
        assert.deepEqual(await matching({ "k=1&x": "v=2&y=3" }), new Set([a.id, b.id]));
        assert.deepEqual(await matching({ "k=1&x": "v=2" }), new Set([d.id]), "no prefix matching");
        assert.deepEqual(await matching({ ключ: "значение 🦀" }), new Set([a.id, b.id]));
        assert.deepEqual(await matching({ "$.path": "" }), new Set([a.id, b.id]), "an empty value matches");
        assert.deepEqual(await matching({ n: "1" }), new Set([e.id]));
        assert.deepEqual(await matching({ team: "Red" }), new Set());
        assert.deepEqual(await matching({ missing: "" }), new Set(), "an absent key never matches");
        assert.deepEqual(await matching({ team: "red", nope: "x" }), new Set());
      });

      it("filters by template id or alias, and by startedAfter inclusively", async () => {
        const t0 = 1_767_323_045_678;
        const old = await store.insertSandbox(
          sandbox(team.id, { startedAt: t0 - 1, templateId: "tplA", alias: "python" }),
        );
        const exact = await store.insertSandbox(
          sandbox(team.id, { startedAt: t0, templateId: "tplB", alias: null }),
        );
        const later = await store.insertSandbox(
          sandbox(team.id, { startedAt: t0 + 1000, templateId: "tplA" }),
        );
        const ids = async (query: Omit<ListSandboxesQuery, "teamId">) =>
          (await store.listSandboxes({ teamId: team.id, ...query })).items.map((s) => s.id);

        assert.deepEqual(await ids({ template: "tplA" }), [later.id, old.id]);
        assert.deepEqual(await ids({ template: "python" }), [old.id]);
        assert.deepEqual(await ids({ template: "tplB" }), [exact.id]);
        assert.deepEqual(await ids({ template: "unknown" }), []);

        assert.deepEqual(await ids({ startedAfter: t0 }), [later.id, exact.id], "startedAfter is inclusive");
        assert.deepEqual(await ids({ startedAfter: t0 - 0.001 }), [later.id, exact.id]);
        assert.deepEqual(
          await ids({ startedAfter: t0 + 0.5 }),
          [later.id],
          "sub-millisecond bounds compare exactly",
        );
        assert.deepEqual(await ids({ startedAfter: t0 + 1000 }), [later.id]);
        assert.deepEqual(await ids({ startedAfter: t0 + 1001 }), []);
        assert.deepEqual(await ids({ startedAfter: t0, template: "tplA", order: "asc" }), [later.id]);
        await assert.rejects(
          store.listSandboxes({ teamId: team.id, startedAfter: Number.NaN }),
          code("invalid_argument"),
        );
      });

      it("a team sees only its own sandboxes", async () => {
        const other = await store.ensureTeam("other");
        const mine = await store.insertSandbox(sandbox(team.id, { metadata: { k: "v" } }));
        const theirs = await store.insertSandbox(sandbox(other.id, { metadata: { k: "v" } }));
        const page = await store.listSandboxes({ teamId: team.id, metadata: { k: "v" } });
        assert.deepEqual(
          page.items.map((s) => s.id),
          [mine.id],
        );
        assert.equal(page.runningCount, 1);
        const theirPage = await store.listSandboxes({ teamId: other.id });
        assert.deepEqual(
          theirPage.items.map((s) => s.id),
          [theirs.id],
        );
        // A cursor carries a position, not a team: it cannot widen what another team sees.
        for (let i = 0; i < 3; i++) await store.insertSandbox(sandbox(team.id));
        const firstOfMine = await store.listSandboxes({ teamId: team.id, limit: 1 });
        const reused = await store.listSandboxes({ teamId: other.id, cursor: firstOfMine.nextCursor });
        assert.ok(
          reused.items.every((s) => s.teamId === other.id),
          "only the other team's sandboxes",
        );
      });
    });

    describe("metric samples", () => {
      let s: SandboxRecord;
      beforeEach(async () => {
        s = await store.insertSandbox(sandbox((await store.ensureTeam("default")).id));
      });

      it("lists an inclusive window, oldest first", async () => {
        const t0 = s.startedAt;
        // Inserted out of order: listing must sort.
        for (const i of [3, 0, 5, 1, 4, 2, 6, 8, 7, 9, 10])
          await store.addMetricSample(s.id, sample(t0 + i * 5000));
        const window = await store.listMetricSamples(s.id, t0 + 10_000, t0 + 30_000);
        assert.deepEqual(
          window.map((m) => m.timestamp - t0),
          [10_000, 15_000, 20_000, 25_000, 30_000],
        );
        assert.deepEqual(window[0], sample(t0 + 10_000), "every field round-trips");
        assert.deepEqual(
          await store.listMetricSamples(s.id, t0 - 60_000, t0 - 1),
          [],
          "before the sandbox existed",
        );
        assert.deepEqual(await store.listMetricSamples(s.id, t0 + 30_000, t0 + 10_000), []);
        assert.deepEqual(await store.listMetricSamples("nope", 0, Number.MAX_SAFE_INTEGER), []);
      });

      it("replaces a sample with the same timestamp and keeps sandboxes apart", async () => {
        const other = await store.insertSandbox(sandbox(s.teamId));
        await store.addMetricSample(s.id, sample(s.startedAt));
        await store.addMetricSample(s.id, { ...sample(s.startedAt), cpuUsedPct: 99.5 });
        await store.addMetricSample(other.id, sample(s.startedAt));
        const samples = await store.listMetricSamples(s.id, 0, Number.MAX_SAFE_INTEGER);
        assert.deepEqual(
          samples.map((m) => m.cpuUsedPct),
          [99.5],
        );
        assert.equal((await store.listMetricSamples(other.id, 0, Number.MAX_SAFE_INTEGER)).length, 1);
      });

      it("prunes samples older than a day behind the newest", async () => {
        const t0 = s.startedAt;
        await store.addMetricSample(s.id, sample(t0));
        await store.addMetricSample(s.id, sample(t0 + 48 * 3600_000));
        const samples = await store.listMetricSamples(s.id, 0, Number.MAX_SAFE_INTEGER);
        assert.deepEqual(
          samples.map((m) => m.timestamp),
          [t0 + 48 * 3600_000],
        );
      });

      it("rejects samples of unknown sandboxes and non-finite values", async () => {
        await assert.rejects(store.addMetricSample("nope", sample(1)), code("not_found"));
        await assert.rejects(
          store.addMetricSample(s.id, { ...sample(1), cpuUsedPct: Number.NaN }),
          code("invalid_argument"),
        );
      });
    });

    describe("sandbox logs", () => {
      let s: SandboxRecord;
      beforeEach(async () => {
        s = await store.insertSandbox(sandbox((await store.ensureTeam("default")).id));
      });

      it("lists lines oldest first, from start, up to limit", async () => {
        await store.appendSandboxLog(s.id, { timestamp: 3000, level: "warn", message: "third" });
        await store.appendSandboxLog(s.id, { timestamp: 1000, level: "info", message: "first" });
        await store.appendSandboxLog(s.id, { timestamp: 2000, level: "info", message: "second a" });
        await store.appendSandboxLog(s.id, { timestamp: 2000, level: "error", message: "second b" });
        const messages = async (options?: { start?: number; limit?: number }) =>
          (await store.listSandboxLogs(s.id, options)).map((l) => l.message);
        assert.deepEqual(await messages(), ["first", "second a", "second b", "third"]);
        assert.deepEqual(await messages({ start: 2000 }), ["second a", "second b", "third"]);
        assert.deepEqual(await messages({ start: 2000, limit: 2 }), ["second a", "second b"]);
        assert.deepEqual((await store.listSandboxLogs(s.id, { limit: 1 }))[0], {
          timestamp: 1000,
          level: "info",
          message: "first",
        });
        await assert.rejects(store.listSandboxLogs(s.id, { limit: 0 }), code("invalid_argument"));
      });

      it("rejects lines of unknown sandboxes and unknown levels", async () => {
        await assert.rejects(
          store.appendSandboxLog("nope", { timestamp: 1, level: "info", message: "x" }),
          code("not_found"),
        );
        await assert.rejects(
          store.appendSandboxLog(s.id, { timestamp: 1, level: "loud" as "info", message: "x" }),
          code("invalid_argument"),
        );
      });
    });
  });
}
