// kill -9 the server while sandboxes run and while one is being created; start it again.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createSqliteStore, generateApiKey } from "@sandpit/server";
import { Sandbox } from "e2b";
import { hostLeftovers } from "../../packages/runtime/test/host-leftovers.js";
import { buildAgentBundle } from "../sandbox-agent/agent-sandbox.js";
import { notRoot } from "./live-server.js";
import {
  runtimeOnDisk as runtimeOf,
  type ServerProcess,
  type ServerProcessOptions,
  startServerProcess,
} from "./server-process.js";

const PREFIX = "sprst";
const POOL = "10.237.0.0/16";

describe("restart safety (runc)", { skip: notRoot, timeout: 300_000 }, () => {
  let dataDir: string;
  let server: ServerProcess | undefined;
  const apiKey = generateApiKey();

  /** How this test's server runs: the CLI's server and the runtime on its files alike. */
  const serverOptions = (): ServerProcessOptions => ({
    dataDir,
    apiKey,
    prefix: PREFIX,
    addressPool: POOL,
    runtime: "runc",
  });
  const runtimeOnDisk = () => runtimeOf(serverOptions());

  async function startServer(): Promise<void> {
    server = await startServerProcess(serverOptions());
    process.env.E2B_API_URL = server.url;
    process.env.E2B_SANDBOX_URL = server.url;
    process.env.E2B_API_KEY = apiKey;
    delete process.env.E2B_DEBUG;
  }

  async function killServer(signal: NodeJS.Signals): Promise<void> {
    await server?.stop(signal);
    server = undefined;
  }

  before(() => {
    buildAgentBundle();
    dataDir = mkdtempSync(join(tmpdir(), "sandpit-restart-"));
  });

  after(async () => {
    await killServer("SIGKILL");
    const rt = runtimeOnDisk();
    await rt.janitor(new Set());
    await rt.close();
    assert.deepEqual(hostLeftovers(PREFIX, dataDir), []);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("running sandboxes are adopted, a half-created one is gone, nothing leaks", async () => {
    await startServer();
    const a = await Sandbox.create({ metadata: { name: "a" } });
    const b = await Sandbox.create({ metadata: { name: "b" } });
    await a.files.write("/home/user/state.txt", "kept");
    await b.commands.run("sleep 600", { background: true });

    // Watch the store for a create in flight, and kill -9 the server right then.
    const store = createSqliteStore({ path: join(dataDir, "sandpit.db") });
    const pending = Sandbox.create({ metadata: { name: "half" } }).then(
      () => "finished",
      () => "failed",
    );
    let halfId: string | undefined;
    for (let i = 0; i < 2000 && !halfId; i++) {
      halfId = (await store.listAllSandboxes()).find((r) => r.state === "starting")?.id;
      if (!halfId) await new Promise((r) => setTimeout(r, 2));
    }
    await store.close();
    assert.ok(halfId, "never saw the create in flight");
    await killServer("SIGKILL");
    assert.equal(await pending, "failed");

    await startServer();
    const listed = await Sandbox.list().nextItems();
    assert.deepEqual(listed.map((s) => s.metadata.name).sort(), ["a", "b"]);
    const a2 = await Sandbox.connect(a.sandboxId);
    assert.equal(await a2.files.read("/home/user/state.txt"), "kept");
    const b2 = await Sandbox.connect(b.sandboxId);
    const ps = await b2.commands.run("pgrep -x sleep | wc -l");
    assert.equal(ps.stdout.trim(), "1", "the background process survived the restart");
    assert.equal((await b2.commands.run("echo alive")).stdout, "alive\n");
    const rt = runtimeOnDisk();
    assert.equal((await rt.list()).length, 2, "the half-created sandbox's runtime parts remain");
    assert.deepEqual(hostLeftovers(PREFIX, dataDir, halfId), []);

    // A clean stop leaves them running too; a kill then removes everything.
    await killServer("SIGTERM");
    await startServer();
    await Sandbox.kill(a.sandboxId);
    await Sandbox.kill(b.sandboxId);
    const after = runtimeOnDisk();
    assert.equal((await after.list()).length, 0);
    await killServer("SIGTERM");
  });
});
