import assert from "node:assert/strict";
import { test } from "node:test";
import { largestCommand, type ProcessSample, startMemoryGuard } from "./memory-guard.js";

const MiB = 2 ** 20;
const agent = 2;
const spared = new Set([1, agent]);

// init(1) ─ agent(2) ─┬ sh(10) ─ python(11) ─ python(12)
//                     └ sh(20) ─ big(21)
//           daemon(30, left to init)
const table: ProcessSample[] = [
  { pid: 1, ppid: 0, rssBytes: 1 * MiB },
  { pid: agent, ppid: 1, rssBytes: 900 * MiB },
  { pid: 10, ppid: agent, rssBytes: 1 * MiB },
  { pid: 11, ppid: 10, rssBytes: 100 * MiB },
  { pid: 12, ppid: 11, rssBytes: 100 * MiB },
  { pid: 20, ppid: agent, rssBytes: 1 * MiB },
  { pid: 21, ppid: 20, rssBytes: 150 * MiB },
  { pid: 30, ppid: 1, rssBytes: 120 * MiB },
];

/**
 * Runs a guard over `processes` with 800 MiB of budget; `usage` starts at `before`, goes to
 * 900 MiB after `overAfterMs`, and drops to 100 MiB once something is killed. Returns the kills.
 */
async function guardKills(
  processes: readonly ProcessSample[],
  options: { before: number; overAfterMs: number; helperExecutables?: string[] },
): Promise<{ killedEarly: number[]; killed: number[] }> {
  let usage = options.before;
  const killed: number[] = [];
  const guard = startMemoryGuard({
    limitBytes: 800 * MiB,
    readUsage: () => usage,
    listProcesses: () => [...processes],
    kill: (pid) => {
      killed.push(pid);
      usage = 100 * MiB;
    },
    protectedPids: [agent],
    helperExecutables: options.helperExecutables,
  });
  try {
    await new Promise((r) => setTimeout(r, options.overAfterMs));
    const killedEarly = [...killed];
    usage = 900 * MiB;
    const deadline = Date.now() + 2000;
    while (killed.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    // Room for a wrong second kill to show.
    await new Promise((r) => setTimeout(r, 150));
    return { killedEarly, killed };
  } finally {
    guard.stop();
  }
}

test("a command's whole tree is weighed together; init and the agent never are", () => {
  const victim = largestCommand(table, spared);
  assert.equal(victim?.pid, 10);
  assert.equal(victim?.rssBytes, 201 * MiB);
  assert.deepEqual(victim?.pids, [10, 11, 12]);
});

test("a daemon left to init is a command of its own", () => {
  const victim = largestCommand(
    table.filter((p) => p.pid < 10 || p.pid === 30),
    spared,
  );
  assert.deepEqual(victim?.pids, [30]);
});

test("commands under the launcher count one by one, and the launcher is never chosen", async () => {
  // init(1) ─ agent(2) ─ launcher(5) ─┬ sh(10) ─ python(11)
  //                                   └ sh(20)
  const launched: ProcessSample[] = [
    { pid: 1, ppid: 0, rssBytes: MiB },
    { pid: agent, ppid: 1, rssBytes: 60 * MiB },
    { pid: 5, ppid: agent, rssBytes: MiB, exe: "/opt/sandpit/agent/bin/sandpit-launcher" },
    { pid: 10, ppid: 5, rssBytes: MiB },
    { pid: 11, ppid: 10, rssBytes: 300 * MiB },
    { pid: 20, ppid: 5, rssBytes: 2 * MiB },
  ];
  const { killed } = await guardKills(launched, {
    before: 500 * MiB,
    overAfterMs: 0,
    helperExecutables: ["/opt/sandpit/agent/bin/sandpit-launcher"],
  });
  assert.deepEqual(killed, [10, 11]);
});

test("nothing to kill but init and the agent: no victim", () => {
  assert.equal(largestCommand(table.slice(0, 2), spared), undefined);
});

test("a parent cycle in a racy table does not hang", () => {
  const victim = largestCommand(
    [
      { pid: 40, ppid: 41, rssBytes: MiB },
      { pid: 41, ppid: 40, rssBytes: MiB },
    ],
    spared,
  );
  assert.ok(victim);
});

test("over its budget the guard kills the largest command once, then watches again", async () => {
  const { killedEarly, killed } = await guardKills(table, { before: 500 * MiB, overAfterMs: 120 });
  assert.deepEqual(killedEarly, [], "under budget nothing dies");
  assert.deepEqual(killed, [10, 11, 12]);
});

test("an unreadable usage file stops nothing and kills nothing", async () => {
  const killed: number[] = [];
  const guard = startMemoryGuard({
    limitBytes: MiB,
    readUsage: () => {
      throw new Error("ENOENT");
    },
    listProcesses: () => table,
    kill: (pid) => killed.push(pid),
  });
  await new Promise((r) => setTimeout(r, 50));
  guard.stop();
  assert.deepEqual(killed, []);
});
