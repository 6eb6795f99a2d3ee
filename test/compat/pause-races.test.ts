// Pause and resume raced against each other, against an upload and against kill, through the
// official e2b SDK under gVisor: every race ends in one consistent state and leaks nothing.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Sandbox } from "e2b";
import { eventually, type LiveServer, notRoot, startLiveServer } from "./live-server.js";

describe("pause and resume under races (runsc)", { skip: notRoot, timeout: 300_000 }, () => {
  let live: LiveServer;

  before(async () => {
    live = await startLiveServer({ runtime: "runsc", prefix: "sppause", addressPool: "10.248.0.0/16" });
    live.useSdk();
  });

  after(async () => {
    await live?.close();
  });

  async function toCold(id: string): Promise<void> {
    live.server.manager.configurePause({ warmMs: 50 });
    try {
      await eventually("the move to disk", async () =>
        (await live.server.store.getSandbox(id))?.pauseTier === "cold" ? true : undefined,
      );
    } finally {
      live.server.manager.configurePause({ warmMs: 600_000 });
    }
  }

  async function resumedLines(id: string): Promise<number> {
    const lines = await live.server.store.listSandboxLogs(id);
    return lines.filter((l) => l.message.startsWith("resumed")).length;
  }

  for (const tier of ["warm", "cold"] as const) {
    test(`five concurrent connects to a ${tier} paused sandbox: one resume, all succeed`, async () => {
      live.server.manager.configurePause({ warmMs: 600_000 });
      const sbx = await Sandbox.create();
      const id = sbx.sandboxId;
      try {
        await sbx.files.write("/home/user/x.txt", "x");
        await sbx.pause();
        if (tier === "cold") await toCold(id);
        const all = await Promise.all(Array.from({ length: 5 }, () => Sandbox.connect(id)));
        for (const s of all) assert.equal(s.sandboxId, id);
        assert.equal(await resumedLines(id), 1, "exactly one resume happened");
        const results = await Promise.all(all.map((s) => s.files.read("/home/user/x.txt")));
        assert.deepEqual(results, ["x", "x", "x", "x", "x"]);
        assert.equal((await live.server.store.getSandbox(id))?.state, "running");
      } finally {
        await Sandbox.kill(id);
      }
    });
  }

  test("pause during a 100 MiB upload: the upload finishes or fails cleanly, the sandbox resumes", async () => {
    const sbx = await Sandbox.create();
    const id = sbx.sandboxId;
    try {
      const data = randomBytes(100 * 1024 * 1024);
      const upload = sbx.files.write("/home/user/big.bin", data.buffer as ArrayBuffer).then(
        () => "done" as const,
        () => "failed" as const,
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await Sandbox.pause(id), true);
      const outcome = await upload;
      assert.equal((await live.server.store.getSandbox(id))?.state, "paused");
      const again = await Sandbox.connect(id);
      if (outcome === "done") {
        const size = await again.commands.run("stat -c %s /home/user/big.bin");
        assert.equal(size.stdout.trim(), String(data.length), "a finished upload is whole");
      }
      // The sandbox works on: the same upload now goes through in full.
      await again.files.write("/home/user/big2.bin", data.buffer as ArrayBuffer);
      const size = await again.commands.run("stat -c %s /home/user/big2.bin");
      assert.equal(size.stdout.trim(), String(data.length));
    } finally {
      await Sandbox.kill(id);
    }
  });

  test("pause during a running command: the call ends, the command's process lives on", async () => {
    const sbx = await Sandbox.create();
    const id = sbx.sandboxId;
    try {
      const running = sbx.commands
        .run("for i in $(seq 1 20); do echo $i >> /home/user/steps; sleep 0.2; done")
        .then(
          () => "done" as const,
          () => "failed" as const,
        );
      await new Promise((r) => setTimeout(r, 800));
      await Sandbox.pause(id);
      assert.ok(["done", "failed"].includes(await running));
      const again = await Sandbox.connect(id);
      await eventually("the loop to finish", async () => {
        const lines = (await again.files.read("/home/user/steps")).trim().split("\n");
        return lines.length === 20 ? true : undefined;
      });
    } finally {
      await Sandbox.kill(id);
    }
  });

  for (const tier of ["warm", "cold"] as const) {
    test(`kill during a resume from ${tier}: ends killed, nothing left`, async () => {
      const sbx = await Sandbox.create();
      const id = sbx.sandboxId;
      const runtimeId = (await live.server.store.getSandbox(id))?.runtimeId ?? id;
      await sbx.pause();
      if (tier === "cold") await toCold(id);
      const resuming = Sandbox.connect(id).then(
        () => "resumed" as const,
        () => "failed" as const,
      );
      await new Promise((r) => setTimeout(r, tier === "cold" ? 200 : 1));
      await Sandbox.kill(id);
      await resuming;
      assert.equal(await live.server.store.getSandbox(id), undefined);
      await assert.rejects(live.runtime.get(runtimeId), { code: "not_found" });
      assert.ok(!(await live.runtime.list()).some((s) => s.id === runtimeId));
    });
  }

  test("kill of a paused sandbox removes its checkpoint and layer", async () => {
    const sbx = await Sandbox.create();
    const id = sbx.sandboxId;
    await sbx.files.write("/home/user/x.txt", "x");
    await sbx.pause();
    await toCold(id);
    const record = await live.server.store.getSandbox(id);
    const { existsSync } = await import("node:fs");
    assert.ok(record?.checkpointPath && existsSync(record.checkpointPath));
    assert.ok(record?.layerPath && existsSync(record.layerPath));
    await Sandbox.kill(id);
    assert.equal(existsSync(record.checkpointPath), false);
    assert.equal(existsSync(record.layerPath), false);
  });

  test("paused retention: past it the paused sandbox is killed with its checkpoint", async () => {
    live.server.manager.configurePause({ retentionSec: 2 });
    try {
      const sbx = await Sandbox.create();
      const id = sbx.sandboxId;
      await sbx.pause();
      await eventually("the retention to end", async () =>
        (await live.server.store.getSandbox(id)) === undefined ? true : undefined,
      );
      assert.ok(!(await live.runtime.list()).some((s) => s.id === id));
    } finally {
      live.server.manager.configurePause({ retentionSec: 0 });
    }
  });
});
