import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SandpitError } from "@sandpit/protocol";
import { createLocalRuntime, type LocalRuntime } from "../src/index.js";
import { connectionsBlockingSave } from "../src/runsc-runtime.js";
import { hostLeftovers, sharedMounts, sharedRules } from "./host-leftovers.js";

/** Where built templates are cached for every run on this host. */
export const TEMPLATES_DIR = process.env.SANDPIT_TEMPLATES_DIR ?? "/var/lib/sandpit/templates";

const notRoot = process.getuid?.() !== 0 ? "needs root (namespaces, mounts, cgroups, iptables)" : false;

/** Differences between the drivers that the suite has to know. */
export interface DriverTraits {
  runtime: "runsc" | "runc";
  /** A 10.x /16 no other suite uses. */
  addressPool: string;
  /** Whether exceeding memory kills only the offending process (runc) or the whole sandbox (gVisor). */
  memoryHogKillsOnlyProcess: boolean;
  checkpoint: boolean;
}

// A connection within the sandbox, echoing a byte every 50 ms; the count goes to /tmp/lo, a
// failure to /tmp/lo.err. No single quotes: it is passed inside them.
const LOOPBACK_ECHO = `
import os, socket, time
s = socket.socket(); s.bind(("127.0.0.1", 9000)); s.listen(1)
c = socket.create_connection(("127.0.0.1", 9000)); p, _ = s.accept()
n = 0
while True:
    try:
        c.sendall(b"x"); p.sendall(p.recv(1)); assert c.recv(1) == b"x"
    except Exception as e:
        open("/tmp/lo.err", "w").write(repr(e)); raise
    n += 1; open("/tmp/lo.new", "w").write(str(n)); os.replace("/tmp/lo.new", "/tmp/lo"); time.sleep(0.05)
`;

// Connects to the sandbox's gateway, whose firewall drops it: the connection stays in SYN_SENT.
const CONNECT_TO_GATEWAY = `
import socket, struct
for line in open("/proc/net/route").read().splitlines()[1:]:
    f = line.split()
    if f[1] == "00000000": gw = socket.inet_ntoa(struct.pack("<L", int(f[2], 16)))
try: socket.create_connection((gw, 9), timeout=60)
except Exception: pass
`;

/** Runs a command in a throwaway network namespace, like a host somewhere "outside". */
class OutsideHost {
  readonly netns: string;
  readonly address = "198.51.100.2";
  private server: ChildProcess | undefined;
  private readonly veth: string;

  constructor(tag: string) {
    this.netns = `spout${tag}`;
    this.veth = `spo${tag}`.slice(0, 15);
  }

  async start(port: number): Promise<void> {
    const ip = (args: string[]) => execFileSync("ip", args, { stdio: "ignore" });
    ip(["netns", "add", this.netns]);
    ip(["link", "add", this.veth, "type", "veth", "peer", "name", "eth0", "netns", this.netns]);
    ip(["addr", "add", "198.51.100.1/24", "dev", this.veth]);
    ip(["link", "set", this.veth, "up"]);
    ip(["-n", this.netns, "addr", "add", `${this.address}/24`, "dev", "eth0"]);
    ip(["-n", this.netns, "link", "set", "eth0", "up"]);
    this.server = spawn(
      "ip",
      [
        "netns",
        "exec",
        this.netns,
        process.execPath,
        "-e",
        `require("http").createServer((q,s)=>s.end("outside")).listen(${port})`,
      ],
      { stdio: "ignore" },
    );
    await new Promise((r) => setTimeout(r, 300));
  }

  stop(): void {
    this.server?.kill("SIGKILL");
    try {
      execFileSync("ip", ["link", "del", this.veth], { stdio: "ignore" });
    } catch {
      // gone with the namespace
    }
    try {
      execFileSync("ip", ["netns", "del", this.netns], { stdio: "ignore" });
    } catch {
      // never made
    }
  }
}

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((r) => server.listen(0, host, r));
  const address = server.address();
  assert(address && typeof address === "object");
  return address.port;
}

