// @sandpit/sdk against a live Sandpit server (real server, real runc sandboxes, real SQLite): every
// method of the surface, and the error paths users meet (killed sandbox, wrong key, missing file,
// time limits, cancellation). Two sandboxes are shared across tests to keep the run short.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AuthenticationError,
  CommandExitError,
  type CommandOutput,
  FileNotFoundError,
  type FilesystemEvent,
  InvalidArgumentError,
  Sandbox,
  SandboxError,
  SandboxNotFoundError,
  TimeoutError,
} from "@sandpit/sdk";
import { eventually, type LiveServer, notRoot, startLiveServer } from "../compat/live-server.js";

describe("@sandpit/sdk against a live server (runc)", { skip: notRoot, timeout: 300_000 }, () => {
  let live: LiveServer;
  let opts: { apiUrl: string; sandboxUrl: string; apiKey: string; domain: string };
  let sbx: Sandbox;
  let spare: Sandbox;
  const tag = `sdk${Date.now()}`;

  before(async () => {
    live = await startLiveServer({ runtime: "runc", prefix: "spsdk", addressPool: "10.245.0.0/16" });
    opts = { apiUrl: live.url, sandboxUrl: live.url, apiKey: live.apiKey, domain: live.domain };
    [sbx, spare] = await Promise.all([
      Sandbox.create({ ...opts, metadata: { tag, who: "main" }, envs: { GREETING: "hello there" } }),
      Sandbox.create("base", { ...opts, metadata: { tag, who: "spare" }, timeoutMs: 120_000 }),
    ]);
  });

  after(async () => {
    await live?.close();
  });

  test("create, getInfo, getHost, isRunning", async () => {
    assert.match(sbx.sandboxId, /^[a-z0-9]+$/);
    assert.equal(sbx.sandboxDomain, live.domain);
    const info = await sbx.getInfo();
    assert.equal(info.sandboxId, sbx.sandboxId);
    assert.equal(info.templateId, "base");
    assert.deepEqual(info.metadata, { tag, who: "main" });
    assert.equal(info.state, "running");
    assert.ok(info.endAt.getTime() > Date.now() + 200_000, "default lifetime is 300 s");
    assert.deepEqual(await Sandbox.getInfo(sbx.sandboxId, opts), info);
    assert.equal(sbx.getHost(8080), `8080-${sbx.sandboxId}.${live.domain}`);
    assert.equal(await sbx.isRunning(), true);
  });

  test("the environment variables name the server: SANDPIT_URL and SANDPIT_API_KEY", async () => {
    process.env.SANDPIT_URL = live.url;
    process.env.SANDPIT_API_KEY = live.apiKey;
    process.env.E2B_DOMAIN = live.domain;
    try {
      const same = await Sandbox.connect(sbx.sandboxId);
      assert.equal((await same.commands.run("echo via-env")).stdout, "via-env\n");
    } finally {
      delete process.env.SANDPIT_URL;
      delete process.env.SANDPIT_API_KEY;
      delete process.env.E2B_DOMAIN;
    }
  });

  test("list: metadata and state filters, paging with hasNext/nextToken", async () => {
    const pages = Sandbox.list({ ...opts, query: { metadata: { tag }, state: ["running"] }, limit: 1 });
    assert.equal(pages.hasNext, true);
    const first = await pages.nextItems();
    assert.equal(first.length, 1);
    assert.equal(pages.hasNext, true);
    assert.ok(pages.nextToken);
    const second = await pages.nextItems();
    assert.equal(second.length, 1);
    assert.equal(pages.hasNext, false);
    assert.equal(pages.nextToken, undefined);
    assert.deepEqual(
      [...first, ...second].map((s) => s.sandboxId).sort(),
      [sbx.sandboxId, spare.sandboxId].sort(),
    );
    await assert.rejects(pages.nextItems(), SandboxError);
    const one = await Sandbox.list({ ...opts, query: { metadata: { tag, who: "spare" } } }).nextItems();
    assert.deepEqual(
      one.map((s) => s.sandboxId),
      [spare.sandboxId],
    );
    assert.deepEqual(
      await Sandbox.list({ ...opts, query: { metadata: { tag }, state: ["paused"] } }).nextItems(),
      [],
    );
  });

  test("commands.run: output, env, user, cwd, callbacks", async () => {
    const r = await sbx.commands.run('echo "$GREETING|$FOO|$(whoami)|$(pwd)"', {
      envs: { FOO: "bar" },
      cwd: "/tmp",
    });
    assert.deepEqual(r, { exitCode: 0, stdout: "hello there|bar|user|/tmp\n", stderr: "" });
    const root = await sbx.commands.run("whoami", { user: "root" });
    assert.equal(root.stdout.trim(), "root");
    const out: string[] = [];
    const err: string[] = [];
    await sbx.commands.run("echo one; echo two >&2; echo three", {
      onStdout: (d) => void out.push(d),
      onStderr: (d) => void err.push(d),
    });
    assert.equal(out.join(""), "one\nthree\n");
    assert.equal(err.join(""), "two\n");
  });

  test("commands.run: a non-zero exit throws CommandExitError, or returns with throwOnError:false", async () => {
    const error = await sbx.commands.run("echo partial; echo oops >&2; exit 3").catch((e: unknown) => e);
    assert.ok(error instanceof CommandExitError);
    assert.equal(error.exitCode, 3);
    assert.equal(error.stdout, "partial\n");
    assert.equal(error.stderr, "oops\n");
    assert.equal(error.error, "exit status 3");
    assert.equal(error.code, "aborted");
    const result = await sbx.commands.run("exit 4", { throwOnError: false });
    assert.equal(result.exitCode, 4);
  });

  test("background: async iteration, list, connect, sendStdin, closeStdin, kill", async () => {
    const handle = await sbx.commands.run("for i in 1 2 3; do echo line$i; sleep 0.1; done", {
      background: true,
    });
    assert.ok(handle.pid > 0);
    const seen: CommandOutput[] = [];
    for await (const event of handle) seen.push(event);
    assert.equal(
      seen
        .filter((e) => e.type === "stdout")
        .map((e) => e.data)
        .join(""),
      "line1\nline2\nline3\n",
    );
    assert.equal((await handle.wait()).exitCode, 0);

    const cat = await sbx.commands.run("cat", { background: true, stdin: true });
    const listed = await sbx.commands.list();
    const mine = listed.find((p) => p.pid === cat.pid);
    assert.ok(mine);
    assert.deepEqual(mine.args, ["-l", "-c", "cat"]);
    await sbx.commands.sendStdin(cat.pid, "hello ");
    await cat.sendStdin(new TextEncoder().encode("stdin\n"));
    await sbx.commands.closeStdin(cat.pid);
    const catResult = await cat.wait();
    assert.equal(catResult.stdout, "hello stdin\n");

    const sleeper = await sbx.commands.run("echo started; sleep 30", { background: true });
    await sleeper.disconnect();
    const again = await sbx.commands.connect(sleeper.pid);
    assert.equal(again.pid, sleeper.pid);
    assert.equal(await again.kill(), true);
    const ended = await again.wait().catch((e: unknown) => e);
    assert.ok(ended instanceof CommandExitError);
    assert.equal(ended.exitCode, -1);
    assert.equal(await sbx.commands.kill(sleeper.pid), false, "a second kill finds nothing");
  });

  test("command timeoutMs ends the command with a TimeoutError", async () => {
    const started = Date.now();
    const error = await sbx.commands.run("sleep 20", { timeoutMs: 1000 }).catch((e: unknown) => e);
    assert.ok(error instanceof TimeoutError, String(error));
    assert.equal(error.code, "deadline_exceeded");
    assert.ok(Date.now() - started < 10_000);
  });

  test("requestTimeoutMs and AbortSignal bound every kind of request", async () => {
    // A sparse 20 GiB file: reading it takes far longer than the limits below.
    await sbx.commands.run("truncate -s 20G /tmp/huge");
    const started = Date.now();
    const slow = await sbx.files.read("/tmp/huge", { requestTimeoutMs: 500 }).catch((e: unknown) => e);
    assert.ok(slow instanceof TimeoutError, String(slow));
    assert.ok(Date.now() - started < 5000);

    const controller = new AbortController();
    const pending = sbx.files
      .read("/tmp/huge", { format: "bytes", signal: controller.signal })
      .catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 200);
    const aborted = await pending;
    assert.ok(aborted instanceof SandboxError, String(aborted));
    assert.equal(aborted.code, "canceled");

    const already = AbortSignal.abort();
    for (const call of [
      () => Sandbox.getInfo(sbx.sandboxId, { ...opts, signal: already }),
      () => sbx.commands.list({ signal: already }),
      () => sbx.commands.run("true", { signal: already }),
      () => sbx.files.exists("/tmp", { signal: already }),
    ]) {
      const e = await call().catch((x: unknown) => x);
      assert.ok(e instanceof SandboxError, String(e));
      assert.equal(e.code, "canceled");
    }
    const listSlow = await sbx.commands.list({ requestTimeoutMs: 1 }).catch((e: unknown) => e);
    assert.ok(listSlow instanceof TimeoutError, String(listSlow));
    await sbx.files.remove("/tmp/huge");
  });

  test("pty: create, sendInput, resize, connect, kill", async () => {
    let out = "";
    const decoder = new TextDecoder();
    const term = await sbx.pty.create({
      cols: 80,
      rows: 24,
      onData: (d) => {
        out += decoder.decode(d);
      },
    });
    await sbx.pty.resize(term.pid, { cols: 123, rows: 40 });
    await sbx.pty.sendInput(term.pid, new TextEncoder().encode("tput cols\n"));
    await eventually("tput's answer", async () => (out.includes("123") ? true : undefined));
    await term.disconnect();
    let later = "";
    const back = await sbx.pty.connect(term.pid, {
      onData: (d) => {
        later += decoder.decode(d);
      },
    });
    await sbx.pty.sendInput(term.pid, "echo back-$((20+22))\n");
    await eventually("output after reconnect", async () => (later.includes("back-42") ? true : undefined));
    assert.equal(await sbx.pty.kill(term.pid), true);
    await back.wait().catch(() => undefined);
    assert.equal(await sbx.pty.kill(term.pid), false);
  });

  test("files: write and read every format, many files at once, a streamed upload", async () => {
    const info = await sbx.files.write("/home/user/w/a.txt", "alpha");
    assert.deepEqual(info, { name: "a.txt", type: "file", path: "/home/user/w/a.txt" });
    assert.equal(await sbx.files.read("/home/user/w/a.txt"), "alpha");
    await sbx.files.write("w/b.bin", new Uint8Array([0, 1, 2, 255]));
    assert.deepEqual(await sbx.files.read("w/b.bin", { format: "bytes" }), new Uint8Array([0, 1, 2, 255]));
    await sbx.files.write("w/c.txt", new Blob(["from a blob"]));
    assert.equal(await (await sbx.files.read("w/c.txt", { format: "blob" })).text(), "from a blob");
    const many = await sbx.files.write([
      { path: "w/m1.txt", data: "one" },
      { path: "/home/user/w/sub/m2.txt", data: "two" },
    ]);
    assert.deepEqual(
      many.map((f) => f.path),
      ["/home/user/w/m1.txt", "/home/user/w/sub/m2.txt"],
    );
    assert.equal((await sbx.files.writeFiles([{ path: "w/m3.txt", data: "three" }])).length, 1);

    // 8 MiB produced on demand: the SDK sends it as it is pulled, it never holds it all.
    const chunk = new Uint8Array(64 * 1024).fill(97);
    let pulled = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulled === 128) controller.close();
        else {
          pulled++;
          controller.enqueue(chunk);
        }
      },
    });
    await sbx.files.write("w/big.txt", source);
    assert.equal((await sbx.files.getInfo("w/big.txt")).size, 8 * 1024 * 1024);
    const stream = await sbx.files.read("w/big.txt", { format: "stream" });
    let total = 0;
    for await (const part of stream) total += part.byteLength;
    assert.equal(total, 8 * 1024 * 1024);
  });

  test("files: list with depth, exists, getInfo, rename, makeDir, remove, missing file", async () => {
    assert.equal(await sbx.files.makeDir("/home/user/tree/x/y"), true);
    assert.equal(await sbx.files.makeDir("/home/user/tree/x/y"), false);
    await sbx.files.write("/home/user/tree/x/f.txt", "f");
    const shallow = await sbx.files.list("/home/user/tree");
    assert.deepEqual(
      shallow.map((e) => [e.name, e.type]),
      [["x", "dir"]],
    );
    const deep = await sbx.files.list("/home/user/tree", { depth: 3 });
    assert.deepEqual(
      deep.map((e) => e.path),
      ["/home/user/tree/x", "/home/user/tree/x/f.txt", "/home/user/tree/x/y"],
    );
    await assert.rejects(sbx.files.list("/home/user/tree", { depth: 0 }), InvalidArgumentError);
    assert.equal(await sbx.files.exists("/home/user/tree/x/f.txt"), true);
    assert.equal(await sbx.files.exists("/home/user/tree/nope"), false);
    const entry = await sbx.files.getInfo("/home/user/tree/x/f.txt");
    assert.equal(entry.size, 1);
    assert.equal(entry.owner, "user");
    assert.equal(entry.permissions, "-rw-r--r--");
    assert.ok(entry.modifiedTime instanceof Date);
    const moved = await sbx.files.rename("/home/user/tree/x/f.txt", "/home/user/tree/g.txt");
    assert.equal(moved.path, "/home/user/tree/g.txt");
    await sbx.files.remove("/home/user/tree");
    assert.equal(await sbx.files.exists("/home/user/tree"), false);
    await assert.rejects(sbx.files.read("/home/user/tree/g.txt"), FileNotFoundError);
    await assert.rejects(sbx.files.getInfo("/home/user/nope"), FileNotFoundError);
    await assert.rejects(sbx.files.rename("/home/user/nope", "/home/user/nope2"), FileNotFoundError);
  });

  test("files.watchDir: callback stream, getNewEvents, recursive, and the polled form", async () => {
    await sbx.files.makeDir("/home/user/watched");
    const seen: FilesystemEvent[] = [];
    let exited = false;
    const watch = await sbx.files.watchDir("/home/user/watched", (e) => void seen.push(e), {
      recursive: true,
      onExit: () => {
        exited = true;
      },
    });
    await sbx.files.write("/home/user/watched/sub/n.txt", "n");
    await eventually("a recursive write event", async () =>
      seen.some((e) => e.type === "write" && e.name === "sub/n.txt") ? true : undefined,
    );
    const drained = await watch.getNewEvents();
    assert.ok(drained.some((e) => e.name === "sub/n.txt"));
    assert.deepEqual(await watch.getNewEvents(), []);
    await watch.stop();
    await eventually("onExit", async () => (exited ? true : undefined));

    const polled = await sbx.files.watchDir("/home/user/watched");
    await sbx.files.write("/home/user/watched/p.txt", "p");
    const events = await eventually("polled events", async () => {
      const got = await polled.getNewEvents();
      return got.some((e) => e.name === "p.txt") ? got : undefined;
    });
    assert.ok(events.some((e) => e.type === "write" || e.type === "create"));
    await polled.stop();
    await assert.rejects(
      sbx.files.watchDir("/home/user/none", () => {}),
      FileNotFoundError,
    );
  });

  test("downloadUrl and uploadUrl are signed and work with a plain fetch", async () => {
    const up = await sbx.uploadUrl("/home/user/signed.txt", { useSignatureExpiration: 60 });
    assert.match(up, /signature=v1_/);
    const form = new FormData();
    form.append("file", new Blob(["signed upload"]), "signed.txt");
    const posted = await fetch(up, { method: "POST", body: form });
    assert.equal(posted.status, 200);
    const down = await sbx.downloadUrl("/home/user/signed.txt");
    const got = await fetch(down);
    assert.equal(await got.text(), "signed upload");
  });

  test("getMetrics returns samples", async () => {
    const metrics = await eventually("a metrics sample", async () => {
      const m = await sbx.getMetrics();
      return m.length > 0 ? m : undefined;
    });
    const last = metrics.at(-1);
    assert.ok(last && last.memTotal > 0 && last.cpuCount > 0 && last.timestamp instanceof Date);
    assert.deepEqual(
      await Sandbox.getMetrics(sbx.sandboxId, { ...opts, end: new Date(0), start: new Date(0) }),
      [],
    );
  });

  test("create options: secure:false, no internet, autoPause", async () => {
    const open = await Sandbox.create({
      ...opts,
      secure: false,
      allowInternetAccess: false,
      autoPause: true,
    });
    try {
      const info = await open.getInfo();
      assert.equal(info.allowInternetAccess, false);
      assert.equal(info.lifecycle?.onTimeout, "pause");
      assert.equal((await open.commands.run("echo open")).stdout, "open\n");
      assert.doesNotMatch(await open.downloadUrl("/etc/hostname"), /signature=/);
      await assert.rejects(open.uploadUrl("x", { useSignatureExpiration: 10 }), InvalidArgumentError);
      const egress = await open.commands.run("curl -sS -m 1 http://1.1.1.1 >/dev/null", {
        throwOnError: false,
      });
      assert.notEqual(egress.exitCode, 0, "no internet access");
    } finally {
      assert.equal(await open.kill(), true);
    }
  });

  test("network.allowPublicTraffic false: trafficAccessToken opens the sandbox's ports", async () => {
    const priv = await Sandbox.create({ ...opts, network: { allowPublicTraffic: false } });
    try {
      assert.match(priv.trafficAccessToken ?? "", /^[A-Za-z0-9_-]{32}$/);
      await priv.commands.run(
        "mkdir -p /tmp/www && echo hi > /tmp/www/a && cd /tmp/www && python3 -m http.server 8000",
        {
          background: true,
        },
      );
      const url = `${live.url}/a`;
      const get = (headers: Record<string, string>) =>
        fetch(url, { headers: { "e2b-sandbox-id": priv.sandboxId, "e2b-sandbox-port": "8000", ...headers } });
      const open = await eventually("the server", async () => {
        const res = await get({ "e2b-traffic-access-token": priv.trafficAccessToken ?? "" });
        return res.status === 200 ? res : undefined;
      });
      assert.equal(await open.text(), "hi\n");
      assert.equal((await get({})).status, 403);
      assert.equal((await Sandbox.connect(priv.sandboxId, opts)).trafficAccessToken, priv.trafficAccessToken);
    } finally {
      await priv.kill();
    }
  });

  test("wrong or missing API key: AuthenticationError", async () => {
    const wrong = { ...opts, apiKey: "e2b_0000000000000000000000000000000000000000" };
    await assert.rejects(Sandbox.getInfo(sbx.sandboxId, wrong), AuthenticationError);
    await assert.rejects(Sandbox.create(wrong), AuthenticationError);
    await assert.rejects(Sandbox.list(wrong).nextItems(), AuthenticationError);
    const saved = process.env.E2B_API_KEY;
    delete process.env.E2B_API_KEY;
    try {
      await assert.rejects(Sandbox.kill(sbx.sandboxId, { ...opts, apiKey: "" }), AuthenticationError);
    } finally {
      if (saved !== undefined) process.env.E2B_API_KEY = saved;
    }
  });

  test("setTimeout, pause, connect (resume) on the spare sandbox", async () => {
    await spare.setTimeout(90_000);
    const end = (await spare.getInfo()).endAt.getTime();
    assert.ok(Math.abs(end - (Date.now() + 90_000)) < 5000);
    await spare.files.write("/home/user/kept.txt", "kept");
    assert.equal(await spare.pause(), true);
    assert.equal(await spare.isRunning(), false);
    assert.equal((await spare.getInfo()).state, "paused");
    assert.equal(await Sandbox.pause(spare.sandboxId, opts), false, "already paused");
    await spare.connect();
    assert.equal(await spare.isRunning(), true);
    assert.equal(await spare.files.read("/home/user/kept.txt"), "kept");
  });

  test("a killed sandbox: kill answers false, calls fail with typed errors", async () => {
    const running = spare.commands.run("sleep 60").catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await spare.kill(), true);
    const cut = await running;
    assert.ok(cut instanceof TimeoutError, `expected a TimeoutError, got ${String(cut)}`);
    assert.match(cut.message, /killed or reached its end of life/);
    assert.equal(await spare.kill(), false);
    assert.equal(await Sandbox.kill(spare.sandboxId, opts), false);
    assert.equal(await spare.isRunning(), false);
    await assert.rejects(spare.getInfo(), SandboxNotFoundError);
    await assert.rejects(spare.setTimeout(1000), SandboxNotFoundError);
    await assert.rejects(spare.pause(), SandboxNotFoundError);
    await assert.rejects(Sandbox.connect(spare.sandboxId, opts), SandboxNotFoundError);
    await assert.rejects(spare.getMetrics(), SandboxNotFoundError);
    const cmd = await spare.commands.run("true").catch((e: unknown) => e);
    assert.ok(cmd instanceof SandboxNotFoundError || cmd instanceof TimeoutError, String(cmd));
    await assert.rejects(spare.files.read("/etc/hostname"), TimeoutError);
  });
});
