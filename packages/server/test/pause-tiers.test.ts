// The pause tiers of the lifecycle manager over a real SQLite store and an in-memory driver
// (the runtime's own behaviour is covered by the runtime suites and test/compat/pause-*).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { SandpitError } from "@sandpit/protocol";
import type { SandboxDriver, SandboxInfo, SandboxStatus } from "@sandpit/runtime";
import { pino } from "pino";
import type { AgentSandboxes } from "../src/lifecycle/agent-sandbox.js";
import { createSandboxManager, type SandboxManager } from "../src/lifecycle/sandbox-manager.js";
import { createSqliteStore, type Store } from "../src/store/index.js";
import { createTemplateCatalog } from "../src/template-catalog.js";

/** Sandboxes that exist as a status in a map; `refuseCheckpoints` makes gVisor's refusal. */
function memoryDriver(canCheckpoint: boolean) {
  const sandboxes = new Map<string, SandboxStatus>();
  const calls: string[] = [];
  let refuseCheckpoints = 0;
  const info = (id: string): SandboxInfo => {
    const status = sandboxes.get(id);
    if (!status) throw new SandpitError("not_found", `sandbox '${id}' not found`);
    return {
      id,
      runtime: "memory",
      template: "base",
      address: "10.0.0.2",
      status,
      limits: { cpuCount: 1, memoryMB: 512, pids: 64, diskMB: 0 },
      allowInternetAccess: true,
      createdAt: new Date().toISOString(),
      checkpointDir: `/data/${id}/checkpoint`,
      layerDir: `/data/${id}/layer`,
    };
  };
  const step = async (id: string, name: string, from: SandboxStatus[], to: SandboxStatus) => {
    calls.push(`${name} ${id}`);
    const now = info(id).status;
    if (!from.includes(now)) throw new SandpitError("failed_precondition", `${id} is ${now}`);
    await new Promise((r) => setTimeout(r, 5));
    sandboxes.set(id, to);
  };
  const driver: SandboxDriver = {
    name: "memory",
    canCheckpoint,
    async create(spec) {
      sandboxes.set(spec.id, "running");
      return info(spec.id);
    },
    get: async (id) => info(id),
    list: async () => [...sandboxes.keys()].map(info),
    exec: () => Promise.reject(new SandpitError("unimplemented", "no exec")),
    stats: () => Promise.reject(new SandpitError("unimplemented", "no stats")),
    async setInternetAccess() {},
    pause: (id) => step(id, "pause", ["running", "paused"], "paused"),
    resume: (id) => step(id, "resume", ["paused", "running"], "running"),
    async checkpoint(id) {
      if (!canCheckpoint) throw new SandpitError("unimplemented", "no checkpoint");
      if (refuseCheckpoints > 0) {
        refuseCheckpoints--;
        calls.push(`checkpoint refused ${id}`);
        throw new SandpitError("failed_precondition", "open TCP connections");
      }
      await step(id, "checkpoint", ["running", "paused"], "checkpointed");
    },
    halt: (id) => step(id, "halt", ["running", "paused", "halted"], "halted"),
    async restore(id) {
      await step(id, "restore", ["checkpointed", "halted"], "running");
      return info(id);
    },
    async remove(id) {
      calls.push(`remove ${id}`);
      sandboxes.delete(id);
    },
    janitor: async () => ({ removed: [] }),
  };
  return {
    driver,
    calls,
    sandboxes,
    refuse(n: number) {
      refuseCheckpoints = n;
    },
  };
}

/** Agents that answer at once: the manager's calls to them are not what is tested here. */
function agentsOf(driver: SandboxDriver): AgentSandboxes {
  return {
    start: (spec) => driver.create({ id: spec.id, template: spec.template, command: ["agent"] }),
    reboot: (id) => driver.restore(id),
    async init() {},
    healthy: async () => true,
    async warmUp() {},
  };
}

