import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLocalRuntime, type LocalRuntime, type SandboxInfo } from "@sandpit/runtime";
import { CommandExitError, Sandbox } from "e2b";
import { hostLeftovers } from "../../packages/runtime/test/host-leftovers.js";
import {
  AGENT_PORT,
  buildAgentBundle,
  createAgentSandbox,
  initAgent,
  waitForAgent,
} from "./agent-sandbox.js";

const notRoot = process.getuid?.() !== 0 ? "needs root (sandboxes)" : false;
const TEMPLATES_DIR = process.env.SANDPIT_TEMPLATES_DIR ?? "/var/lib/sandpit/templates";
/** The agent's linked metadata store, used where the root filesystem keeps no xattrs (gVisor). */
const METADATA_STORE = "/var/lib/sandpit-agent/file-metadata";

/** The official SDK against the agent running as a real sandbox's main process. */
export function sdkInSandboxSuite(runtime: "runsc" | "runc", addressPool: string): void {
  const prefix = `spa${runtime}`;
  describe(`e2b SDK against the agent inside a ${runtime} sandbox`, {
    skip: notRoot,
    timeout: 300_000,
  }, () => {
    let dataDir: string;
    let rt: LocalRuntime;
    let info: SandboxInfo;
    let sbx: Sandbox;
    const id = `agent${runtime}${process.pid}`;

    before(async () => {
      buildAgentBundle();
      dataDir = mkdtempSync(join(tmpdir(), `sandpit-agent-${runtime}-`));
      rt = createLocalRuntime({ runtime, dataDir, templatesDir: TEMPLATES_DIR, prefix, addressPool });
      await rt.janitor(new Set());
      info = await createAgentSandbox(rt, id);
      await initAgent(info, { envVars: { FROM_INIT: "init-value" } });
      process.env.E2B_DEBUG = "true";
      process.env.E2B_SANDBOX_URL = `http://${info.address}:${AGENT_PORT}`;
      sbx = await Sandbox.create();
    });

    after(async () => {
      await rt.remove(id);
      await rt.janitor(new Set());
      await rt.close();
      assert.deepEqual(hostLeftovers(prefix, dataDir), []);
      rmSync(dataDir, { recursive: true, force: true });
    });

    test("the agent is PID 1's child and zombies are reaped", async () => {
      const r = await sbx.commands.run(
        "ps -o pid,stat,args -e; (sleep 0 &) ; sleep 0.3; ps -o stat= -e | grep -c Z || true",
        {
          user: "root",
        },
      );
      assert.match(r.stdout, /^\s+1 .*\/opt\/sandpit\/init/m);
      assert.match(r.stdout, /agent\.mjs/);
      assert.equal(r.stdout.trim().split("\n").at(-1), "0", "a zombie was left");
    });

    test("commands: foreground, user, root, env, cwd, exit codes", async () => {
      const r = await sbx.commands.run('echo "$(whoami) $HOME $FROM_INIT $E2B_SANDBOX" && pwd');
      assert.equal(r.stdout, "user /home/user init-value true\n/home/user\n");
      assert.equal((await sbx.commands.run("whoami", { user: "root" })).stdout, "root\n");
      assert.equal((await sbx.commands.run("echo $X", { envs: { X: "y" } })).stdout, "y\n");
      assert.equal((await sbx.commands.run("pwd", { cwd: "/tmp" })).stdout, "/tmp\n");
      await assert.rejects(
        sbx.commands.run("exit 3"),
        (e: unknown) => e instanceof CommandExitError && e.exitCode === 3,
      );
      const py = await sbx.commands.run("python -c 'print(6*7)'");
      assert.equal(py.stdout, "42\n");
    });

    test("background command, stdin, list, kill", async () => {
      const h = await sbx.commands.run("cat", { background: true, stdin: true });
      await sbx.commands.sendStdin(h.pid, "hello\n");
      await sbx.commands.closeStdin(h.pid);
      const done = await h.wait();
      assert.equal(done.stdout, "hello\n");
      const sleeper = await sbx.commands.run("sleep 100", { background: true });
      assert.ok((await sbx.commands.list()).some((p) => p.pid === sleeper.pid));
      assert.equal(await sbx.commands.kill(sleeper.pid), true);
      await assert.rejects(sleeper.wait());
    });

    test("regression: /dev/stdout, /dev/stderr and /dev/stdin open (ENXIO on socket stdio)", async () => {
      const h = await sbx.commands.run(
        "echo hi > /dev/stdout && echo err > /dev/stderr && cat /dev/stdin && echo done",
        { background: true, stdin: true },
      );
      await sbx.commands.sendStdin(h.pid, "in\n");
      await sbx.commands.closeStdin(h.pid);
      const r = await h.wait();
      assert.equal(r.stdout, "hi\nin\ndone\n");
      assert.equal(r.stderr, "err\n");
    });

    test("commands start through the launcher, as the user with its groups, the PID their own", async () => {
      const r = await sbx.commands.run('echo "$$ $(cat /proc/$PPID/comm) $(id -G)" "/$(id -G user)"');
      const [own, database] = r.stdout.trim().split(" /");
      const [pid, parent, ...groups] = own?.split(" ") ?? [];
      assert.equal(parent, "sandpit-launche", "the command's parent is the launcher (comm is cut to 15)");
      assert.deepEqual(groups, database?.split(" "), "the user's groups as the group database has them");
      assert.ok(Number(pid) > 1);
    });

    test("pty: create, input, resize", async () => {
      let out = "";
      const pty = await sbx.pty.create({
        cols: 80,
        rows: 24,
        onData: (d) => {
          out += new TextDecoder().decode(d);
        },
      });
      await sbx.pty.resize(pty.pid, { cols: 123, rows: 40 });
      await sbx.pty.sendInput(pty.pid, new TextEncoder().encode("tput cols; exit\n"));
      await pty.wait().catch(() => undefined);
      assert.match(out, /123/);
    });

    /** Names in the agent's metadata store (runsc); none where xattrs serve instead (runc). */
    const storeNames = async () =>
      (await sbx.commands.run(`ls -A ${METADATA_STORE} 2>/dev/null || true`, { user: "root" })).stdout
        .split("\n")
        .filter(Boolean);

    test("files: metadata on the root filesystem follows a mv, not a path deleted and made again", async () => {
      const meta = { author: "mish", team: "core" };
      const written = await sbx.files.write("meta/a.txt", "alpha", {
        metadata: { author: "mish", Team: "core" },
      });
      assert.deepEqual(written.metadata, meta);
      assert.deepEqual((await sbx.files.getInfo("meta/a.txt")).metadata, meta);
      assert.deepEqual(
        (await sbx.files.list("meta")).map((e) => [e.name, e.metadata]),
        [["a.txt", meta]],
      );
      await sbx.commands.run("mv meta/a.txt meta/b.txt && echo more >> meta/b.txt");
      assert.deepEqual((await sbx.files.getInfo("meta/b.txt")).metadata, meta);
      assert.equal(await sbx.files.read("meta/b.txt"), "alphamore\n");

      await sbx.commands.run("rm meta/b.txt && echo new > meta/b.txt");
      assert.equal((await sbx.files.getInfo("meta/b.txt")).metadata, undefined);
      // Each upload with metadata also collects entries of deleted files (else the 30 s sweep).
      await sbx.files.write("meta/c.txt", "gamma", { metadata: { k: "c" } });
      assert.equal((await sbx.files.getInfo("meta/b.txt")).metadata, undefined);
      assert.deepEqual((await sbx.files.getInfo("meta/c.txt")).metadata, { k: "c" });
      const names = await storeNames();
      if (runtime === "runsc") {
        assert.equal(names.length, 2, `only c.txt's link and json are left: ${names.join(" ")}`);
        const [link] = names.filter((n) => !n.endsWith(".json"));
        const inodes = await sbx.commands.run(
          `stat -c %i /home/user/meta/c.txt ${METADATA_STORE}/${link}; stat -c %h /home/user/meta/b.txt`,
          { user: "root" },
        );
        const [file, linked, nlink] = inodes.stdout.trim().split("\n");
        assert.equal(file, linked, "the store's link is c.txt");
        assert.equal(nlink, "1", "b.txt has no link in the store");
      } else {
        assert.deepEqual(names, [], "runc keeps metadata in xattrs; the store is never made");
      }

      await sbx.files.write("meta/c.txt", "gamma again");
      assert.equal((await sbx.files.getInfo("meta/c.txt")).metadata, undefined);
      assert.deepEqual(await storeNames(), []);
    });

    test("files: metadata on a file that came with the template (copied up from the image's layer)", async () => {
      const profile = await sbx.files.read(".profile");
      const written = await sbx.files.write(".profile", profile, { metadata: { from: "template" } });
      assert.deepEqual(written.metadata, { from: "template" });
      assert.deepEqual((await sbx.files.getInfo(".profile")).metadata, { from: "template" });
      assert.equal(await sbx.files.read(".profile"), profile);
      const owner = await sbx.commands.run("stat -c '%U %a' .profile");
      assert.equal(owner.stdout, "user 644\n");
    });

    test("files: write, read, list, metadata-free info, watch", async () => {
      await sbx.files.write("dir/a.txt", "alpha");
      assert.equal(await sbx.files.read("dir/a.txt"), "alpha");
      const entries = await sbx.files.list("dir");
      assert.deepEqual(
        entries.map((e) => e.name),
        ["a.txt"],
      );
      const info = await sbx.files.getInfo("dir/a.txt");
      assert.equal(info.owner, "user");
      assert.equal(info.path, "/home/user/dir/a.txt");
      const events: string[] = [];
      const watcher = await sbx.files.watchDir("dir", (e) => {
        events.push(`${e.type}:${e.name}`);
      });
      await sbx.files.write("dir/b.txt", "beta");
      for (let i = 0; i < 50 && !events.some((e) => e.endsWith("b.txt")); i++)
        await new Promise((r) => setTimeout(r, 50));
      await watcher.stop();
      assert.ok(
        events.some((e) => e.endsWith(":b.txt")),
        events.join(","),
      );
      assert.equal(await sbx.files.exists("dir/nope"), false);
      assert.equal(info.metadata, undefined);
    });

    test("a server bound to 127.0.0.1 answers on the sandbox address, only while it listens", async (t) => {
      const url = `http://${info.address}:8123/`;
      // Resolves to the status, or 0 when nothing answers.
      const get = () =>
        fetch(url, { signal: AbortSignal.timeout(1000) }).then(
          async (r) => {
            await r.arrayBuffer();
            return r.status;
          },
          () => 0,
        );
      const started = Date.now();
      const server = await sbx.commands.run("python3 -m http.server 8123 --bind 127.0.0.1", {
        background: true,
      });
      try {
        let status = 0;
        while (status !== 200 && Date.now() - started < 5000) {
          status = await get();
          if (status !== 200) await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(status, 200, "the forwarded dev server did not answer within 5 s");
        t.diagnostic(`reachable ${Date.now() - started} ms after the command started`);
      } finally {
        await server.kill();
      }
      const killed = Date.now();
      // Refused, not merely unanswered: the agent closed the forward itself.
      const refused = () =>
        new Promise<boolean>((resolve) => {
          const socket = connect(8123, info.address);
          socket.once("connect", () => {
            socket.destroy();
            resolve(false);
          });
          socket.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED"));
        });
      while ((await get()) !== 0 || !(await refused())) {
        assert.ok(Date.now() - killed < 5000, "port 8123 still answers after the server was killed");
        await new Promise((r) => setTimeout(r, 50));
      }
      t.diagnostic(`refused ${Date.now() - killed} ms after the kill`);
    });

    test("file metadata outlives a restart on the same files (gVisor numbers inodes afresh)", async () => {
      await sbx.files.write("keep/k.txt", "k", { metadata: { kept: "yes" } });
      await sbx.commands.run("mv keep/k.txt keep/moved.txt; echo x > keep/plain.txt");
      await rt.halt(id);
      await rt.restore(id);
      await waitForAgent(info);
      await initAgent(info, { envVars: { FROM_INIT: "init-value" } });
      // The SDK keeps up to 10 sockets per pool alive; they died with the old sandbox, and each
      // call that meets one fails before the new agent sees it.
      const again = async <T>(call: () => Promise<T>): Promise<T> => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await call();
          } catch (error) {
            if (attempt >= 30 || !/fetch failed/.test(String(error))) throw error;
          }
        }
      };
      assert.deepEqual((await again(() => sbx.files.getInfo("keep/moved.txt"))).metadata, { kept: "yes" });
      assert.deepEqual((await again(() => sbx.files.getInfo(".profile"))).metadata, { from: "template" });
      assert.equal((await again(() => sbx.files.getInfo("keep/plain.txt"))).metadata, undefined);
      await again(() => sbx.files.remove("keep/moved.txt"));
      const profile = await again(() => sbx.files.read(".profile"));
      await again(() => sbx.files.write(".profile", profile));
      assert.deepEqual(await again(storeNames), []);
    });
  });
}
