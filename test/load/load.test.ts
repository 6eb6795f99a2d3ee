// Many sandboxes running many commands at once: no output lost or mixed; latency reported.
// Then a bounded soak of create/exec/kill cycles with the server's memory and descriptors flat.
// Full size: LOAD_SANDBOXES=100 SOAK_SECONDS=1800 npm test -- test/load (CI runs a lighter form).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { before, describe, test } from "node:test";
import { generateApiKey } from "@sandpit/server";
import { Sandbox } from "e2b";
import { notRoot } from "../compat/live-server.js";
import { type ServerProcessOptions, useServerProcess } from "../compat/server-process.js";

const SANDBOXES = Number(process.env.LOAD_SANDBOXES ?? 8);
const COMMANDS = Number(process.env.LOAD_COMMANDS ?? 10);
const LINES = 20_000;
const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 60);

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** What `seq -f 'TOKEN-%g' 1 LINES` prints, hashed: the output every command must deliver whole. */
function expectedHash(token: string): string {
  const hash = createHash("sha256");
  for (let i = 1; i <= LINES; i++) hash.update(`${token}-${i}\n`);
  return hash.digest("hex");
}

/** Resident memory (MiB) and open descriptors of a process. */
function usage(pid: number): { rssMiB: number; fds: number } {
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return { rssMiB: Number(rss) / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

describe("load (runc)", { skip: notRoot, timeout: 3_600_000 }, () => {
  const options: ServerProcessOptions = {
    dataDir: "",
    apiKey: generateApiKey(),
    prefix: "spload",
    addressPool: "10.228.0.0/16",
    runtime: "runc",
  };
  const server = useServerProcess(options, "SIGTERM");
  before(() => server.start());

  test(`${SANDBOXES} sandboxes × ${COMMANDS} concurrent commands: every output whole and unmixed`, async (t) => {
    const sandboxes: Sandbox[] = [];
    // A failure must not leave a thousand floods running under the soak that follows.
    t.after(() => Promise.allSettled(sandboxes.map((s) => s.kill())));
    // Created ten at a time: the point is the commands, not a create storm.
    for (let i = 0; i < SANDBOXES; i += 10) {
      const batch = Math.min(10, SANDBOXES - i);
      sandboxes.push(
        ...(await Promise.all(Array.from({ length: batch }, () => Sandbox.create({ timeoutMs: 1_800_000 })))),
      );
    }
    const latencies: number[] = [];
    let lost = 0;
    await Promise.all(
      sandboxes.flatMap((sandbox, s) =>
        Array.from({ length: COMMANDS }, async (_, c) => {
          const token = `s${s}c${c}`;
          const started = performance.now();
          const out = createHash("sha256");
          const err = createHash("sha256");
          const result = await sandbox.commands.run(
            `seq -f '${token}-%g' 1 ${LINES}; seq -f '${token}-%g' 1 ${LINES} >&2`,
            {
              onStdout: (d) => void out.update(d),
              onStderr: (d) => void err.update(d),
              timeoutMs: 600_000,
              // At full size the host is saturated for minutes: a command's start waits its turn
              // behind hundreds of megabytes of output. Its bound is its own timeout above.
              requestTimeoutMs: 600_000,
            },
          );
          latencies.push(performance.now() - started);
          const want = expectedHash(token);
          if (out.digest("hex") !== want || err.digest("hex") !== want || result.exitCode !== 0) lost++;
        }),
      ),
    );
    latencies.sort((a, b) => a - b);
    const quick: number[] = [];
    for (const sandbox of sandboxes) {
      const t = performance.now();
      await sandbox.commands.run("true");
      quick.push(performance.now() - t);
    }
    quick.sort((a, b) => a - b);
    console.log(
      `load: ${SANDBOXES} sandboxes × ${COMMANDS} commands × ${LINES * 2} lines: ` +
        `p50 ${percentile(latencies, 50).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms; ` +
        `then 'true' p50 ${percentile(quick, 50).toFixed(1)} ms; outputs lost or mixed: ${lost}`,
    );
    assert.equal(lost, 0);
  });

  test(`soak: ${SOAK_SECONDS} s of create/exec/kill cycles, server memory and descriptors flat`, async () => {
    const pid = server.current?.child.pid ?? 0;
    const samples: { rssMiB: number; fds: number }[] = [];
    const end = Date.now() + SOAK_SECONDS * 1000;
    let cycles = 0;
    while (Date.now() < end) {
      const sandbox = await Sandbox.create();
      const r = await sandbox.commands.run("echo $((cycle+1))", { envs: { cycle: String(cycles) } });
      assert.equal(r.stdout.trim(), String(cycles + 1));
      await sandbox.files.write("/tmp/f", "x".repeat(1024));
      await sandbox.kill();
      cycles++;
      samples.push(usage(pid));
    }
    assert.ok(samples.length >= 8, `only ${samples.length} cycles`);
    // The first quarter warms caches and JIT; the last quarter must not have grown past it.
    const quarter = Math.max(2, Math.floor(samples.length / 4));
    const mean = (xs: { rssMiB: number; fds: number }[], k: "rssMiB" | "fds") =>
      xs.reduce((a, x) => a + x[k], 0) / xs.length;
    const early = samples.slice(quarter, 2 * quarter);
    const late = samples.slice(-quarter);
    const rss = { early: mean(early, "rssMiB"), late: mean(late, "rssMiB") };
    const fds = { early: mean(early, "fds"), late: mean(late, "fds") };
    console.log(
      `soak: ${cycles} cycles in ${SOAK_SECONDS} s; server RSS ${rss.early.toFixed(0)} → ${rss.late.toFixed(0)} MiB, ` +
        `fds ${fds.early.toFixed(0)} → ${fds.late.toFixed(0)}`,
    );
    assert.ok(rss.late < rss.early * 1.25 + 16, `server memory grew: ${JSON.stringify(rss)}`);
    assert.ok(fds.late <= fds.early + 8, `server descriptors grew: ${JSON.stringify(fds)}`);
  });
});
