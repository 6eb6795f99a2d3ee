// The data dir's disk fills up while sandboxes run: creates fail with a clear error and leave
// nothing behind, the server stays up, and everything works again once space is freed.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statfsSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Sandbox } from "e2b";
import { type LiveServer, notRoot, startLiveServer } from "../compat/live-server.js";
import { orphans } from "../compat/server-process.js";

const PREFIX = "spdisk";

describe("the data dir's disk is full (runc)", { skip: notRoot, timeout: 300_000 }, () => {
  let mount = "";
  let live: LiveServer | undefined;

  before(async () => {
    mount = mkdtempSync(join(tmpdir(), "sandpit-diskfull-"));
    // A small filesystem of its own, so filling it harms nothing else on the host.
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=192m,mode=0700", "tmpfs", mount]);
    live = await startLiveServer({
      runtime: "runc",
      prefix: PREFIX,
      addressPool: "10.230.0.0/16",
      dataDir: mount,
    });
    live.useSdk();
  });

  after(async () => {
    try {
      await live?.close();
    } finally {
      execFileSync("umount", [mount]);
      rmSync(mount, { recursive: true, force: true });
    }
  });

  test("create fails cleanly while full and works again after space is freed", async () => {
    assert.ok(live);
    const first = await Sandbox.create();
    assert.equal((await first.commands.run("echo before")).stdout, "before\n");

    const filler = join(mount, "filler");
    const { bavail, bsize } = statfsSync(mount);
    execFileSync("fallocate", ["-l", String(bavail * bsize), filler]);
    assert.ok(statfsSync(mount).bavail < 16, "the data dir is full");

    const res = await fetch(`${live.url}/sandboxes`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": live.apiKey },
      body: JSON.stringify({ templateID: "base" }),
    });
    const body = (await res.json()) as { code: number; message: string };
    assert.ok(res.status >= 500 || res.status === 429 || res.status === 507, `status ${res.status}`);
    assert.equal(body.code, res.status);
    assert.match(body.message, /space|full|ENOSPC|SQLITE_FULL/i, body.message);

    // Nothing of the failed create stays: not in the store, not on the host.
    const records = await live.server.store.listAllSandboxes();
    assert.deepEqual(
      records.map((r) => r.id),
      [first.sandboxId],
    );
    assert.deepEqual(orphans(PREFIX, mount, new Set(records.map((r) => r.runtimeId))), []);
    assert.equal((await fetch(`${live.url}/health`)).status, 200, "the server stays up");

    unlinkSync(filler);
    const second = await Sandbox.create();
    assert.equal((await second.commands.run("echo after")).stdout, "after\n");
    assert.equal((await first.commands.run("echo still")).stdout, "still\n");
    await second.kill();
    await first.kill();
  });
});
