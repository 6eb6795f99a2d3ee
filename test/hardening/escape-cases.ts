import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { after, before, describe, test } from "node:test";
import { FileNotFoundError, type Sandbox, SandboxError } from "e2b";
import { attackProbeCommand, type ProbeReport, parseProbeReport } from "./attack-probe.js";
import { addressesOf, envdFetch, type HardeningContext, recordOf, tokenOf } from "./hardening-context.js";

// Outcomes that are the right reason on both runtimes. Where runc (host kernel, user namespace,
// seccomp, no capability) and gVisor (its own kernel) refuse in different words, both are listed.
const expectedBoth: Record<string, readonly string[]> = {
  "kill0-host-pid": ["ESRCH"],
  "ptrace-attach-host-pid": ["ESRCH"],
  "mount-tmpfs": ["EPERM"],
  "mount-proc": ["EPERM"],
  "remount-rw-resolv": ["EPERM"],
  "umount-resolv": ["EPERM"],
  "init-module": ["EPERM"],
  "finit-module": ["EPERM"],
  "delete-module": ["EPERM"],
  settimeofday: ["EPERM"],
  "clock-settime": ["EPERM"],
  "adjtimex-set": ["EPERM"],
  "socket-af-packet": ["EPERM"],
  "socket-raw-icmp": ["EPERM"],
  "socket-raw-tcp": ["EPERM"],
  "write-proc-sys": ["EACCES", "EROFS", "ENOENT"],
  "write-proc-sysrq": ["EACCES", "EROFS", "ENOENT"],
  "write-sys-uevent-helper": ["EROFS", "ENOENT"],
  "read-proc-kcore": ["ENOENT", "empty"],
  "read-proc-keys": ["ENOENT", "empty"],
  sethostname: ["EPERM"],
  reboot: ["EPERM"],
  swapoff: ["EPERM"],
};

// The node is made but leads nowhere: gVisor's device table has no host disk or memory.
const expectedByRuntime: Record<"runc" | "runsc", Record<string, readonly string[]>> = {
  runc: { "mknod-block-vda": ["EPERM"], "mknod-char-mem": ["EPERM"] },
  runsc: {
    "mknod-block-vda": ["EPERM", "ENXIO"],
    "mknod-char-mem": ["EPERM", "ENXIO"],
    // gVisor's own procfs: its sysrq-trigger is a stub of the user-space kernel, not the host's.
    "write-proc-sysrq": ["EACCES", "EROFS", "ENOENT", "ok"],
  },
};

function hostAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === "IPv4" && !a.internal && !/^10\.2[0-9]{2}\./.test(a.address)) return a.address;
    }
  }
  throw new Error("no external IPv4 address on this host");
}

/** A TCP listener on every host address, standing for the host's other services. */
async function hostListener(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.on("error", () => undefined);
    s.end("host service\n");
  });
  await new Promise<void>((r) => server.listen(0, "0.0.0.0", r));
  return { server, port: (server.address() as { port: number }).port };
}

/** Forwards every host address's `port` to the API on 127.0.0.1, as a public `sandpit serve` listens. */
async function apiOnAllAddresses(apiPort: number): Promise<{ server: Server; port: number }> {
  const server = createServer((client) => {
    const upstream = createConnection(apiPort, "127.0.0.1");
    client.pipe(upstream).pipe(client);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "0.0.0.0", r));
  return { server, port: (server.address() as { port: number }).port };
}

// From an address outside the pool: the host's own INPUT rules drop what comes from the pool.
async function hostReaches(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host, port, timeout: 2000, localAddress: hostAddress() }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
    s.on("timeout", () => {
      s.destroy();
      resolve(false);
    });
  });
}

async function runProbe(sbx: Sandbox, user: "root" | "user", command: string): Promise<ProbeReport> {
  const r = await sbx.commands.run(command, { user, timeoutMs: 60_000 });
  return parseProbeReport(r.stdout);
}