/** Curl from inside a sandbox; returns curl's exit code and body. */
async function curlFrom(rt: LocalRuntime, id: string, url: string) {
  const r = await rt.exec(id, ["curl", "-sS", "--max-time", "3", url], { timeoutMs: 15_000 });
  return { code: r.code, body: r.stdout, error: r.stderr };
}

/** The shared suite every local driver runs (gVisor and runc), with real sandboxes. */
export function driverSuite(traits: DriverTraits): void {
  const prefix = `spt${traits.runtime}`;
  describe(`local runtime on ${traits.runtime}`, { skip: notRoot, timeout: 600_000 }, () => {
    let dataDir: string;
    let rt: LocalRuntime;
    let seq = 0;
    const newId = () => `t${traits.runtime}${process.pid}x${seq++}`;

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), `sandpit-${traits.runtime}-`));
      rt = createLocalRuntime({
        runtime: traits.runtime,
        dataDir,
        templatesDir: TEMPLATES_DIR,
        prefix,
        addressPool: traits.addressPool,
        defaultLimits: { cpuCount: 1, memoryMB: 256, pids: 256, diskMB: 512 },
      });
      // A crashed earlier run of this suite must not leak into this one.
      await rt.janitor(new Set());
      await rt.templates.ensure("base");
    });

    after(async () => {
      await rt.janitor(new Set());
      await rt.close();
      assert.deepEqual(hostLeftovers(prefix, dataDir), []);
      assert.deepEqual(sharedRules(prefix), []);
      assert.deepEqual(sharedMounts(dataDir), []);
      assert.ok(!existsSync(`/run/${prefix}`), "the runtimes' state root is left");
      assert.ok(!existsSync(`/sys/fs/cgroup/memory/${prefix}`), "the prefix's parent cgroup is left");
      rmSync(dataDir, { recursive: true, force: true });
    });

    test("starts, runs commands as user and as root, and leaves nothing when removed", async () => {
      const id = newId();
      const info = await rt.create({ id, template: "base", command: ["sleep", "infinity"] });
      assert.equal(info.status, "running");
      assert.equal(info.runtime, traits.runtime);
      const asUser = await rt.exec(id, ["sh", "-c", "id -un; echo $HOME; touch /home/user/x && echo ok"], {
        user: 1000,
        env: { HOME: "/home/user" },
      });
      assert.equal(asUser.code, 0, asUser.stderr);
      assert.equal(asUser.stdout, "user\n/home/user\nok\n");
      const asRoot = await rt.exec(id, [
        "sh",
        "-c",
        "id -u; echo hi > /etc/written-by-root && cat /etc/written-by-root",
      ]);
      assert.equal(asRoot.stdout, "0\nhi\n");
      const tools = await rt.exec(id, [
        "sh",
        "-c",
        "python --version && pip3 --version >/dev/null && node --version && git --version && curl --version >/dev/null && sudo --version >/dev/null && tput -V",
      ]);
      assert.equal(tools.code, 0, tools.stderr);
      if (traits.runtime === "runc") {
        // Its own TCP socket table (negative: it walks the host's, 262144 buckets per read of
        // /proc/net/tcp, which the agent's port forwarding does four times a second).
        const buckets = await rt.exec(id, ["cat", "/proc/sys/net/ipv4/tcp_ehash_entries"]);
        assert.ok(Number(buckets.stdout) > 0 && Number(buckets.stdout) <= 65536, buckets.stdout);
      }
      assert.notDeepEqual(hostLeftovers(prefix, dataDir, id), []);
      await rt.remove(id);
      assert.deepEqual(hostLeftovers(prefix, dataDir, id), []);
      await assert.rejects(rt.get(id), (e: SandpitError) => e.code === "not_found");
      await rt.remove(id); // removing twice is fine
    });

    test("hostile code cannot read host files, reach host ports or other sandboxes, or see host processes", async () => {
      const marker = join(tmpdir(), `sandpit-marker-${process.pid}`);
      writeFileSync(marker, "host secret");
      const hostServer = createServer((s) => s.end("host service"));
      const port = await listen(hostServer, "0.0.0.0");
      const hostSleeper = spawn("sleep", [`${1000 + process.pid}`], { stdio: "ignore" });
      const a = newId();
      const b = newId();
      try {
        const infoA = await rt.create({ id: a, template: "base", command: ["sleep", "infinity"] });
        const infoB = await rt.create({
          id: b,
          template: "base",
          command: ["python3", "-m", "http.server", "8000", "--bind", "0.0.0.0"],
        });
        const read = await rt.exec(a, [
          "sh",
          "-c",
          `cat ${marker}; cat /proc/1/root${marker}; ls /proc/1/root/tmp`,
        ]);
        assert.doesNotMatch(read.stdout, /host secret/);
        // Mount options and roots name no host path: not the data dir, the templates, nor init's.
        const mounts = await rt.exec(a, ["cat", "/proc/self/mountinfo"]);
        assert.equal(mounts.code, 0);
        for (const hostPath of [dataDir, TEMPLATES_DIR, "/usr/bin"]) {
          assert.ok(!mounts.stdout.includes(hostPath), `mountinfo names ${hostPath}:\n${mounts.stdout}`);
        }
        const ps = await rt.exec(a, ["ps", "-eo", "args"]);
        assert.equal(ps.code, 0);
        assert.doesNotMatch(ps.stdout, new RegExp(`sleep ${1000 + process.pid}`));
        assert.ok(ps.stdout.trim().split("\n").length < 10, ps.stdout);
        // The host's gateway address on the veth, and the host's main address.
        const gateway = infoA.address.replace(/\.\d+$/, (m) => `.${Number(m.slice(1)) - 1}`);
        const mainAddress = execFileSync("ip", ["-4", "-o", "route", "get", "1.1.1.1"], {
          encoding: "utf8",
        }).match(/src (\S+)/)?.[1];
        for (const host of [gateway, mainAddress]) {
          const r = await curlFrom(rt, a, `http://${host}:${port}/`);
          assert.notEqual(r.code, 0, `reached the host at ${host}`);
          assert.doesNotMatch(r.body, /host service/);
        }
        // B serves (the host reaches it), but A cannot reach B.
        let served = false;
        for (let i = 0; i < 50 && !served; i++) {
          served = await fetch(`http://${infoB.address}:8000/`).then(
            (r) => r.ok,
            () => false,
          );
          if (!served) await new Promise((r) => setTimeout(r, 200));
        }
        assert.ok(served, "the host reaches a sandbox's port at its address");
        const r = await curlFrom(rt, a, `http://${infoB.address}:8000/`);
        assert.notEqual(r.code, 0, "sandbox A reached sandbox B");
        const meta = await curlFrom(rt, a, "http://169.254.169.254/");
        assert.notEqual(meta.code, 0);
      } finally {
        hostSleeper.kill();
        hostServer.close();
        rmSync(marker, { force: true });
        await rt.remove(a);
        await rt.remove(b);
      }
    });

    test("a fork bomb hits the pids limit while the host stays responsive", async () => {
      const id = newId();
      await rt.create({ id, template: "base", command: ["sleep", "infinity"], limits: { pids: 64 } });
      try {
        const bomb = rt.exec(id, ["bash", "-c", "bomb() { bomb | bomb & }; bomb; sleep 5"], {
          timeoutMs: 8_000,
        });
        await new Promise((r) => setTimeout(r, 2_000));
        const t = Date.now();
        execFileSync("true");
        assert.ok(Date.now() - t < 1_000, "host took over a second to start a process");
        const stats = await rt.stats(id).catch(() => undefined);
        if (stats && traits.runtime === "runc") assert.ok(stats.pids <= 64, `pids ${stats.pids}`);
        await bomb;
      } finally {
        await rt.remove(id);
      }
      assert.deepEqual(hostLeftovers(prefix, dataDir, id), []);
    });

    test("a memory hog is stopped by the memory limit, inside the sandbox only", async () => {
      const id = newId();
      const other = newId();
      await rt.create({ id, template: "base", command: ["sleep", "infinity"], limits: { memoryMB: 128 } });
      await rt.create({ id: other, template: "base", command: ["sleep", "infinity"] });
      try {
        const hog = await rt.exec(
          id,
          ["python3", "-c", "a = bytearray(600 * 1024 * 1024); print('survived')"],
          {
            timeoutMs: 60_000,
          },
        );
        assert.notEqual(hog.code, 0);
        assert.doesNotMatch(hog.stdout, /survived/);
        if (traits.memoryHogKillsOnlyProcess) {
          const alive = await rt.exec(id, ["echo", "alive"]);
          assert.equal(alive.stdout, "alive\n", "the sandbox outlives its hog");
        }
        const neighbour = await rt.exec(other, ["echo", "fine"]);
        assert.equal(neighbour.stdout, "fine\n");
      } finally {
        await rt.remove(id);
        await rt.remove(other);
      }
    });

    test("/tmp is on the sandbox's disk, as / is: a file there bigger than its memory fits and counts as disk", async () => {
      const id = newId();
      await rt.create({ id, template: "base", command: ["sleep", "infinity"], limits: { memoryMB: 128 } });
      try {
        const before = await rt.stats(id);
        const write = await rt.exec(
          id,
          ["sh", "-c", "head -c 209715200 /dev/zero > /tmp/big && stat -c %s /tmp/big && stat -c %a /tmp"],
          { timeoutMs: 60_000 },
        );
        assert.equal(write.code, 0, write.stderr);
        assert.equal(write.stdout, "209715200\n1777\n");
        const type = await rt.exec(id, ["stat", "-f", "-c", "%T", "/tmp"]);
        assert.notEqual(type.stdout.trim(), "tmpfs");
        const after = await rt.stats(id);
        assert.ok(
          after.diskUsedBytes - before.diskUsedBytes >= 200 * 1024 * 1024,
          `disk use grew by ${after.diskUsedBytes - before.diskUsedBytes} bytes`,
        );
        assert.ok(after.memoryBytes < 128 * 1024 * 1024, `memory ${after.memoryBytes}`);
        const alive = await rt.exec(id, ["echo", "alive"]);
        assert.equal(alive.stdout, "alive\n");
      } finally {
        await rt.remove(id);
      }
    });

    test("egress: no internet means no way out; with internet the outside answers", async () => {
      const outside = new OutsideHost(traits.runtime.slice(-2));
      const open = newId();
      const closed = newId();
      try {
        await outside.start(8080);
        await rt.create({
          id: open,
          template: "base",
          command: ["sleep", "infinity"],
          allowInternetAccess: true,
        });
        await rt.create({
          id: closed,
          template: "base",
          command: ["sleep", "infinity"],
          allowInternetAccess: false,
        });
        const yes = await curlFrom(rt, open, `http://${outside.address}:8080/`);
        assert.equal(yes.body, "outside", yes.error);
        const no = await curlFrom(rt, closed, `http://${outside.address}:8080/`);
        assert.notEqual(no.code, 0);
        // A warm sandbox gets its policy when it is handed out: the switch works both ways.
        await rt.setInternetAccess(closed, true);
        await rt.setInternetAccess(open, false);
        assert.equal((await curlFrom(rt, closed, `http://${outside.address}:8080/`)).body, "outside");
        assert.notEqual((await curlFrom(rt, open, `http://${outside.address}:8080/`)).code, 0);
        assert.equal((await rt.get(open)).allowInternetAccess, false);
      } finally {
        outside.stop();
        await rt.remove(open);
        await rt.remove(closed);
      }
    });

    test("checkpoint and restore keep a running process's state (runc: refused, it can only freeze)", async () => {
      const id = newId();
      if (!traits.checkpoint) {
        // CRIU fails on these kernels, so runc says so instead of pretending.
        await rt.create({ id, template: "base", command: ["sleep", "infinity"] });
        try {
          await assert.rejects(rt.checkpoint(id), (e: SandpitError) => e.code === "unimplemented");
          assert.equal((await rt.exec(id, ["echo", "still here"])).stdout, "still here\n");
        } finally {
          await rt.remove(id);
        }
        return;
      }
      const counter = "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done";
      const server = "python3 -m http.server 8080 --bind 0.0.0.0 >/dev/null 2>&1 &";
      const info = await rt.create({
        id,
        template: "base",
        command: ["bash", "-c", `${server} python3 -c '${LOOPBACK_ECHO}' & ${counter}`],
      });
      const client = new Socket();
      try {
        await new Promise((r) => setTimeout(r, 1_000));
        // A connection from outside, open and accepted: the save resets it instead of refusing.
        await new Promise<void>((resolve, reject) => {
          client.once("error", reject);
          client.connect(8080, info.address, resolve);
        });
        const clientGone = new Promise<string>((resolve) => {
          client.removeAllListeners("error");
          client.once("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
          client.once("close", () => resolve("closed"));
        });
        const before = Number(await readFile("/tmp/count"));
        const echoedBefore = Number(await readFile("/tmp/lo"));
        await rt.checkpoint(id);
        assert.equal((await rt.get(id)).status, "checkpointed");
        assert.equal(await clientGone, "ECONNRESET");
        const restored = await rt.restore(id);
        assert.equal(restored.address, info.address);
        await new Promise((r) => setTimeout(r, 500));
        const after = Number(await readFile("/tmp/count"));
        // A process started afresh would be near 10 by now; a restored one goes on from `before`.
        assert.ok(after > before && before > 5, `counter went from ${before} to ${after}`);
        // The loopback connection inside was saved whole: its echo goes on, no error.
        const echoedAfter = Number(await readFile("/tmp/lo"));
        assert.ok(
          echoedAfter > echoedBefore && echoedBefore > 5,
          `echoes went from ${echoedBefore} to ${echoedAfter}`,
        );
        assert.equal(await readFile("/tmp/lo.err"), undefined);
        // An HTTP/1.0 server closes first: its end of the connection sits in TIME_WAIT, unlisted
        // in /proc/net/tcp; the save drops it too.
        await http10Get(info.address, 8080);
        await rt.checkpoint(id);
        await rt.restore(id);
        // A connection still in its handshake (to the gateway, which drops it) cannot be saved:
        // a clear refusal, running or paused, and the sandbox stays whole.
        const opening = rt.exec(id, ["python3", "-c", CONNECT_TO_GATEWAY]);
        await waitFor(
          "a connection in SYN_SENT",
          async () => connectionsBlockingSave((await rt.exec(id, ["cat", "/proc/net/tcp"])).stdout, true) > 0,
        );
        await assert.rejects(rt.checkpoint(id), (e: SandpitError) => e.code === "failed_precondition");
        assert.equal((await rt.get(id)).status, "running");
        const running = Number(await readFile("/tmp/count"));
        await rt.pause(id);
        await assert.rejects(rt.checkpoint(id), (e: SandpitError) => e.code === "failed_precondition");
        assert.equal((await rt.get(id)).status, "paused");
        await rt.resume(id);
        await new Promise((r) => setTimeout(r, 300));
        const resumed = Number(await readFile("/tmp/count"));
        assert.ok(resumed > running, `counter went from ${running} to ${resumed}`);
        // By a word of that script alone: the sandbox's init holds the loopback one in its arguments.
        await rt.exec(id, ["pkill", "-f", "inet_ntoa"]);
        await opening;
        // Its listener still takes connections.
        await http10Get(info.address, 8080);
      } finally {
        client.destroy();
        await rt.remove(id);
      }
      async function readFile(path: string) {
        const r = await rt.exec(id, ["cat", path]).catch(() => undefined);
        return r?.code === 0 ? r.stdout.trim() : undefined;
      }
      async function waitFor(what: string, check: () => Promise<boolean>) {
        for (let i = 0; !(await check()); i++) {
          if (i > 100) throw new Error(`timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      async function http10Get(host: string, port: number) {
        const socket = new Socket();
        await new Promise<void>((resolve, reject) => {
          socket.once("error", reject);
          socket.connect(port, host, () => socket.write("GET / HTTP/1.0\r\n\r\n"));
          socket.on("data", () => {});
          socket.once("close", (hadError) => (hadError ? reject(new Error("no answer")) : resolve()));
        });
      }
    });

    test("pause freezes every process and resume thaws them", async () => {
      const id = newId();
      await rt.create({
        id,
        template: "base",
        command: ["bash", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done"],
      });
      try {
        await new Promise((r) => setTimeout(r, 500));
        await rt.pause(id);
        assert.equal((await rt.get(id)).status, "paused");
        await rt.resume(id);
        const a = Number((await rt.exec(id, ["cat", "/tmp/count"])).stdout);
        await new Promise((r) => setTimeout(r, 400));
        const b = Number((await rt.exec(id, ["cat", "/tmp/count"])).stdout);
        assert.ok(b > a, `counter ${a} → ${b}`);
      } finally {
        await rt.remove(id);
      }
    });

    test("a sandbox whose processes were killed from outside reads as stopped", async () => {
      const id = newId();
      await rt.create({ id, template: "base", command: ["sleep", "infinity"] });
      try {
        assert.equal((await rt.get(id)).status, "running");
        // What the host's OOM killer or an operator does: every process of its cgroup, SIGKILL.
        const procs = execFileSync(
          "sh",
          ["-c", `cat /sys/fs/cgroup/*/${prefix}/${id}/cgroup.procs | sort -u`],
          {
            encoding: "utf8",
          },
        );
        for (const pid of procs.split("\n").filter(Boolean)) {
          try {
            process.kill(Number(pid), "SIGKILL");
          } catch (e) {
            // Gone already: its init died first and the kernel took the rest of its namespace.
            if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
          }
        }
        const deadline = Date.now() + 5000;
        while ((await rt.get(id)).status !== "stopped" && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        assert.equal((await rt.get(id)).status, "stopped");
      } finally {
        await rt.remove(id);
      }
      assert.deepEqual(hostLeftovers(prefix, dataDir, id), []);
    });

    test("the janitor removes what a crash left behind", async () => {
      const id = newId();
      await rt.create({ id, template: "base", command: ["sleep", "infinity"] });
      const keep = newId();
      await rt.create({ id: keep, template: "base", command: ["sleep", "infinity"] });
      // A new runtime over the same state is what a restarted server sees.
      const restarted = createLocalRuntime({
        runtime: traits.runtime,
        dataDir,
        templatesDir: TEMPLATES_DIR,
        prefix,
        addressPool: traits.addressPool,
      });
      const report = await restarted.janitor(new Set([keep]));
      assert.deepEqual(report.removed, [id]);
      assert.deepEqual(hostLeftovers(prefix, dataDir, id), []);
      assert.equal((await restarted.exec(keep, ["echo", "kept"])).stdout, "kept\n");
      await restarted.remove(keep);
      assert.deepEqual(hostLeftovers(prefix, dataDir, keep), []);
    });

    test("bad input is a typed error and leaves nothing", async () => {
      const cases: [Parameters<LocalRuntime["create"]>[0], string][] = [
        [{ id: newId(), template: "no-such-template", command: ["true"] }, "not_found"],
        [{ id: "Bad-Id", template: "base", command: ["true"] }, "invalid_argument"],
        [{ id: newId(), template: "base", command: [] }, "invalid_argument"],
        [{ id: newId(), template: "base", command: ["true"], limits: { cpuCount: 0 } }, "invalid_argument"],
        [
          { id: newId(), template: "base", command: ["true"], limits: { memoryMB: 10_000_000 } },
          "invalid_argument",
        ],
        [{ id: newId(), template: "base", command: ["true"], limits: { pids: 1 } }, "invalid_argument"],
        [{ id: newId(), template: "base", command: ["true"], limits: { diskMB: 1 } }, "invalid_argument"],
      ];
      for (const [spec, code] of cases) {
        await assert.rejects(
          rt.create(spec),
          (e: SandpitError) => e instanceof SandpitError && e.code === code,
          spec.id,
        );
        assert.deepEqual(hostLeftovers(prefix, dataDir, spec.id), []);
      }
      await assert.rejects(rt.exec("nosuchsandbox", ["true"]), (e: SandpitError) => e.code === "not_found");
      await assert.rejects(rt.stats("../etc"), (e: SandpitError) => e.code === "not_found");
      await assert.rejects(rt.remove("../etc"), (e: SandpitError) => e.code === "invalid_argument");
      const id = newId();
      await rt.create({ id, template: "base", command: ["sleep", "infinity"] });
      await assert.rejects(
        rt.create({ id, template: "base", command: ["true"] }),
        (e: SandpitError) => e.code === "already_exists",
      );
      await rt.remove(id);
    });
  });
}
