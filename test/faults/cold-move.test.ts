// kill -9 of the server while a paused sandbox moves from RAM to disk (gVisor's checkpoint),
// then a restart and a resume: the sandbox comes back with its files and its processes, from
// whichever tier the move reached, and nothing is left on the host afterwards.
// COLD_MOVE_ROUNDS sets the number of rounds (CI runs 3).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { generateApiKey } from "@sandpit/server";
import { Sandbox } from "e2b";
import { eventually, notRoot } from "../compat/live-server.js";
import {
  orphans,
  type ServerProcessOptions,
  storedSandboxes,
  useServerProcess,
} from "../compat/server-process.js";

const ROUNDS = Number(process.env.COLD_MOVE_ROUNDS ?? 3);
// The move starts this long after the pause and takes a few hundred ms to seconds.
const WARM_MS = 150;

describe("kill -9 of the server during a move to disk (runsc)", { skip: notRoot, timeout: 900_000 }, () => {
  const options: ServerProcessOptions = {
    dataDir: "",
    apiKey: generateApiKey(),
    prefix: "spcold",
    addressPool: "10.227.0.0/16",
    runtime: "runsc",
    env: { SANDPIT_PAUSE_WARM_MS: String(WARM_MS) },
  };
  const server = useServerProcess(options, "SIGKILL");
  const start = () => server.start();
  const recordOf = async (id: string) => (await storedSandboxes(options.dataDir)).find((r) => r.id === id);

  test(`${ROUNDS} rounds: pause, kill -9 during the move, restart, resume: files and processes intact`, async (t) => {
    await start();
    let sbx = await Sandbox.create({ envs: { KEPT: "yes" } });
    const id = sbx.sandboxId;
    await sbx.commands.run("i=0; while :; do i=$((i+1)); echo $i > /home/user/count; sleep 0.1; done", {
      background: true,
      timeoutMs: 0,
    });
    // 640 MiB of touched memory, so the save lasts long enough to be cut into.
    await sbx.commands.run(
      `python3 -c "import time; b = bytearray(640 << 20); b[::4096] = b'x' * len(b[::4096]); open('/tmp/held', 'w').close(); time.sleep(86400)"`,
      { background: true, timeoutMs: 0 },
    );
    await eventually(
      "the held memory",
      () => sbx.files.exists("/tmp/held").then((e) => e || undefined),
      30_000,
    );
    const count = async (s: Sandbox) => Number((await s.files.read("/home/user/count")).trim());
    const tiers: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await sbx.files.write(`/home/user/round-${round}.txt`, `round ${round}`);
      const before = await count(sbx);
      assert.equal(await Sandbox.pause(id), true);
      // Before the move starts, early in the save, late in it (the held memory makes it last).
      const delayMs = [WARM_MS / 3, WARM_MS + 150, WARM_MS + 600][round % 3] ?? 0;
      await new Promise((r) => setTimeout(r, delayMs));
      await server.stop("SIGKILL");
      await start();
      const record = await recordOf(id);
      assert.equal(record?.state, "paused", `round ${round}: paused after the restart`);
      tiers.push(`${delayMs} ms → ${record?.pauseTier}`);
      assert.deepEqual(orphans(options.prefix, options.dataDir, new Set([record?.runtimeId ?? id])), []);
      sbx = await Sandbox.connect(id);
      for (let r = 0; r <= round; r++) {
        assert.equal(await sbx.files.read(`/home/user/round-${r}.txt`), `round ${r}`);
      }
      assert.equal((await sbx.commands.run("echo $KEPT")).stdout, "yes\n");
      assert.equal((await sbx.commands.run("pgrep -c -f bytearray")).stdout.trim(), "1");
      // The counting process lived through it: its count went on from where it was.
      const now = await count(sbx);
      assert.ok(now >= before, `round ${round}: the counter went back (${now} < ${before})`);
      await eventually(`round ${round}: the counter moving`, async () =>
        (await count(sbx)) > now ? true : undefined,
      );
    }
    t.diagnostic(`kill -9 after the pause, tier found on restart: ${tiers.join("; ")}`);
    assert.equal(await Sandbox.kill(id), true);
    assert.equal(await recordOf(id), undefined);
  });
});
