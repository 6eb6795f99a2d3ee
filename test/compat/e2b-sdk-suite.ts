// The official e2b SDK (2.45.0) against a live Sandpit server: the REST API, the proxy and the
// agent in real sandboxes, exactly as a user points it with E2B_API_URL/E2B_SANDBOX_URL.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { CommandExitError, Sandbox, SandboxNotFoundError, TimeoutError } from "e2b";
import { eventually, type LiveServer, notRoot, startLiveServer } from "./live-server.js";

const run = promisify(execFile);

async function curl(args: string[]): Promise<{ status: number; body: string }> {
  const r = await run("curl", ["-sS", "--max-time", "10", "-w", "\n%{http_code}", ...args]);
  const lines = r.stdout.split("\n");
  return { status: Number(lines.pop()), body: lines.join("\n") };
}

/** The suite every driver runs against a server of its own. */
export function e2bSdkSuite(runtime: "runsc" | "runc", addressPool: string): void {
  describe(`the e2b SDK against a live server (${runtime})`, { skip: notRoot, timeout: 900_000 }, () => {
    let live: LiveServer;
    let sbx: Sandbox;

    before(async () => {
      live = await startLiveServer({ runtime, prefix: `spe2e${runtime}`, addressPool });
      live.useSdk();
      sbx = await Sandbox.create({
        metadata: { suite: "e2e", who: "main" },
        envs: { GREETING: "hello there" },
      });
    });

    after(async () => {
      await live?.close();
    });

    test("create reports the server's domain, a token, and the template", async () => {
      const info = await sbx.getInfo();
      assert.equal(info.sandboxId, sbx.sandboxId);
      assert.match(sbx.sandboxId, /^[a-z0-9]+$/);
      assert.equal(info.templateId, "base");
      assert.equal(info.name, "base");
      assert.deepEqual(info.metadata, { suite: "e2e", who: "main" });
      assert.equal(info.state, "running");
      assert.ok(info.endAt.getTime() > Date.now());
      assert.equal(sbx.sandboxDomain, live.domain);
    });

    test("commands: env vars from create, user, cwd, exit codes", async () => {
      const r = await sbx.commands.run('echo "$GREETING|$(whoami)|$(pwd)|$E2B_SANDBOX_ID|$E2B_TEMPLATE_ID"');
      assert.equal(r.stdout.trim(), `hello there|user|/home/user|${sbx.sandboxId}|base`);
      const root = await sbx.commands.run("whoami", { user: "root" });
      assert.equal(root.stdout.trim(), "root");
      await assert.rejects(
        sbx.commands.run("exit 3"),
        (e: unknown) => e instanceof CommandExitError && e.exitCode === 3,
      );
    });

    test("background command, list, connect and kill", async () => {
      const handle = await sbx.commands.run("sleep 30", { background: true });
      const listed = await sbx.commands.list();
      assert.ok(listed.some((p) => p.pid === handle.pid));
      const again = await sbx.commands.connect(handle.pid);
      assert.equal(await sbx.commands.kill(handle.pid), true);
      await assert.rejects(again.wait());
    });

    test("pty: create, input, resize", async () => {
      let out = "";
      const decoder = new TextDecoder();
      const pty = await sbx.pty.create({
        cols: 80,
        rows: 24,
        onData: (d) => {
          out += decoder.decode(d);
        },
      });
      await sbx.pty.resize(pty.pid, { cols: 123, rows: 40 });
      await sbx.pty.sendInput(pty.pid, new TextEncoder().encode("tput cols; exit\n"));
      await pty.wait().catch(() => undefined);
      assert.match(out, /123/);
    });

    test("files: write, read, list, watch", async () => {
      await sbx.files.write("/home/user/dir/a.txt", "alpha");
      assert.equal(await sbx.files.read("/home/user/dir/a.txt"), "alpha");
      const entries = await sbx.files.list("/home/user/dir");
      assert.deepEqual(
        entries.map((e) => e.name),
        ["a.txt"],
      );
      const seen: string[] = [];
      const watch = await sbx.files.watchDir("/home/user/dir", (e) => void seen.push(`${e.type}:${e.name}`));
      await sbx.files.write("/home/user/dir/b.txt", "beta");
      await eventually("a watch event", async () =>
        seen.some((s) => s.endsWith("b.txt")) ? true : undefined,
      );
      await watch.stop();
      // Signed URLs carry no sandbox id: the server finds the sandbox by the signature.
      const url = await sbx.downloadUrl("/home/user/dir/a.txt", { useSignatureExpiration: 60 });
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "alpha");
      const forged = await fetch(url.replace(/signature=[^&]+/, "signature=v1_forged"));
      assert.equal(forged.status, 401);
    });

    test("metadata filters and pagination across pages; team isolation", async () => {
      const tag = `page${Date.now()}`;
      const made = await Promise.all(
        [0, 1, 2].map((i) => Sandbox.create({ metadata: { tag, i: String(i) }, timeoutMs: 120_000 })),
      );
      try {
        const paginator = Sandbox.list({ query: { metadata: { tag } }, limit: 2 });
        const first = await paginator.nextItems();
        assert.equal(first.length, 2);
        assert.equal(paginator.hasNext, true);
        const second = await paginator.nextItems();
        assert.equal(second.length, 1);
        assert.equal(paginator.hasNext, false);
        const ids = [...first, ...second].map((s) => s.sandboxId).sort();
        assert.deepEqual(ids, made.map((s) => s.sandboxId).sort());
        const one = await Sandbox.list({ query: { metadata: { tag, i: "1" } } }).nextItems();
        assert.deepEqual(
          one.map((s) => s.sandboxId),
          [made[1]?.sandboxId],
        );

        // Another team sees nothing of these and gets 404 for every call on them.
        const other = await live.keyOfTeam("team-b");
        const opts = { apiKey: other };
        assert.deepEqual(await Sandbox.list({ ...opts, query: { metadata: { tag } } }).nextItems(), []);
        const target = made[0]?.sandboxId ?? "";
        await assert.rejects(Sandbox.getInfo(target, opts), SandboxNotFoundError);
        await assert.rejects(Sandbox.setTimeout(target, 10_000, opts), SandboxNotFoundError);
        await assert.rejects(Sandbox.connect(target, opts), SandboxNotFoundError);
        await assert.rejects(Sandbox.getMetrics(target, opts), SandboxNotFoundError);
        assert.equal(await Sandbox.kill(target, opts), false);
        assert.equal(await made[0]?.isRunning(), true, "team B's kill must not touch team A's sandbox");
      } finally {
        await Promise.all(made.map((s) => s.kill()));
      }
    });

    test("setTimeout: the sandbox dies on time, within a second", async () => {
      const short = await Sandbox.create({ timeoutMs: 60_000 });
      await short.setTimeout(2000);
      const setAt = Date.now();
      await eventually(
        "the sandbox to end",
        async () => ((await short.isRunning()) ? undefined : true),
        10_000,
      );
      const lateBy = Date.now() - setAt - 2000;
      assert.ok(lateBy < 1000, `ended ${lateBy} ms late`);
      await assert.rejects(short.getInfo(), SandboxNotFoundError);
    });

    test("kill: isRunning turns false, a second kill answers false", async () => {
      const doomed = await Sandbox.create();
      assert.equal(await doomed.isRunning(), true);
      assert.equal(await Sandbox.kill(doomed.sandboxId), true);
      assert.equal(await doomed.isRunning(), false);
      assert.equal(await Sandbox.kill(doomed.sandboxId), false);
    });

    test("kill during a command cuts its stream: the SDK reports the sandbox gone", async () => {
      const victim = await Sandbox.create();
      // Caught at once: it fails while this test is still waiting to kill.
      const running = victim.commands.run("sleep 60").then(
        () => undefined,
        (e: unknown) => e,
      );
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(await Sandbox.kill(victim.sandboxId), true);
      const error = await running;
      assert.ok(error instanceof TimeoutError, `expected a TimeoutError, got ${String(error)}`);
      assert.match(error.message, /killed|end of life/);
    });

    test("pause and connect: same id, files and processes kept, 502 while paused", async () => {
      const paused = await Sandbox.create();
      await paused.files.write("/home/user/kept.txt", "still here");
      const bg = await paused.commands.run("sleep 600", { background: true });
      assert.equal(await paused.pause(), true);
      assert.equal(await paused.isRunning(), false);
      assert.equal((await paused.getInfo()).state, "paused");
      assert.equal(await paused.pause(), false, "a second pause answers already paused");
      const resumed = await Sandbox.connect(paused.sandboxId);
      assert.equal(resumed.sandboxId, paused.sandboxId);
      assert.equal(await resumed.isRunning(), true);
      assert.equal(await resumed.files.read("/home/user/kept.txt"), "still here");
      const listed = await resumed.commands.list();
      assert.ok(
        listed.some((p) => p.pid === bg.pid),
        "the background process survived the pause",
      );
      await resumed.kill();
    });

    test("connect extends a running sandbox without shortening it", async () => {
      const before = (await sbx.getInfo()).endAt.getTime();
      const same = await Sandbox.connect(sbx.sandboxId, { timeoutMs: 1000 });
      assert.equal((await same.getInfo()).endAt.getTime(), before);
      const r = await same.commands.run("echo connected");
      assert.equal(r.stdout, "connected\n");
    });

    test("getMetrics returns samples", async () => {
      const metrics = await eventually("a metrics sample", async () => {
        const m = await sbx.getMetrics();
        return m.length > 0 ? m : undefined;
      });
      const last = metrics.at(-1);
      assert.ok(last && last.memTotal > 0 && last.cpuCount > 0);
    });

    test("Host routing: <port>-<id>.<domain> reaches the agent and a user's server", async () => {
      const host = (port: number) => `${port}-${sbx.sandboxId}.${live.domain}`;
      const health = await curl(["-H", `Host: ${host(49983)}`, `${live.url}/health`]);
      assert.equal(health.status, 204);
      await sbx.commands.run("python3 -m http.server 8000 --directory /home/user/dir", { background: true });
      const page = await eventually("the user's server", async () => {
        const r = await curl(["-H", `Host: ${host(8000)}`, `${live.url}/a.txt`]);
        return r.status === 200 ? r : undefined;
      });
      assert.equal(page.body, "alpha");
      assert.equal(sbx.getHost(8000), host(8000));
      const token = (await live.server.store.getSandbox(sbx.sandboxId))?.accessToken ?? "";
      const file = await curl([
        "-H",
        `Host: ${host(49983)}`,
        "-H",
        `X-Access-Token: ${token}`,
        `${live.url}/files?path=/home/user/dir/a.txt&username=user`,
      ]);
      assert.deepEqual(file, { status: 200, body: "alpha" });
      const noToken = await curl([
        "-H",
        `Host: ${host(49983)}`,
        `${live.url}/files?path=/home/user/dir/a.txt`,
      ]);
      assert.equal(noToken.status, 401);
      const control = await curl(["-X", "POST", "-H", `Host: ${host(49983)}`, `${live.url}/init`]);
      assert.equal(control.status, 404, "the agent's /init is never reachable through the proxy");
      const closed = await curl(["-H", `Host: ${host(8001)}`, `${live.url}/`]);
      assert.equal(closed.status, 502);
      assert.equal(JSON.parse(closed.body).message, "The sandbox is running but port is not open");
      const gone = await curl(["-H", `Host: 49983-nosuchsandbox.${live.domain}`, `${live.url}/health`]);
      assert.equal(gone.status, 502);
      assert.deepEqual(JSON.parse(gone.body), {
        sandboxId: "nosuchsandbox",
        message: "The sandbox was not found",
        code: 502,
      });
    });

    test("network.allowPublicTraffic false: its ports need the traffic token, the SDK's calls do not", async () => {
      const priv = await Sandbox.create({ network: { allowPublicTraffic: false } });
      try {
        const traffic = priv.trafficAccessToken ?? "";
        assert.match(traffic, /^[A-Za-z0-9_-]{32}$/);
        assert.equal((await Sandbox.getInfo(priv.sandboxId)).network?.allowPublicTraffic, false);
        assert.equal((await sbx.getInfo()).network?.allowPublicTraffic, true);
        await priv.files.write("/home/user/www/a.txt", "private");
        await priv.commands.run("python3 -m http.server 8000 --directory /home/user/www", {
          background: true,
        });
        const host = `8000-${priv.sandboxId}.${live.domain}`;
        const get = (token?: string) =>
          curl([
            "-H",
            `Host: ${host}`,
            ...(token === undefined ? [] : ["-H", `e2b-traffic-access-token: ${token}`]),
            `${live.url}/a.txt`,
          ]);
        const served = (when: string) =>
          eventually(`the private server ${when}`, async () => {
            const r = await get(traffic);
            return r.status === 200 ? r : undefined;
          });
        assert.equal((await served("at start")).body, "private");
        // No token, a wrong one, and the id of another sandbox are no traffic token.
        for (const token of [undefined, "wrong", sbx.sandboxId]) {
          const refused = await get(token);
          assert.equal(refused.status, 403);
          assert.equal(JSON.parse(refused.body).code, 403);
        }
        // Kept across pause and resume, like the envd token.
        await priv.pause();
        const again = await Sandbox.connect(priv.sandboxId);
        assert.equal(again.trafficAccessToken, traffic);
        // The server kept running through the pause (memory kept): it answers the token again.
        assert.equal((await served("after resume")).body, "private");
        assert.equal((await get()).status, 403);
        // Without a secure sandbox the agent's port would be open: refused at create.
        await assert.rejects(
          Sandbox.create({ secure: false, network: { allowPublicTraffic: false } }),
          (e: unknown) => e instanceof Error && /allowPublicTraffic/.test(e.message),
        );
      } finally {
        await priv.kill();
      }
    });
  });
}
