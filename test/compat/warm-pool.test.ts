// The warm pool: create takes a started sandbox and gives it its identity; the pool refills;
// a stop removes the waiting ones.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Sandbox } from "e2b";
import {
  eventually,
  type LiveServer,
  type LiveServerOptions,
  notRoot,
  startLiveServer,
} from "./live-server.js";

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A live server for the enclosing suite, the SDK pointed at it; stopped after the suite. */
function suiteServer(options: LiveServerOptions): () => LiveServer {
  let live: LiveServer | undefined;
  before(async () => {
    live = await startLiveServer(options);
    live.useSdk();
  });
  after(async () => {
    await live?.close();
  });
  return () => {
    if (!live) throw new Error("the suite's server did not start");
    return live;
  };
}

describe("warm pool (runc)", { skip: notRoot, timeout: 300_000 }, () => {
  const live = suiteServer({ runtime: "runc", prefix: "sppool", addressPool: "10.239.0.0/16", poolSize: 2 });

  test("create takes a warm sandbox, gives it its identity, and the pool refills", async () => {
    const warm = () => live().server.warmSandboxes().base ?? 0;
    await until("a full pool", () => warm() === 2);
    const sbx = await Sandbox.create({
      envs: { WHO: "pooled" },
      metadata: { from: "pool" },
      allowInternetAccess: false,
    });
    const record = await live().server.store.getSandbox(sbx.sandboxId);
    assert.ok(record);
    assert.notEqual(record.runtimeId, sbx.sandboxId, "a pooled sandbox keeps its runtime name");
    assert.match(record.runtimeId, /^w/);
    assert.equal((await live().runtime.get(record.runtimeId)).allowInternetAccess, false);
    const r = await sbx.commands.run('echo "$WHO $(whoami) $E2B_SANDBOX_ID"');
    assert.equal(r.stdout, `pooled user ${sbx.sandboxId}\n`);
    assert.deepEqual((await sbx.getInfo()).metadata, { from: "pool" });
    // Its agent watched nothing while pooled; from the create on it forwards loopback servers.
    await sbx.commands.run("python3 -m http.server 8000 --bind 127.0.0.1 --directory /etc", {
      background: true,
    });
    const page = await eventually("the loopback server, forwarded", async () => {
      const res = await fetch(`${live().url}/hostname`, {
        headers: { "e2b-sandbox-id": sbx.sandboxId, "e2b-sandbox-port": "8000" },
      });
      return res.status === 200 ? res.text() : undefined;
    });
    assert.ok(page.length > 0);
    await until("the pool to refill", () => warm() === 2);
    await sbx.kill();
    await assert.rejects(live().runtime.get(record.runtimeId), /not found/);
  });

  test("a create without env vars runs its first command in the login shell the pool started ahead", async () => {
    await until("a full pool", () => (live().server.warmSandboxes().base ?? 0) === 2);
    await new Promise((r) => setTimeout(r, 1000));
    const began = Date.now();
    const sbx = await Sandbox.create();
    // Not a lone command, so it runs in the waiting shell itself: $$ is that shell.
    const r = await sbx.commands.run(
      'echo "$(cut -d" " -f22 /proc/$$/stat) $(getconf CLK_TCK) $(cut -d" " -f1 /proc/uptime) $E2B_SANDBOX_ID"',
    );
    const tookSec = (Date.now() - began) / 1000;
    await sbx.kill();
    const [ticks, clock, up, id] = r.stdout.trim().split(" ");
    assert.equal(id, sbx.sandboxId, "the identity the create gave, though the shell started before it");
    const [startTicks, hz, uptime] = [ticks, clock, up].map(Number);
    assert.ok(startTicks !== undefined && hz !== undefined && uptime !== undefined, r.stdout);
    const shellAgeSec = uptime - startTicks / hz;
    assert.ok(
      shellAgeSec > tookSec + 0.5,
      `the shell is ${shellAgeSec.toFixed(2)} s old; the create and command took ${tookSec.toFixed(2)} s`,
    );
  });
});

describe("warm pool (runsc)", { skip: notRoot, timeout: 300_000 }, () => {
  const live = suiteServer({
    runtime: "runsc",
    prefix: "sppoolsc",
    addressPool: "10.226.0.0/16",
    poolSize: 1,
  });

  test("a pooled gVisor sandbox guards its memory from the create on: a balloon dies, the sandbox lives", async () => {
    await until("a full pool", () => (live().server.warmSandboxes().base ?? 0) === 1);
    const sbx = await Sandbox.create();
    try {
      const record = await live().server.store.getSandbox(sbx.sandboxId);
      assert.match(record?.runtimeId ?? "", /^w/, "it came from the pool");
      // Past the sandbox's memory limit: without the agent's guard the host's limit would take
      // the whole sandbox (gVisor's kernel) down, not this one command.
      const balloon = await sbx.commands
        .run("python3 -c 'a = bytearray(3 * 1024 ** 3); print(\"survived\")'", { timeoutMs: 120_000 })
        .then(
          (r) => ({ stdout: r.stdout, error: "" }),
          (e: unknown) => ({ stdout: "", error: String(e) }),
        );
      assert.doesNotMatch(balloon.stdout, /survived/);
      assert.match(balloon.error, /killed|MemoryError/);
      assert.equal((await sbx.commands.run("echo alive")).stdout, "alive\n");
    } finally {
      await sbx.kill();
    }
  });
});
