import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, statfsSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { describe, type TestContext, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { CommandExitError, type Sandbox } from "e2b";
import { createSandbox, envdFetch, type HardeningContext, recordOf, tokenOf } from "./hardening-context.js";
import { measureSpillover, SPILLOVER_FACTOR, type SpilloverReport } from "./neighbour-latency.js";

/** A fresh sandbox for one destructive attack, killed afterwards whatever state it is left in. */
async function withVictim<T>(fn: (sbx: Sandbox) => Promise<T>): Promise<T> {
  const sbx = await createSandbox({ role: "victim" });
  try {
    return await fn(sbx);
  } finally {
    await sbx.kill();
  }
}

// A floor under the idle median: on a shared 2-core machine a 5 ms median is noise-bound, and
// 5x of it would fail on scheduling jitter rather than on an attack spilling over.
const IDLE_FLOOR_MS = 40;

function assertBounded(t: TestContext, what: string, report: SpilloverReport): void {
  t.diagnostic(
    `${what}: neighbour p50 idle ${report.idleP50.toFixed(1)} ms, under attack ${report.attackP50.toFixed(1)} ms over ${report.samples} runs`,
  );
  assert.deepEqual(report.failures, [], "the neighbour's commands failed during the attack");
  assert.ok(report.samples > 0, "the neighbour ran no command during the attack");
  const bound = SPILLOVER_FACTOR * Math.max(report.idleP50, IDLE_FLOOR_MS);
  assert.ok(
    report.attackP50 < bound,
    `${what}: neighbour p50 ${report.attackP50.toFixed(1)} ms ≥ ${bound.toFixed(1)} ms`,
  );
}

/** The API still answers, quickly, while the attack runs or right after. */
async function assertApiAlive(ctx: HardeningContext): Promise<void> {
  const t = performance.now();
  const res = await fetch(`${ctx.live.url}/health`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  assert.ok(performance.now() - t < 2000, "the API took over 2 s to answer /health");
}

/** Retries a command until the sandbox answers again (an attack may leave it briefly busy). */
async function recovers(sbx: Sandbox, ms = 30_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return (await sbx.commands.run("echo alive", { requestTimeoutMs: 10_000 })).stdout.trim();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function cgroupValue(
  controller: string,
  prefix: string,
  runtimeId: string,
  file: string,
): number | undefined {
  try {
    const raw = readFileSync(`/sys/fs/cgroup/${controller}/${prefix}/${runtimeId}/${file}`, "utf8").trim();
    return raw === "max" ? Number.POSITIVE_INFINITY : Number(raw);
  } catch {
    return undefined;
  }
}

const run = promisify(execFile);

function fdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Runs a command and returns stdout and exit code, whether or not it exits 0. */
async function runAnyway(
  sbx: Sandbox,
  cmd: string,
  opts: { user?: "root" | "user"; timeoutMs?: number } = {},
) {
  try {
    const r = await sbx.commands.run(cmd, { timeoutMs: opts.timeoutMs ?? 120_000, user: opts.user });
    return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, error: r.error };
  } catch (e) {
    if (e instanceof CommandExitError)
      return { stdout: e.stdout, stderr: e.stderr, exitCode: e.exitCode, error: e.error };
    throw e;
  }
}

const forkBomb = (seconds: number) => `python3 -c '
import errno, os, time
end = time.time() + ${seconds}
while time.time() < end:
    try:
        os.fork()
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.ENOMEM):
            try:
                os.close(os.open("/tmp/fork-refused-" + errno.errorcode[e.errno], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except OSError:
                pass
        time.sleep(0.05)
os._exit(0)
'; ls /tmp | grep fork-refused || true`;

const memoryBalloon = String.raw`python3 -c '
chunks = []
for i in range(64):
    chunks.append(b"\x01" * (64 << 20))
    print(len(chunks) * 64, flush=True)
'`;

/** Exhaustion: the sandbox suffers; the host, the API and a neighbour sandbox do not. */
export function exhaustionCases(ctx: () => HardeningContext): void {
  describe("exhaustion", () => {
    test("fork bomb: the neighbour and the API stay responsive, the host's pid limit holds", async (t) => {
      const c = ctx();
      await withVictim(async (victim) => {
        const runtimeId = (await recordOf(c.live, victim.sandboxId)).runtimeId;
        const prefix = c.runtime === "runc" ? "sphdrunc" : "sphdrunsc";
        let peakPids = 0;
        const { result, report } = await measureSpillover(c.neighbour, async () => {
          const bomb = runAnyway(victim, forkBomb(c.full ? 20 : 8), { timeoutMs: 90_000 }).catch(
            (e: unknown) => ({ stdout: "", stderr: String(e), exitCode: Number.NaN, error: String(e) }),
          );
          const sampler = setInterval(() => {
            peakPids = Math.max(peakPids, cgroupValue("pids", prefix, runtimeId, "pids.current") ?? 0);
          }, 200);
          try {
            await new Promise((r) => setTimeout(r, 3000));
            await assertApiAlive(c);
            return await bomb;
          } finally {
            clearInterval(sampler);
          }
        });
        const pidsMax = cgroupValue("pids", prefix, runtimeId, "pids.max");
        t.diagnostic(`fork bomb: ${JSON.stringify(result)}; host pids peak ${peakPids} of max ${pidsMax}`);
        assertBounded(t, "fork bomb", report);
        await assertApiAlive(c);
        assert.ok(pidsMax !== undefined && peakPids <= pidsMax, `pids ${peakPids} > ${pidsMax}`);
        await t.test(
          "forks are refused inside (EAGAIN) and the sandbox survives its bomb",
          c.runtime === "runsc"
            ? {
                todo: "gVisor: each forked Python costs ~2 MiB of host memory, so memory runs out before the process limit, and the agent's memory guard starves among hundreds of runnable tasks (see report)",
              }
            : {},
          async () => {
            // A pids cgroup refuses the forks: the host's under runc, gVisor's own under runsc.
            assert.match(result.stdout, /fork-refused-EAGAIN/);
            assert.equal(await recovers(victim, 15_000), "alive");
          },
        );
      });
    });

    test("memory balloon beyond the limit: the balloon dies, the neighbour does not notice", async (t) => {
      const c = ctx();
      await withVictim(async (victim) => {
        const runtimeId = (await recordOf(c.live, victim.sandboxId)).runtimeId;
        const prefix = c.runtime === "runc" ? "sphdrunc" : "sphdrunsc";
        const limit = cgroupValue("memory", prefix, runtimeId, "memory.limit_in_bytes") ?? 0;
        // A bystander in the same sandbox: the OOM killer (or the agent's guard) must spare it.
        await victim.commands.run("sleep 7777", { background: true });
        let peak = 0;
        const sampler = setInterval(() => {
          peak = Math.max(peak, cgroupValue("memory", prefix, runtimeId, "memory.max_usage_in_bytes") ?? 0);
        }, 100);
        const { result, report } = await measureSpillover(c.neighbour, () =>
          runAnyway(victim, memoryBalloon, { timeoutMs: 120_000 }).catch((e: unknown) => ({
            stdout: "",
            stderr: String(e),
            exitCode: Number.NaN,
            error: String(e),
          })),
        ).finally(() => clearInterval(sampler));
        const reached = Number(result.stdout.trim().split("\n").at(-1) ?? 0);
        t.diagnostic(
          `balloon: exit ${result.exitCode} (${result.error}), reached ${reached} MiB; host cgroup peak ${(peak / 2 ** 20).toFixed(0)} MiB of ${(limit / 2 ** 20).toFixed(0)} MiB`,
        );
        assertBounded(t, "memory balloon", report);
        await assertApiAlive(c);
        // The host's memory cgroup holds the whole sandbox at its limit, whatever happens inside.
        assert.ok(limit > 0 && limit <= 1024 * 2 ** 20, `memory limit ${limit}`);
        // The v1 memory controller charges in per-CPU batches: its peak may pass the limit by a few pages.
        assert.ok(peak <= limit + 2 ** 20, `cgroup peak ${peak} above limit ${limit}`);
        assert.ok(reached < 1024, `the balloon reached ${reached} MiB with a 1024 MiB limit`);
        await t.test("only the balloon dies: the sandbox's agent survives it", async () => {
          // Killed (by the kernel's OOM killer under runc, the agent's guard under runsc) or
          // refused (MemoryError).
          assert.ok(
            /killed/.test(String(result.error)) || /MemoryError/.test(result.stderr),
            `exit ${result.exitCode} ${result.error}`,
          );
          assert.equal(await recovers(victim, 10_000), "alive");
          const bystander = await victim.commands.run("pgrep -x sleep || echo gone");
          assert.doesNotMatch(bystander.stdout, /gone/, "the other command of the sandbox lives on");
        });
      });
    });

    test("disk fill of the writable layer: ENOSPC inside, 507 from uploads, the host disk untouched", async (t) => {
      const c = ctx();
      await withVictim(async (victim) => {
        const free = () => statfsSync(c.live.dataDir).bavail * statfsSync(c.live.dataDir).bsize;
        const hostFreeBefore = free();
        const { result, report } = await measureSpillover(c.neighbour, () =>
          runAnyway(
            victim,
            String.raw`python3 -c '
import errno, os
fd = os.open("/home/user/fill", os.O_WRONLY | os.O_CREAT)
size = 0
try:
    while True:
        os.posix_fallocate(fd, size, 256 << 20)
        size += 256 << 20
except OSError as e:
    print("fallocate", errno.errorcode[e.errno])
block = b"\1" * (1 << 20)
try:
    while True:
        os.write(fd, block)
except OSError as e:
    print("write", errno.errorcode[e.errno])
'; df -B1 --output=avail / | tail -1`,
            { timeoutMs: 180_000 },
          ),
        );
        t.diagnostic(`disk fill: ${JSON.stringify(result.stdout)}`);
        assertBounded(t, "disk fill", report);
        assert.match(result.stdout, /^write ENOSPC$/m);
        assert.ok(Number(result.stdout.trim().split("\n").at(-1)) < 64 * 2 ** 20, "the layer is not full");
        const token = await tokenOf(c.live, victim.sandboxId);
        const upload = (body: Buffer) =>
          envdFetch(c.live, victim.sandboxId, "/files?path=/home/user/more.bin&username=user", {
            method: "POST",
            token,
            headers: { "content-type": "application/octet-stream" },
            body,
          });
        const small = await upload(Buffer.from("x"));
        assert.equal(small.status, 507, await small.text());
        const usedOnHost = hostFreeBefore - free();
        t.diagnostic(`disk fill: host free space went down by ${(usedOnHost / 2 ** 20).toFixed(0)} MiB`);
        // The layer is a 4 GiB image: the host cannot lose more than that.
        assert.ok(usedOnHost < 4200 * 2 ** 20, `host lost ${usedOnHost} bytes`);
        // Regression: the agent answered before reading the body and the proxy, still sending
        // it, answered 502.
        await t.test("a large upload to the full disk also answers 507", async () => {
          const large = await upload(Buffer.alloc(4 << 20, 1));
          assert.equal(large.status, 507, await large.text());
        });
        assert.equal(await recovers(victim), "alive");
      });
    });

    test("inode exhaustion: ENOSPC inside, the agent still serves", async (t) => {
      const c = ctx();
      if (c.runtime === "runsc" && !c.full) {
        // 262 144 inodes at gVisor's ~8 000 creates/s is over half a minute: full runs only.
        t.skip("gVisor creates files too slowly for CI; HARDENING_FULL=1 runs it");
        return;
      }
      await withVictim(async (victim) => {
        const { result, report } = await measureSpillover(c.neighbour, () =>
          runAnyway(
            victim,
            String.raw`python3 -c '
import errno, os, time
# Each run in a directory of its own, and a line per run: a command started twice would show.
with open("/home/user/inode-runs", "a") as log:
    log.write("%d %f\n" % (os.getpid(), time.time()))
root = "/home/user/inodes-%d" % os.getpid()
os.makedirs(root)
n = 0
try:
    while True:
        d = "%s/%d" % (root, n // 10000)
        if n % 10000 == 0:
            os.mkdir(d)
        os.symlink("x", "%s/%d" % (d, n))
        n += 1
except OSError as e:
    print(n, errno.errorcode[e.errno])
print("runs", len(open("/home/user/inode-runs").read().split()) // 2)
'; df -i / | tail -1`,
            { timeoutMs: 600_000 },
          ),
        );
        t.diagnostic(`inodes: ${JSON.stringify(result)}`);
        assertBounded(t, "inode exhaustion", report);
        assert.match(result.stdout, /^\d+ ENOSPC$/m);
        assert.match(result.stdout, /^runs 1$/m, "the command was started more than once");
        const token = await tokenOf(c.live, victim.sandboxId);
        const upload = await envdFetch(
          c.live,
          victim.sandboxId,
          "/files?path=/home/user/new-file&username=user",
          {
            method: "POST",
            token,
            headers: { "content-type": "application/octet-stream" },
            body: "x",
          },
        );
        assert.equal(upload.status, 507, await upload.text());
        assert.equal(await recovers(victim), "alive");
      });
    });

    test("a flood of output: the client receives every byte, the server's memory stays bounded", async (t) => {
      const c = ctx();
      const bytes = (c.full ? 500 : 100) * 1_000_000;
      await withVictim(async (victim) => {
        const rssBefore = process.memoryUsage().rss;
        let peakRss = rssBefore;
        const sampler = setInterval(() => {
          peakRss = Math.max(peakRss, process.memoryUsage().rss);
        }, 100);
        const { result, report } = await measureSpillover(c.neighbour, async () => {
          const reader = fileURLToPath(new URL("./flood-reader.ts", import.meta.url));
          const r = await run(
            process.execPath,
            ["--import", "tsx", reader, victim.sandboxId, String(bytes)],
            {
              maxBuffer: 1 << 20,
              timeout: 600_000,
            },
          );
          return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as { received: number; ms: number };
        }).finally(() => clearInterval(sampler));
        const grew = (peakRss - rssBefore) / 2 ** 20;
        t.diagnostic(
          `flood: ${result.received} bytes in ${(result.ms / 1000).toFixed(1)} s (${(result.received / 1e3 / result.ms).toFixed(1)} MB/s); server rss +${grew.toFixed(0)} MiB`,
        );
        assert.equal(result.received, bytes);
        // Output is streamed through, not buffered whole: the server grows far less than the flood.
        assert.ok(grew < 200, `server rss grew ${grew.toFixed(0)} MiB`);
        assertBounded(t, "output flood", report);
      });
    });

    test("10 000 open files in one process: allowed up to the sandbox's limit, EMFILE beyond it", async (t) => {
      const c = ctx();
      const { result, report } = await measureSpillover(c.neighbour, () =>
        runAnyway(
          c.attacker,
          `python3 -c '
import errno, os, resource, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
fds = []
try:
    while len(fds) < 10000:
        fds.append(os.open("/dev/null", os.O_RDONLY))
    print("opened", len(fds), flush=True)
    # Held open a while, so the neighbour is measured while they are.
    time.sleep(5)
    while True:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    print("stopped", len(fds), errno.errorcode[e.errno], "hard", hard)
'`,
        ),
      );
      t.diagnostic(`open files: ${result.stdout.trim()}`);
      assertBounded(t, "open files", report);
      assert.match(result.stdout, /^opened 10000$/m);
      assert.match(result.stdout, /^stopped \d+ EMFILE hard \d+$/m);
      assert.equal((await c.attacker.commands.run("echo fine")).stdout.trim(), "fine");
    });

    test("a recursive watch on a large tree is set up in bounded time and still reports", async (t) => {
      const c = ctx();
      const files = c.full ? 100_000 : 20_000;
      await withVictim(async (victim) => {
        await victim.commands.run(
          `python3 -c '
import os
for d in range(${files} // 1000):
    p = "/home/user/tree/%03d" % d
    os.makedirs(p)
    for f in range(1000):
        open("%s/%d" % (p, f), "w").close()
'`,
          { timeoutMs: 600_000 },
        );
        const seen: string[] = [];
        let setupMs = 0;
        const { result: handle, report } = await measureSpillover(c.neighbour, async () => {
          const started = performance.now();
          const watch = await victim.files.watchDir("/home/user/tree", (e) => void seen.push(e.name), {
            recursive: true,
            timeoutMs: 120_000,
          });
          setupMs = performance.now() - started;
          // Then a burst of events through the large watch, while the neighbour is measured.
          await victim.commands.run(
            "for i in $(seq 1 300); do touch /home/user/tree/00$((i % 10))/burst-$i; done",
          );
          // Files, not events: a touch gives a file more than one (create, then attributes).
          const deadline = Date.now() + 15_000;
          while (new Set(seen.filter((n) => n.includes("burst-"))).size < 300 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 100));
          }
          return watch;
        });
        try {
          const burst = new Set(seen.filter((n) => n.includes("burst-"))).size;
          t.diagnostic(
            `watch of ${files} files: set up in ${setupMs.toFixed(0)} ms; ${burst}/300 burst files reported`,
          );
          assertBounded(t, "large watch", report);
          assert.ok(setupMs < 60_000, `watch setup took ${setupMs} ms`);
          assert.equal(burst, 300, "the watch lost events of the burst");
        } finally {
          await handle.stop();
        }
      });
    });

    test("1 000 concurrent streams from one client: served, then freed when the client goes", async (t) => {
      const c = ctx();
      const streams = 1000;
      const sleeper = await c.attacker.commands.run("sleep 600", { background: true, timeoutMs: 0 });
      const token = await tokenOf(c.live, c.attacker.sandboxId);
      const agentFds = async () =>
        Number(
          (
            await c.attacker.commands.run(
              `python3 -c '
import os
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            c = open("/proc/%s/cmdline" % p, "rb").read()
        except OSError:
            continue
        # The agent itself, not init (whose argv names the agent too) nor this probe.
        if b"agent.mjs" in c and not c.startswith(b"/opt/sandpit/init") and b"python" not in c:
            print(len(os.listdir("/proc/%s/fd" % p)))
            break
'`,
              { user: "root" },
            )
          ).stdout.trim(),
        );
      const payload = Buffer.from(JSON.stringify({ process: { pid: sleeper.pid } }));
      const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), payload]);
      envelope.writeUInt32BE(payload.length, 1);
      const requests: ReturnType<typeof httpRequest>[] = [];
      // One connection per stream, as 1 000 independent clients (or one without a pool) open them.
      const openStream = () =>
        new Promise<number>((resolve, reject) => {
          const req = httpRequest(
            `${c.live.url}/process.Process/Connect`,
            {
              method: "POST",
              agent: false,
              headers: {
                "e2b-sandbox-id": c.attacker.sandboxId,
                "e2b-sandbox-port": "49983",
                "x-access-token": token,
                "content-type": "application/connect+json",
                "connect-protocol-version": "1",
              },
            },
            (res) => {
              // The first envelope (the "start" event) proves the agent serves this stream.
              res.once("data", () => resolve(res.statusCode ?? 0));
              res.on("error", () => undefined);
            },
          );
          req.on("error", reject);
          requests.push(req);
          req.end(envelope);
        });
      try {
        const fdsBefore = fdCount();
        const agentBefore = await agentFds();
        const started = performance.now();
        const opened = await Promise.allSettled(Array.from({ length: streams }, openStream));
        const openMs = performance.now() - started;
        const served = opened.filter((o) => o.status === "fulfilled" && o.value === 200).length;
        const agentDuring = await agentFds();
        await assertApiAlive(c);
        const latency = performance.now();
        assert.equal((await c.neighbour.commands.run("echo ok")).stdout.trim(), "ok");
        const neighbourMs = performance.now() - latency;
        t.diagnostic(
          `streams: ${served}/${streams} served in ${openMs.toFixed(0)} ms; agent fds ${agentBefore} → ${agentDuring}; server process fds ${fdsBefore} → ${fdCount()}; neighbour ${neighbourMs.toFixed(0)} ms`,
        );
        assert.equal(served, streams, String(opened.find((o) => o.status === "rejected")?.reason));
        for (const req of requests) req.destroy();
        // Freed: the agent's and the server process's descriptors go back to where they were.
        const deadline = Date.now() + 20_000;
        let agentAfter = await agentFds();
        while ((agentAfter > agentBefore + 20 || fdCount() > fdsBefore + 20) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 500));
          agentAfter = await agentFds();
        }
        t.diagnostic(`streams freed: agent fds ${agentAfter}, server process fds ${fdCount()}`);
        assert.ok(agentAfter <= agentBefore + 20, `agent still holds ${agentAfter} fds (was ${agentBefore})`);
        assert.ok(fdCount() <= fdsBefore + 20, `server process holds ${fdCount()} fds (was ${fdsBefore})`);
        const list = await c.attacker.commands.list();
        assert.ok(
          list.some((p) => p.pid === sleeper.pid),
          "the streamed process itself is untouched",
        );
      } finally {
        for (const req of requests) req.destroy();
        await c.attacker.commands.kill(sleeper.pid);
      }
    });
  });
}