async function eventually(what: string, ok: () => Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("pause tiers", () => {
  let dir: string;
  let store: Store;
  let manager: SandboxManager | undefined;
  let teamId: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "sandpit-tiers-"));
    store = createSqliteStore({ path: join(dir, "store.db") });
    await store.migrate();
    teamId = (await store.ensureTeam("default")).id;
  });

  afterEach(async () => {
    manager?.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(canCheckpoint: boolean, warmMs: number, memoryCheckMs?: number) {
    const mem = memoryDriver(canCheckpoint);
    const severed: string[] = [];
    manager = createSandboxManager({
      store,
      driver: mem.driver,
      agents: agentsOf(mem.driver),
      templates: createTemplateCatalog([
        { templateID: "base", alias: "base", cpuCount: 1, memoryMB: 512, diskSizeMB: 1024 },
      ]),
      logger: pino({ level: "silent" }),
      maxTimeoutSec: 3600,
      pause: { warmMs, memoryFloorMB: 0 },
      memoryCheckMs,
      sever: (id) => severed.push(id),
    });
    const created = await manager.create(teamId, {
      templateID: "base",
      timeoutSec: 300,
      metadata: {},
      envVars: {},
      secure: true,
      allowInternetAccess: null,
      autoPause: false,
      autoPauseMemory: true,
      autoResume: false,
      allowPublicTraffic: true,
    });
    return { ...mem, severed, id: created.id, manager };
  }

  test("a pause without memory halts at once, never moves tiers, and resume boots it afresh", async () => {
    for (const canCheckpoint of [true, false]) {
      const s = await start(canCheckpoint, 20);
      assert.deepEqual(await s.manager.pause(teamId, s.id, { memory: false }), { memory: "none" });
      const paused = await store.getSandbox(s.id);
      assert.equal(paused?.state, "paused");
      assert.equal(paused?.pauseTier, "files");
      assert.equal(s.sandboxes.get(s.id), "halted");
      assert.deepEqual(s.severed, [s.id]);
      // Nothing to wake for traffic, whatever the sandbox asked for.
      assert.deepEqual(s.manager.route(s.id), { state: "paused", autoResume: false });
      await new Promise((r) => setTimeout(r, 80));
      assert.ok(!s.calls.some((c) => c.startsWith("checkpoint")), s.calls.join());
      const { record, resumed } = await s.manager.connect(teamId, s.id, 60);
      assert.equal(resumed, true);
      assert.equal(record.state, "running");
      assert.equal(record.pauseTier, null);
      assert.equal(s.sandboxes.get(s.id), "running");
      assert.deepEqual(
        s.calls.filter((c) => c.endsWith(s.id)),
        [`halt ${s.id}`, `restore ${s.id}`],
      );
      s.manager.close();
      manager = undefined;
    }
  });

  test("pause freezes at once (warm) and moves to disk when the grace period ends (cold)", async () => {
    const s = await start(true, 50);
    assert.deepEqual(await s.manager.pause(teamId, s.id), { memory: "disk" });
    const paused = await store.getSandbox(s.id);
    assert.equal(paused?.state, "paused");
    assert.equal(paused?.pauseTier, "warm");
    assert.equal(s.sandboxes.get(s.id), "paused");
    await eventually("the cold tier", async () => (await store.getSandbox(s.id))?.pauseTier === "cold");
    const cold = await store.getSandbox(s.id);
    assert.equal(cold?.checkpointPath, `/data/${s.id}/checkpoint`);
    assert.equal(cold?.layerPath, `/data/${s.id}/layer`);
    assert.ok(s.severed.filter((x) => x === s.id).length >= 2, "severed at pause and before the save");
    const { resumed } = await s.manager.connect(teamId, s.id, 60);
    assert.equal(resumed, true);
    assert.ok(s.calls.includes(`restore ${s.id}`));
    assert.equal((await store.getSandbox(s.id))?.pauseTier, null);
  });

  test("a refused move to disk leaves it frozen in RAM, and a resume thaws it", async () => {
    const s = await start(true, 10);
    s.refuse(100);
    await s.manager.pause(teamId, s.id);
    await eventually("a refused checkpoint", async () =>
      s.calls.some((c) => c.startsWith("checkpoint refused")),
    );
    await new Promise((r) => setTimeout(r, 30));
    const record = await store.getSandbox(s.id);
    assert.equal(record?.state, "paused");
    assert.equal(record?.pauseTier, "warm");
    assert.equal(s.sandboxes.get(s.id), "paused");
    await s.manager.connect(teamId, s.id, 60);
    assert.equal(s.sandboxes.get(s.id), "running");
    assert.ok(s.calls.includes(`resume ${s.id}`));
  });

  test("runc (no checkpoint): the pause says memory stays in RAM and it never goes cold", async () => {
    const s = await start(false, 10);
    assert.deepEqual(await s.manager.pause(teamId, s.id), { memory: "ram" });
    await new Promise((r) => setTimeout(r, 60));
    assert.equal((await store.getSandbox(s.id))?.pauseTier, "warm");
    assert.ok(!s.calls.some((c) => c.startsWith("checkpoint")));
  });

  test("five concurrent connects: one resume, every caller gets the running sandbox", async () => {
    const s = await start(true, 60_000);
    await s.manager.pause(teamId, s.id);
    const all = await Promise.all(Array.from({ length: 5 }, () => s.manager.connect(teamId, s.id, 60)));
    assert.equal(all.filter((r) => r.resumed).length, 1);
    for (const r of all) assert.equal(r.record.state, "running");
    assert.equal(s.calls.filter((c) => c.startsWith("resume")).length, 1);
  });

  test("low host memory moves frozen sandboxes to disk before their grace period ends", async () => {
    const s = await start(true, 600_000, 10);
    await s.manager.pause(teamId, s.id);
    assert.equal((await store.getSandbox(s.id))?.pauseTier, "warm");
    // A floor above any machine's free memory: the host is "short" at once.
    s.manager.configurePause({ memoryFloorMB: 1 << 30 });
    await eventually("the cold tier", async () => (await store.getSandbox(s.id))?.pauseTier === "cold");
  });

  test("paused retention kills the sandbox; kill of a paused one removes it from the runtime", async () => {
    const s = await start(true, 600_000);
    s.manager.configurePause({ retentionSec: 1 });
    await s.manager.pause(teamId, s.id);
    await eventually("the retention", async () => (await store.getSandbox(s.id)) === undefined, 3000);
    assert.ok(s.calls.includes(`remove ${s.id}`));
    assert.equal(s.sandboxes.has(s.id), false);
  });
});
