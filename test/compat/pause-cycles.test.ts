// Pause and resume through the official e2b SDK under gVisor: a counting process, a Python HTTP
// server, an env var and files all survive three cycles in a row (E2B#884), from RAM (warm
// tier) and from disk (cold tier), and at the end of life with auto-pause. A pause without
// memory keeps files and env, and resume boots the sandbox afresh.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { Sandbox } from "e2b";
import { eventually, type LiveServer, notRoot, startLiveServer } from "./live-server.js";

const run = promisify(execFile);

/** Polls until `fn` gives a value. */
describe("pause and resume keep a sandbox's processes, server, env and files (runsc)", {
  skip: notRoot,
  timeout: 300_000,
}, () => {
  let live: LiveServer;
  const pythonPid = new Map<string, string>();
  const watcherIds = new Map<string, string>();

  before(async () => {
    live = await startLiveServer({ runtime: "runsc", prefix: "sppause", addressPool: "10.248.0.0/16" });
    live.useSdk();
  });

  after(async () => {
    await live?.close();
  });

  async function page(id: string): Promise<string | undefined> {
    const r = await run("curl", [
      "-sS",
      "--fail",
      "--max-time",
      "5",
      "-H",
      `Host: 8000-${id}.${live.domain}`,
      `${live.url}/hello.txt`,
    ]).catch(() => undefined);
    return r?.stdout;
  }

  /** A sandbox with every kind of state a resume must bring back. */
  async function stateful(lifecycle?: { onTimeout: "pause" }): Promise<Sandbox> {
    const sbx = await Sandbox.create({ envs: { PAUSE_ENV: "kept across pauses" }, lifecycle });
    await sbx.files.write("/home/user/www/hello.txt", "hello from python");
    // gVisor keeps no xattrs here and numbers inodes afresh on every restore.
    await sbx.files.write("/home/user/with-metadata.txt", "m", { metadata: { kept: "across pauses" } });
    // Renamed into place, so a read never lands between echo's truncate and its write (a freeze
    // there left an empty file, read as 0).
    await sbx.commands.run(
      "i=0; while :; do i=$((i+1)); echo $i > /home/user/count.new; mv /home/user/count.new /home/user/count; sleep 0.2; done",
      {
        background: true,
        timeoutMs: 0,
      },
    );
    // HTTP/1.1 keeps the proxy's connection open until the pause resets it; an HTTP/1.0
    // server closes first and leaves a TIME_WAIT inside, which delays the move to disk.
    await sbx.commands.run("python3 -m http.server 8000 --protocol HTTP/1.1 --directory /home/user/www", {
      background: true,
      timeoutMs: 0,
    });
    assert.equal(await eventually("the python server", () => page(sbx.sandboxId)), "hello from python");
    pythonPid.set(sbx.sandboxId, (await sbx.commands.run("pgrep -x python3")).stdout.trim());
    // A polling watcher outlives pauses in the agent; gVisor renumbers what it watches.
    await sbx.files.write("/home/user/watched/log.txt", "0\n");
    const created = await filesystemRpc(sbx.sandboxId, "CreateWatcher", { path: "/home/user/watched" });
    watcherIds.set(sbx.sandboxId, String(created.watcherId));
    return sbx;
  }

  /** A Filesystem RPC through the proxy, for the polling watchers no JS SDK calls. */
  async function filesystemRpc(id: string, method: string, body: unknown): Promise<Record<string, unknown>> {
    const token = (await live.server.store.getSandbox(id))?.accessToken ?? "";
    const res = await fetch(`${live.url}/filesystem.Filesystem/${method}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "e2b-sandbox-id": id,
        "e2b-sandbox-port": "49983",
        "x-access-token": token,
        authorization: `Basic ${Buffer.from("user:").toString("base64")}`,
      },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, `${method}: ${res.status}`);
    return (await res.json()) as Record<string, unknown>;
  }

  async function watcherEvents(sbx: Sandbox): Promise<string[]> {
    const watcherId = watcherIds.get(sbx.sandboxId);
    const { events } = (await filesystemRpc(sbx.sandboxId, "GetWatcherEvents", { watcherId })) as {
      events?: { name: string; type: string }[];
    };
    return (events ?? []).map((e) => `${e.type} ${e.name}`);
  }

  async function count(sbx: Sandbox): Promise<number> {
    return Number((await sbx.files.read("/home/user/count")).trim());
  }

  /** Everything is as it was, and the counter goes on from where it stopped. */
  async function check(sbx: Sandbox, cycle: number, before: number): Promise<void> {
    const now = await count(sbx);
    assert.ok(now >= before, `cycle ${cycle}: the counter went back (${now} < ${before})`);
    await eventually(`cycle ${cycle}: the counter moving`, async () =>
      (await count(sbx)) > now ? true : undefined,
    );
    const env = await sbx.commands.run("echo $PAUSE_ENV");
    assert.equal(env.stdout, "kept across pauses\n");
    for (let c = 0; c <= cycle; c++) {
      assert.equal(await sbx.files.read(`/home/user/cycle-${c}.txt`), `written before pause ${c}`);
      assert.equal((await sbx.files.getInfo(`/home/user/cycle-${c}.txt`)).metadata, undefined);
    }
    assert.deepEqual((await sbx.files.getInfo("/home/user/with-metadata.txt")).metadata, {
      kept: "across pauses",
    });
    assert.equal(await eventually("the python server", () => page(sbx.sandboxId)), "hello from python");
    await watcherEvents(sbx);
    await sbx.commands.run(`echo ${cycle} >> /home/user/watched/log.txt`);
    const seen = await eventually(`cycle ${cycle}: the watcher's event`, async () => {
      const events = await watcherEvents(sbx);
      return events.length > 0 ? events : undefined;
    });
    assert.deepEqual(
      [...new Set(seen)],
      ["EVENT_TYPE_WRITE log.txt"],
      `cycle ${cycle}: an append is a write`,
    );
    const ps = await sbx.commands.run("pgrep -x python3");
    assert.equal(
      ps.stdout.trim(),
      pythonPid.get(sbx.sandboxId),
      "the python server started before the pauses",
    );
  }

  async function cycles(tier: "warm" | "cold"): Promise<void> {
    let sbx = await stateful();
    const id = sbx.sandboxId;
    try {
      for (let cycle = 0; cycle < 3; cycle++) {
        await sbx.files.write(`/home/user/cycle-${cycle}.txt`, `written before pause ${cycle}`);
        const before = await count(sbx);
        if (cycle === 1) {
          // The REST answer keeps E2B's shape (204, no body) and says where memory goes.
          const res = await fetch(`${live.url}/sandboxes/${id}/pause`, {
            method: "POST",
            headers: { "x-api-key": live.apiKey, "content-type": "application/json" },
            body: "{}",
          });
          assert.equal(res.status, 204);
          assert.equal(res.headers.get("x-sandpit-pause-memory"), "disk");
        } else assert.equal(await sbx.pause(), true);
        const record = await live.server.store.getSandbox(id);
        assert.equal(record?.state, "paused");
        assert.deepEqual((await Sandbox.list().nextItems()).find((s) => s.sandboxId === id)?.state, "paused");
        if (tier === "cold") {
          await eventually(
            "the move to disk",
            async () => ((await live.server.store.getSandbox(id))?.pauseTier === "cold" ? true : undefined),
            30_000,
          );
          const rid = record?.runtimeId ?? id;
          assert.equal((await live.runtime.get(rid)).status, "checkpointed");
          const stored = await live.server.store.getSandbox(id);
          assert.match(stored?.checkpointPath ?? "", /checkpoint$/);
          assert.match(stored?.layerPath ?? "", /layer$/);
        } else {
          assert.equal(record?.pauseTier, "warm");
        }
        sbx = await Sandbox.connect(id);
        assert.equal(sbx.sandboxId, id);
        assert.equal((await sbx.getInfo()).state, "running");
        await check(sbx, cycle, before);
      }
    } finally {
      await Sandbox.kill(id);
    }
  }

  test("warm tier: three pause/resume cycles in a row, the sandbox frozen in RAM", async () => {
    live.server.manager.configurePause({ warmMs: 600_000 });
    await cycles("warm");
  });

  test("cold tier: three pause/resume cycles in a row, the sandbox checkpointed to disk", async () => {
    live.server.manager.configurePause({ warmMs: 100 });
    try {
      await cycles("cold");
    } finally {
      live.server.manager.configurePause({ warmMs: 600_000 });
    }
  });

  test("cold tier: the first calls after each of 8 resumes from disk are answered, none retried", async () => {
    // gVisor, restored, at times reports a hang-up on a fresh connection; the agent used to
    // close such a connection unanswered (about half of the resumes failed their first call).
    live.server.manager.configurePause({ warmMs: 100 });
    const sbx = await Sandbox.create();
    const id = sbx.sandboxId;
    try {
      for (let cycle = 0; cycle < 8; cycle++) {
        assert.equal(await Sandbox.pause(id), true);
        await eventually(
          `cycle ${cycle}: the move to disk`,
          async () => ((await live.server.store.getSandbox(id))?.pauseTier === "cold" ? true : undefined),
          90_000,
        );
        const again = await Sandbox.connect(id);
        assert.equal(await again.files.exists("/home/user"), true, `cycle ${cycle}: the first Stat`);
        assert.equal(
          (await again.commands.run("echo $((6 * 7))")).stdout,
          "42\n",
          `cycle ${cycle}: a command`,
        );
        await again.files.write(`/home/user/cycle-${cycle}.txt`, String(cycle));
      }
    } finally {
      live.server.manager.configurePause({ warmMs: 600_000 });
      await Sandbox.kill(id);
    }
  });

  test("a command's deadline counts only the time its sandbox ran, not its pauses in RAM or on disk", async () => {
    live.server.manager.configurePause({ warmMs: 600_000 });
    const sbx = await Sandbox.create();
    const id = sbx.sandboxId;
    const alive = async (s: Sandbox, pid: number) =>
      (await s.commands.run(`kill -0 ${pid} 2>/dev/null && echo alive || echo gone`)).stdout.trim();
    try {
      const began = Date.now();
      const sleeper = await sbx.commands.run("sleep 600", { background: true, timeoutMs: 6000 });
      // 8 s frozen in RAM, then 8 s more from the start of a pause that goes to disk: far past
      // the 6 s deadline by the clock, about a second of it used by running time.
      assert.equal(await Sandbox.pause(id), true);
      await new Promise((r) => setTimeout(r, 8000));
      let again = await Sandbox.connect(id);
      assert.equal(await alive(again, sleeper.pid), "alive", "after a pause in RAM");
      live.server.manager.configurePause({ warmMs: 100 });
      const pausedAt = Date.now();
      assert.equal(await Sandbox.pause(id), true);
      await eventually(
        "the move to disk",
        async () => ((await live.server.store.getSandbox(id))?.pauseTier === "cold" ? true : undefined),
        90_000,
      );
      await new Promise((r) => setTimeout(r, Math.max(0, pausedAt + 8000 - Date.now())));
      again = await Sandbox.connect(id);
      assert.equal(await alive(again, sleeper.pid), "alive", "after a pause on disk");
      // The deadline is still there: the command dies once its sandbox has run 6 s.
      await eventually(
        "the deadline",
        async () => ((await alive(again, sleeper.pid)) === "gone" ? true : undefined),
        15_000,
      );
      assert.ok(Date.now() - began > 20_000);
    } finally {
      live.server.manager.configurePause({ warmMs: 600_000 });
      await Sandbox.kill(id);
    }
  });

  /** After a filesystem-only pause: files and env are there, processes are not, it booted afresh. */
  async function checkRebooted(sbx: Sandbox, cycle: number, bootBefore: string): Promise<void> {
    for (let c = 0; c <= cycle; c++) {
      assert.equal(await sbx.files.read(`/home/user/cycle-${c}.txt`), `written before pause ${c}`);
    }
    assert.equal((await sbx.commands.run("echo $PAUSE_ENV")).stdout, "kept across pauses\n");
    const ps = await sbx.commands.run("pgrep -x python3 || echo none");
    assert.equal(ps.stdout.trim(), "none", "no process outlives a pause without memory");
    const counted = await count(sbx);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await count(sbx), counted, "the counter does not run any more");
    const boot = (await sbx.commands.run("cat /proc/sys/kernel/random/boot_id")).stdout;
    assert.notEqual(boot, bootBefore, "a new kernel boot");
    // New work runs at once, and the sandbox's port serves again once something listens.
    await sbx.commands.run("python3 -m http.server 8000 --protocol HTTP/1.1 --directory /home/user/www", {
      background: true,
    });
    assert.equal(await eventually("the python server", () => page(sbx.sandboxId)), "hello from python");
  }

  test("pause without memory (keepMemory: false), twice in a row: files and env kept, a fresh boot", async () => {
    let sbx = await stateful();
    const id = sbx.sandboxId;
    try {
      for (let cycle = 0; cycle < 2; cycle++) {
        await sbx.files.write(`/home/user/cycle-${cycle}.txt`, `written before pause ${cycle}`);
        const bootBefore = (await sbx.commands.run("cat /proc/sys/kernel/random/boot_id")).stdout;
        if (cycle === 0) {
          const res = await fetch(`${live.url}/sandboxes/${id}/pause`, {
            method: "POST",
            headers: { "x-api-key": live.apiKey, "content-type": "application/json" },
            body: JSON.stringify({ memory: false }),
          });
          assert.equal(res.status, 204);
          assert.equal(res.headers.get("x-sandpit-pause-memory"), "none");
        } else assert.equal(await sbx.pause({ keepMemory: false }), true);
        const record = await live.server.store.getSandbox(id);
        assert.equal(record?.state, "paused");
        assert.equal(record?.pauseTier, "files");
        assert.equal((await live.runtime.get(record?.runtimeId ?? id)).status, "halted");
        assert.equal(await sbx.isRunning(), false);
        sbx = await Sandbox.connect(id);
        assert.equal(sbx.sandboxId, id);
        await checkRebooted(sbx, cycle, bootBefore);
      }
    } finally {
      await Sandbox.kill(id);
    }
  });

  test("auto-pause without memory (onTimeout: {action: pause, keepMemory: false}), then connect", async () => {
    const sbx = await Sandbox.create({
      envs: { PAUSE_ENV: "kept across pauses" },
      lifecycle: { onTimeout: { action: "pause", keepMemory: false } },
    });
    const id = sbx.sandboxId;
    try {
      await sbx.files.write("/home/user/www/hello.txt", "hello from python");
      await sbx.files.write("/home/user/cycle-0.txt", "written before pause 0");
      await sbx.commands.run("echo 0 > /home/user/count; sleep 3600", { background: true });
      const bootBefore = (await sbx.commands.run("cat /proc/sys/kernel/random/boot_id")).stdout;
      assert.equal((await live.server.store.getSandbox(id))?.autoPauseMemory, false);
      await sbx.setTimeout(2000);
      await eventually(
        "the auto-pause",
        async () => ((await live.server.store.getSandbox(id))?.state === "paused" ? true : undefined),
        15_000,
      );
      assert.equal((await live.server.store.getSandbox(id))?.pauseTier, "files");
      const again = await Sandbox.connect(id);
      assert.equal((await again.commands.run("pgrep -x sleep || echo none")).stdout.trim(), "none");
      await checkRebooted(again, 0, bootBefore);
    } finally {
      await Sandbox.kill(id);
    }
  });

  test("auto-pause at the end of life (onTimeout: pause), then connect brings everything back", async () => {
    const sbx = await stateful({ onTimeout: "pause" });
    const id = sbx.sandboxId;
    try {
      await sbx.files.write("/home/user/cycle-0.txt", "written before pause 0");
      const before = await count(sbx);
      await sbx.setTimeout(2000);
      await eventually(
        "the auto-pause",
        async () => ((await live.server.store.getSandbox(id))?.state === "paused" ? true : undefined),
        15_000,
      );
      assert.equal((await Sandbox.getInfo(id)).state, "paused");
      const again = await Sandbox.connect(id);
      assert.equal(again.sandboxId, id);
      await check(again, 0, before);
    } finally {
      await Sandbox.kill(id);
    }
  });
});
