// kill -9 of the server at random points of create, pause, resume and kill, then a restart:
// every sandbox is either usable or cleanly gone, the store is consistent, nothing leaks.
// FAULTS_ROUNDS=50 runs the full loop; CI runs a shorter one with the same checks.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { generateApiKey } from "@sandpit/server";
import { Sandbox } from "e2b";
import { hostLeftovers } from "../../packages/runtime/test/host-leftovers.js";
import { notRoot } from "../compat/live-server.js";
import {
  orphans,
  type ServerProcessOptions,
  storedSandboxes,
  useServerProcess,
} from "../compat/server-process.js";

const ROUNDS = Number(process.env.FAULTS_ROUNDS ?? 12);
const MAX_SANDBOXES = 3;

/** A small deterministic generator, so a failing round can be replayed with FAULTS_SEED. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("kill -9 of the server at random points (runc)", { skip: notRoot, timeout: 1_800_000 }, () => {
  const options: ServerProcessOptions = {
    dataDir: "",
    apiKey: generateApiKey(),
    prefix: "spfault",
    addressPool: "10.255.0.0/16",
    runtime: "runc",
  };
  const server = useServerProcess(options, "SIGKILL");
  const start = () => server.start();
  const records = () => storedSandboxes(options.dataDir);

  test(`${ROUNDS} rounds: an operation in flight, kill -9, restart, check`, async () => {
    const seed = Number(process.env.FAULTS_SEED ?? Date.now() % 100_000);
    const rand = random(seed);
    const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(rand() * xs.length)];
    const tally: Record<string, number> = {};
    await start();
    for (let round = 0; round < ROUNDS; round++) {
      const before = await records();
      const running = before.filter((r) => r.state === "running").map((r) => r.id);
      const paused = before.filter((r) => r.state === "paused").map((r) => r.id);
      const ops: string[] = [];
      if (before.length < MAX_SANDBOXES) ops.push("create");
      if (running.length > 0) ops.push("pause", "kill");
      if (paused.length > 0) ops.push("resume", "kill-paused");
      const op = pick(ops) ?? "create";
      // Up to 1.5 s: most operations are cut off somewhere inside, some finish before the kill.
      const delayMs = Math.floor(rand() * 1500);
      const context = `seed ${seed}, round ${round}: ${op} then kill -9 after ${delayMs} ms`;
      tally[op] = (tally[op] ?? 0) + 1;

      const inFlight = (async () => {
        if (op === "create") await Sandbox.create({ metadata: { round: String(round) } });
        else if (op === "pause") await Sandbox.pause(pick(running) ?? "");
        else if (op === "resume") await Sandbox.connect(pick(paused) ?? "");
        else if (op === "kill") await Sandbox.kill(pick(running) ?? "");
        else await Sandbox.kill(pick(paused) ?? "");
      })().catch(() => undefined);
      await new Promise((r) => setTimeout(r, delayMs));
      await server.stop("SIGKILL");
      await inFlight;
      await start();

      // After reconcile only the two client-visible states remain, and the host matches the store.
      const after = await records();
      for (const r of after)
        assert.ok(r.state === "running" || r.state === "paused", `${context}: ${r.id} is ${r.state}`);
      assert.deepEqual(
        orphans(options.prefix, options.dataDir, new Set(after.map((r) => r.runtimeId))),
        [],
        context,
      );
      for (const r of after.filter((x) => x.state === "running")) {
        const sandbox = await Sandbox.connect(r.id);
        const result = await sandbox.commands.run("echo alive", { requestTimeoutMs: 30_000 });
        assert.equal(result.stdout, "alive\n", `${context}: ${r.id} answers`);
      }
      const listed = await Sandbox.list({ query: { state: ["running", "paused"] } }).nextItems();
      assert.deepEqual(
        listed.map((s) => s.sandboxId).sort(),
        after.map((r) => r.id).sort(),
        `${context}: the API lists exactly the store's sandboxes`,
      );
    }
    // Every paused one still resumes, and every one is then killed cleanly.
    for (const r of await records()) {
      const sandbox = await Sandbox.connect(r.id);
      assert.equal((await sandbox.commands.run("echo back")).stdout, "back\n");
      assert.equal(await Sandbox.kill(r.id), true);
    }
    assert.deepEqual(await records(), []);
    assert.deepEqual(hostLeftovers(options.prefix, options.dataDir), []);
    console.log(`faults survived: ${JSON.stringify(tally)} (seed ${seed})`);
  });
});
