// Paused sandboxes survive the server: kill -9 of `sandpit serve` with one frozen in RAM, and a
// restart with one checkpointed to disk after the host lost its runtime state (no container
// state under /run, rootfs unmounted, network namespace gone).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { LocalRuntime } from "@sandpit/runtime";
import {
  createSqliteStore,
  generateApiKey,
  loadConfig,
  type SandpitServer,
  startSandpitServer,
} from "@sandpit/server";
import { Sandbox } from "e2b";
import { pino } from "pino";
import { hostLeftovers, sharedMounts } from "../../packages/runtime/test/host-leftovers.js";
import { buildAgentBundle } from "../sandbox-agent/agent-sandbox.js";
import { eventually, notRoot, TEMPLATES_DIR } from "./live-server.js";
import {
  runtimeOnDisk as runtimeOf,
  type ServerProcess,
  type ServerProcessOptions,
  startServerProcess,
} from "./server-process.js";

const PREFIX = "sppause";
const POOL = "10.248.0.0/16";

function pointSdkAt(url: string, apiKey: string): void {
  delete process.env.E2B_DEBUG;
  process.env.E2B_API_URL = url;
  process.env.E2B_SANDBOX_URL = url;
  process.env.E2B_API_KEY = apiKey;
}

/** A sandbox with a counting process, an env var and a file. */
async function stateful(): Promise<Sandbox> {
  const sbx = await Sandbox.create({ envs: { PAUSE_ENV: "kept" } });
  await sbx.files.write("/home/user/before.txt", "written before pause");
  // Renamed into place, so a read never lands between echo's truncate and its write (a freeze
  // there left an empty file, read as 0).
  await sbx.commands.run(
    "i=0; while :; do i=$((i+1)); echo $i > /home/user/count.new; mv /home/user/count.new /home/user/count; sleep 0.2; done",
    {
      background: true,
      timeoutMs: 0,
    },
  );
  await eventually("the counter", async () => ((await count(sbx)) > 0 ? true : undefined));
  return sbx;
}

async function count(sbx: Sandbox): Promise<number> {
  return Number((await sbx.files.read("/home/user/count")).trim());
}

async function check(sbx: Sandbox, before: number): Promise<void> {
  const now = await count(sbx);
  assert.ok(now >= before, `the counter went back (${now} < ${before})`);
  await eventually("the counter moving", async () => ((await count(sbx)) > now ? true : undefined));
  assert.equal((await sbx.commands.run("echo $PAUSE_ENV")).stdout, "kept\n");
  assert.equal(await sbx.files.read("/home/user/before.txt"), "written before pause");
}

describe("paused sandboxes survive the server (runsc)", { skip: notRoot, timeout: 300_000 }, () => {
  let dataDir: string;
  const apiKey = generateApiKey();

  /** How this test's server runs: the CLI's server and the runtime on its files alike. */
  const serverOptions = (): ServerProcessOptions => ({
    dataDir,
    apiKey,
    prefix: PREFIX,
    addressPool: POOL,
    runtime: "runsc",
  });
  const runtimeOnDisk = () => runtimeOf(serverOptions());

  before(async () => {
    buildAgentBundle();
    dataDir = mkdtempSync(join(tmpdir(), "sandpit-pause-restart-"));
    await runtimeOnDisk().janitor(new Set());
  });

  after(async () => {
    const rt = runtimeOnDisk();
    await rt.janitor(new Set());
    await rt.close();
    assert.deepEqual(hostLeftovers(PREFIX, dataDir), []);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("pause (warm) → kill -9 the server → start it → connect: everything is there", async (t) => {
    let server: ServerProcess | undefined;
    const start = async () => {
      server = await startServerProcess(serverOptions());
      pointSdkAt(server.url, apiKey);
    };
    const stop = async (signal: NodeJS.Signals) => server?.stop(signal);
    try {
      await start();
      const sbx = await stateful();
      const id = sbx.sandboxId;
      const before = await count(sbx);
      await sbx.pause();
      await stop("SIGKILL");
      const t0 = Date.now();
      await start();
      const store = createSqliteStore({ path: join(dataDir, "sandpit.db") });
      const tier = (await store.getSandbox(id))?.pauseTier;
      await store.close();
      t.diagnostic(`restarted in ${Date.now() - t0} ms; found the sandbox ${tier}`);
      // The default grace period (30 s) is far from over: still frozen in RAM.
      assert.equal(tier, "warm");
      const listed = await Sandbox.list().nextItems();
      assert.deepEqual(
        listed.map((s) => [s.sandboxId, s.state]),
        [[id, "paused"]],
      );
      const again = await Sandbox.connect(id);
      assert.equal(again.sandboxId, id);
      await check(again, before);
      await Sandbox.kill(id);
      assert.deepEqual(await runtimeOnDisk().list(), []);
    } finally {
      await stop("SIGKILL");
    }
  });

  test("pause (cold) → server gone and the host's runtime state lost → start → connect", async () => {
    const serve = async (): Promise<{ server: SandpitServer; runtime: LocalRuntime }> => {
      const runtime = runtimeOnDisk();
      const config = loadConfig(
        {
          port: 0,
          host: "127.0.0.1",
          dataDir,
          templatesDir: TEMPLATES_DIR,
          apiKeys: [apiKey],
          runtime: "runsc",
          prefix: PREFIX,
          addressPool: POOL,
        },
        {},
      );
      const server = await startSandpitServer(config, {
        driver: runtime,
        logger: pino({ level: process.env.SANDPIT_TEST_LOG ?? "warn" }),
      });
      pointSdkAt(`http://127.0.0.1:${server.port}`, apiKey);
      return { server, runtime };
    };
    let { server } = await serve();
    let id: string | undefined;
    try {
      const sbx = await stateful();
      id = sbx.sandboxId;
      const before = await count(sbx);
      server.manager.configurePause({ warmMs: 50 });
      await sbx.pause();
      const sid = id;
      const record = await eventually("the move to disk", async () => {
        const r = await server.store.getSandbox(sid);
        return r?.pauseTier === "cold" ? r : undefined;
      });
      await server.close();

      // What a reboot (or a janitor of the runtime's objects) leaves: only the data dir.
      const dir = join(dataDir, "sandboxes", record.runtimeId);
      execFileSync("umount", ["-R", join(dir, "rootfs")]);
      execFileSync("sh", [
        "-c",
        `mountpoint -q ${join(dir, "layer")} && umount ${join(dir, "layer")} || true`,
      ]);
      for (const mount of sharedMounts(dataDir)) execFileSync("umount", [mount.slice("mount ".length)]);
      execFileSync("ip", ["netns", "del", `${PREFIX}-${record.runtimeId}`]);
      rmSync(`/run/${PREFIX}/runsc`, { recursive: true, force: true });
      assert.deepEqual(
        hostLeftovers(PREFIX, dataDir).filter((l) => !l.startsWith("rule ")),
        [],
      );

      ({ server } = await serve());
      const listed = await Sandbox.list().nextItems();
      assert.deepEqual(
        listed.map((s) => [s.sandboxId, s.state]),
        [[id, "paused"]],
      );
      const again = await Sandbox.connect(id);
      assert.equal(again.sandboxId, id);
      assert.equal((await server.store.getSandbox(id))?.address, record.address, "same address");
      await check(again, before);
      await Sandbox.kill(id);
      id = undefined;
    } finally {
      if (id) await Sandbox.kill(id).catch(() => undefined);
      await server.close();
    }
  });
});