/** Escape and snooping: the host's files, processes, kernel and network stay out of reach. */
export function escapeCases(ctx: () => HardeningContext): void {
  describe("escape and snooping", () => {
    const marker = `sphd-marker-${randomBytes(6).toString("hex")}`;
    const secret = `host secret ${randomBytes(12).toString("hex")}`;
    const hostMarker = `/tmp/${marker}`;
    const created = `sphd-created-${randomBytes(6).toString("hex")}`;
    let listener: { server: Server; port: number };
    let publicApi: { server: Server; port: number };

    before(async () => {
      writeFileSync(hostMarker, secret);
      listener = await hostListener();
      publicApi = await apiOnAllAddresses(Number(new URL(ctx().live.url).port));
    });

    after(() => {
      rmSync(hostMarker, { force: true });
      listener?.server.close();
      publicApi?.server.close();
      for (const f of [`/tmp/${created}`, `/tmp/${created}-up`, `/${created}-abs`])
        rmSync(f, { force: true });
    });

    for (const user of ["root", "user"] as const) {
      test(`privileged syscalls, host pids and the network refuse ${user} with the right errno`, async () => {
        const { live, attacker, neighbour, runtime } = ctx();
        const gateway = (await addressesOf(live, attacker.sandboxId)).host;
        const other = (await addressesOf(live, neighbour.sandboxId)).guest;
        const external = hostAddress();
        // The targets are live: the host itself reaches each, so a refusal inside is the firewall's.
        assert.ok(await hostReaches(gateway, listener.port), "host reaches its listener on the gateway");
        assert.ok(await hostReaches(external, publicApi.port), "host reaches the API on its own address");
        const command = attackProbeCommand({
          hostPid: process.pid,
          connect: {
            "gateway-host-service": { host: gateway, port: listener.port },
            "gateway-api": { host: gateway, port: publicApi.port },
            "host-address-api": { host: external, port: publicApi.port },
            "host-address-service": { host: external, port: listener.port },
            "neighbour-agent": { host: other, port: 49983 },
            metadata: { host: "169.254.169.254", port: 80 },
          },
        });
        const before = Date.now();
        const report = await runProbe(attacker, user, command);
        assert.equal(report.uid, user === "root" ? "0" : "1000");
        const expected = { ...expectedBoth, ...expectedByRuntime[runtime] };
        const wrong: string[] = [];
        for (const [name, allowed] of Object.entries(expected)) {
          if (!allowed.includes(report[name] ?? "missing")) wrong.push(`${name}=${report[name]}`);
        }
        for (const [name, value] of Object.entries(report)) {
          // Dropped, not refused: a refusal would mean the packet reached the host's stack.
          if (name.startsWith("connect-") && value !== "timeout") wrong.push(`${name}=${value}`);
        }
        assert.deepEqual(wrong, [], `unexpected outcomes: ${JSON.stringify(report)}`);
        // The host's clock did not move (the probe asked for a year ahead).
        assert.ok(Math.abs(Date.now() - before) < 120_000);
        // Only the sandbox's own processes are visible: init, agent, the probe's shell and python.
        assert.ok(Number(report.procs) < 20, `processes visible: ${report.procs}`);
      });
    }

    test("`date -s` as root fails with EPERM and the clock stays", async () => {
      const { attacker } = ctx();
      const r = await attacker.commands.run("date -s '2030-01-01' >/dev/null; echo rc=$?; date +%Y", {
        user: "root",
      });
      assert.match(r.stderr, /cannot set date: Operation not permitted/);
      assert.match(r.stdout, /rc=1/);
      assert.equal(r.stdout.trim().split("\n").at(-1), String(new Date().getUTCFullYear()));
    });

    test("/proc/self/mountinfo does not reveal host paths", async () => {
      const { attacker, live } = ctx();
      const r = await attacker.commands.run("cat /proc/self/mountinfo /proc/mounts", { user: "root" });
      for (const hostPath of [live.dataDir, "/var/lib/sandpit", "/work/", "/usr/bin/tini"]) {
        assert.ok(!r.stdout.includes(hostPath), `mountinfo reveals ${hostPath}`);
      }
    });

    test("/sys shows no host network links and cannot be written", async () => {
      const { attacker, live } = ctx();
      const veth = (await recordOf(live, attacker.sandboxId)).runtimeId;
      const r = await attacker.commands.run(
        "ls /sys/class/net 2>&1; echo x > /sys/kernel/uevent_helper 2>&1; echo rc=$?",
        { user: "root" },
      );
      assert.ok(!/\bsp[0-9a-f]{12}\b/.test(r.stdout), `host veths visible: ${r.stdout}`);
      assert.ok(!r.stdout.includes(veth));
      assert.match(r.stdout, /(Read-only file system|No such file or directory)[\s\S]*rc=1/);
    });

    describe("symlinks, hard links and `..` through every file API stay in the sandbox", () => {
      before(async () => {
        const { attacker } = ctx();
        // Planted by sandbox code, then handed to the file API by a (tricked) client.
        await attacker.commands.run(
          "ln -sfn / /home/user/hostroot && ln -sfn /proc/1/root /home/user/p1root && " +
            `ln -sfn /tmp/${marker} /home/user/marker-link && mkdir -p /home/user/w`,
        );
      });

      const paths = () => [
        `/home/user/hostroot/tmp/${marker}`,
        `/home/user/p1root/tmp/${marker}`,
        `/proc/1/root/tmp/${marker}`,
        `/proc/self/root/tmp/${marker}`,
        `/proc/1/cwd/tmp/${marker}`,
        `../../../../../../tmp/${marker}`,
        `/home/user/../../../tmp/${marker}`,
        "/home/user/marker-link",
        `${ctx().live.dataDir}/sandpit.db`,
      ];

      test("files.read never returns a host file", async () => {
        const { attacker } = ctx();
        for (const p of paths()) {
          // Not found in the sandbox, or (gVisor, /proc/1 of root as user) not even traversable.
          await assert.rejects(
            attacker.files.read(p),
            (e: unknown) => e instanceof FileNotFoundError || /EACCES/.test(String(e)),
            p,
          );
        }
      });

      test("GET /files with `..` and encoded `..` is resolved inside the sandbox", async () => {
        const { live, attacker } = ctx();
        const token = await tokenOf(live, attacker.sandboxId);
        for (const p of [
          `../../../tmp/${marker}`,
          `%2e%2e/%2e%2e/%2e%2e/tmp/${marker}`,
          `/home/user/hostroot/tmp/${marker}`,
        ]) {
          const res = await envdFetch(live, attacker.sandboxId, `/files?path=${p}&username=user`, { token });
          const text = await res.text();
          assert.equal(res.status, 404, `${p}: ${text}`);
          assert.ok(!text.includes(secret));
        }
      });

      test("files.list through planted links lists the sandbox's own /tmp", async () => {
        const { attacker } = ctx();
        for (const p of ["/home/user/hostroot/tmp", "/home/user/p1root/tmp", "/proc/1/root/tmp"]) {
          const names = await attacker.files.list(p).then(
            (entries) => entries.map((e) => e.name),
            (e: unknown) => {
              assert.match(String(e), /EACCES/, p);
              return [] as string[];
            },
          );
          assert.ok(!names.includes(marker), `${p} lists the host marker`);
        }
        const own = (await attacker.files.list("/home/user/hostroot/tmp")).map((e) => e.name);
        assert.ok(!own.includes(marker));
      });

      test("writes through links and `..` create nothing on the host", async () => {
        const { live, attacker } = ctx();
        const token = await tokenOf(live, attacker.sandboxId);
        for (const p of [
          `/home/user/hostroot/tmp/${created}`,
          `../../../../tmp/${created}`,
          `/proc/1/root/tmp/${created}`,
        ]) {
          const res = await envdFetch(
            live,
            attacker.sandboxId,
            `/files?path=${encodeURIComponent(p)}&username=user`,
            {
              method: "POST",
              token,
              headers: { "content-type": "application/octet-stream" },
              body: "written from inside",
            },
          );
          const text = await res.text();
          // Landed in the sandbox, or refused inside it (gVisor: /proc/1 of root as user).
          assert.ok(
            res.status === 200 || (res.status === 500 && /EACCES/.test(text)),
            `${p}: ${res.status} ${text}`,
          );
        }
        assert.equal(existsSync(`/tmp/${created}`), false, "a write reached the host's /tmp");
        assert.equal(await attacker.files.read(`/tmp/${created}`), "written from inside");
      });

      test("files.rename and files.remove through links cannot touch the host marker", async () => {
        const { attacker } = ctx();
        await assert.rejects(
          attacker.files.rename(`/home/user/hostroot/tmp/${marker}`, "/home/user/w/stolen"),
          (e: unknown) =>
            e instanceof SandboxError && /not found|does not exist|ENOENT|EXDEV/i.test(String(e)),
        );
        // Remove of a missing path succeeds (as in envd): it removed nothing of the host's. Under
        // gVisor the user may not even look into /proc/1/root (EACCES).
        await attacker.files
          .remove(`/proc/1/root/tmp/${marker}`)
          .catch((e: unknown) => assert.match(String(e), /EACCES/));
        await attacker.files.remove(`/home/user/hostroot/tmp/${marker}`);
        await attacker.files.remove("/home/user/marker-link");
        assert.equal(readFileSync(hostMarker, "utf8"), secret);
      });

      test("files.watchDir through a planted link watches the sandbox's directory", async () => {
        const { attacker } = ctx();
        const seen: string[] = [];
        const handle = await attacker.files.watchDir("/home/user/hostroot/tmp", (e) => {
          seen.push(e.name);
        });
        try {
          writeFileSync(`/tmp/${marker}-host-event`, "host side");
          await attacker.commands.run(`touch /tmp/${created}-inside`);
          const deadline = Date.now() + 10_000;
          while (!seen.some((n) => n.includes(`${created}-inside`)) && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 100));
          }
          assert.ok(
            seen.some((n) => n.includes(`${created}-inside`)),
            `events: ${seen.join(",")}`,
          );
          assert.ok(!seen.some((n) => n.includes(`${marker}-host-event`)), "saw a host file event");
        } finally {
          await handle.stop();
          rmSync(`/tmp/${marker}-host-event`, { force: true });
        }
      });

      test("multipart filenames with `..` and absolute paths land inside the sandbox", async () => {
        const { live, attacker } = ctx();
        const token = await tokenOf(live, attacker.sandboxId);
        const form = new FormData();
        form.append("file", new Blob(["up1"]), `../../../../tmp/${created}-up`);
        form.append("file", new Blob(["up2"]), `/${created}-abs`);
        const res = await envdFetch(live, attacker.sandboxId, "/files?username=user", {
          method: "POST",
          body: form,
          token,
        });
        const body = (await res.json()) as { path: string }[];
        assert.equal(res.status, 200, JSON.stringify(body));
        assert.deepEqual(
          body.map((e) => e.path),
          [`/tmp/${created}-up`, `/${created}-abs`],
        );
        const viaProc = new FormData();
        viaProc.append("file", new Blob(["up3"]), `/proc/1/root/tmp/${created}-p1`);
        const res2 = await envdFetch(live, attacker.sandboxId, "/files?username=user", {
          method: "POST",
          body: viaProc,
          token,
        });
        const text2 = await res2.text();
        assert.ok(res2.status === 200 || (res2.status === 500 && /EACCES/.test(text2)), text2);
        for (const f of [`/tmp/${created}-up`, `/${created}-abs`, `/tmp/${created}-p1`]) {
          assert.equal(existsSync(f), false, `${f} was created on the host`);
        }
        const inside = await attacker.commands.run(`cat /tmp/${created}-up /${created}-abs`);
        assert.equal(inside.stdout, "up1up2");
      });

      test("host files bound read-only (resolv.conf, the agent, init) cannot be changed through the API", async () => {
        const { live, attacker } = ctx();
        // The runtime keeps one resolv.conf for all sandboxes, in a directory named by its content.
        const [version] = readdirSync(`${live.dataDir}/resolv`);
        const hostResolv = `${live.dataDir}/resolv/${version}/resolv.conf`;
        const before = readFileSync(hostResolv, "utf8");
        const token = await tokenOf(live, attacker.sandboxId);
        for (const p of ["/etc/resolv.conf", "/opt/sandpit/agent/bin/node", "/opt/sandpit/init"]) {
          const res = await envdFetch(live, attacker.sandboxId, `/files?path=${p}&username=root`, {
            method: "POST",
            token,
            headers: { "content-type": "application/octet-stream" },
            body: "pwned",
          });
          const body = (await res.json()) as { message: string };
          assert.equal(res.status, 500, p);
          assert.match(body.message, /EROFS: read-only file system|ETXTBSY|EACCES/, p);
        }
        await assert.rejects(
          attacker.files.rename("/etc/resolv.conf", "/tmp/moved", { user: "root" }),
          (e: unknown) => e instanceof SandboxError && /EBUSY|EXDEV/.test(String(e)),
        );
        await assert.rejects(
          attacker.files.remove("/etc/resolv.conf", { user: "root" }),
          (e: unknown) => e instanceof SandboxError && /EBUSY/.test(String(e)),
        );
        const link = await attacker.commands.run("ln /opt/sandpit/init /tmp/hl 2>&1; echo rc=$?", {
          user: "root",
        });
        assert.match(link.stdout, /Invalid cross-device link[\s\S]*rc=1/);
        assert.equal(readFileSync(hostResolv, "utf8"), before);
      });

      // Regression: the agent answered before reading the body and left the rest on its
      // connection, which the proxy then reused for the next upload (502).
      test("after an upload the agent refused, the client's next upload on the same connection still works", async () => {
        const { attacker } = ctx();
        const outcomes: string[] = [];
        for (let i = 0; i < 4; i++) {
          for (const p of ["/etc/resolv.conf", "/opt/sandpit/init"]) {
            outcomes.push(
              await attacker.files.write(p, "pwned", { user: "root" }).then(
                () => "written",
                (e: unknown) => (e instanceof Error ? e.constructor.name : "?"),
              ),
            );
          }
        }
        // Every refusal must come back as the agent's own error, never as a dropped connection.
        assert.deepEqual(new Set(outcomes), new Set(["SandboxError"]));
      });
    });

    test("control-plane agent paths are not reachable through the proxy, even with the token", async () => {
      const { live, attacker } = ctx();
      const token = await tokenOf(live, attacker.sandboxId);
      for (const path of ["/init", "/INIT", "//init", "/%69nit", "/files/../init", "/freeze", "/upgrade"]) {
        for (const byHost of [false, true]) {
          const res = await envdFetch(live, attacker.sandboxId, path, {
            method: "POST",
            token,
            byHost,
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ accessToken: "stolen", envVars: { PWNED: "1" } }),
          });
          assert.equal(res.status, 404, `${path} byHost=${byHost}`);
          await res.body?.cancel();
        }
      }
      const envs = await attacker.commands.run("printenv PWNED || echo clean");
      assert.equal(envs.stdout.trim(), "clean");
    });
  });
}
