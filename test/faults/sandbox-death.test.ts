// A sandbox's processes are killed from outside (the host's OOM killer, an operator): the server
// notices, reports it gone, frees what it held, and its neighbour carries on.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Sandbox } from "e2b";
import { hostLeftovers } from "../../packages/runtime/test/host-leftovers.js";
import { type LiveServer, notRoot, startLiveServer } from "../compat/live-server.js";
import { killSandboxProcesses } from "../compat/server-process.js";

const PREFIX = "spdeath";

describe("a sandbox killed from outside (runc)", { skip: notRoot, timeout: 180_000 }, () => {
  let live: LiveServer | undefined;

  before(async () => {
    live = await startLiveServer({ runtime: "runc", prefix: PREFIX, addressPool: "10.229.0.0/16" });
    live.useSdk();
  });

  after(async () => {
    await live?.close();
  });

  test("is reported gone within seconds and leaves nothing; its neighbour is unaffected", async () => {
    assert.ok(live);
    const victim = await Sandbox.create();
    const neighbour = await Sandbox.create();
    const runtimeId = (await live.server.store.getSandbox(victim.sandboxId))?.runtimeId ?? "";
    assert.ok(killSandboxProcesses(PREFIX, runtimeId) > 0, "killed its processes");

    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (
        await fetch(`${live.url}/sandboxes/${victim.sandboxId}`, { headers: { "x-api-key": live.apiKey } })
      ).status;
      if (status === 404) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(status, 404, "the dead sandbox is gone from the API");
    const listed = await Sandbox.list().nextItems();
    assert.deepEqual(
      listed.map((s) => s.sandboxId),
      [neighbour.sandboxId],
    );
    // 404 comes as soon as the kill is recorded; the runtime's cleanup follows within moments.
    const cleanBy = Date.now() + 10_000;
    while (hostLeftovers(PREFIX, live.dataDir, runtimeId).length > 0 && Date.now() < cleanBy)
      await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(hostLeftovers(PREFIX, live.dataDir, runtimeId), []);
    await assert.rejects(victim.commands.run("true", { requestTimeoutMs: 10_000 }));
    assert.equal((await neighbour.commands.run("echo fine")).stdout, "fine\n");
    await neighbour.kill();
  });
});
