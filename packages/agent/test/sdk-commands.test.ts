// Drives the agent with the official e2b SDK in debug mode: the same calls users make.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CommandExitError, Sandbox, TimeoutError } from "e2b";
import { isAlive, startTestAgent, type TestAgent } from "./agent-harness.js";

const isRoot = process.getuid?.() === 0;

function hasCommand(name: string): boolean {
  try {
    execFileSync("/bin/sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

let createdUser = false;

/** Makes sure the host has the `user` the base template has; only root can add it (and removes it after). */
function ensureUser(): boolean {
  try {
    execFileSync("id", ["user"], { stdio: "ignore" });
    return true;
  } catch {
    if (!isRoot) return false;
  }
  // uid 1000 like the template when it is free; some hosts already gave it to someone else.
  let uidFree = true;
  try {
    execFileSync("getent", ["passwd", "1000"], { stdio: "ignore" });
    uidFree = false;
  } catch {}
  execFileSync("useradd", ["-m", "-s", "/bin/bash", ...(uidFree ? ["-u", "1000"] : []), "user"]);
  createdUser = true;
  return true;
}

const userReady = ensureUser();
const noUser = !userReady && "needs a user `user` on the host, and only root can create it";
const noTput = !hasCommand("tput") && "needs tput (apt-get install -y ncurses-bin)";

describe("e2b SDK commands and pty against the agent", { skip: noUser }, () => {
  let agent: TestAgent;
  let sandbox: Sandbox;
  const started: number[] = [];

  before(async () => {
    agent = await startTestAgent();
    // What /init does for the base template: commands run as `user` unless told otherwise.
    agent.server.state.defaultUser = "user";
    process.env.E2B_DEBUG = "true";
    process.env.E2B_SANDBOX_URL = agent.baseUrl;
    sandbox = await Sandbox.create();
  });

  after(async () => {
    for (const pid of started) await sandbox.commands.kill(pid).catch(() => false);
    await agent.close();
    delete process.env.E2B_DEBUG;
    delete process.env.E2B_SANDBOX_URL;
    if (createdUser) execFileSync("userdel", ["--remove", "user"], { stdio: "ignore" });
  });

  it("runs a foreground command and returns its output", async () => {
    const r = await sandbox.commands.run("echo hello; echo oops >&2");
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, "hello\n");
    assert.equal(r.stderr, "oops\n");
  });

  it("throws CommandExitError on a non-zero exit", async () => {
    await assert.rejects(sandbox.commands.run("echo partial; exit 3"), (err: unknown) => {
      assert.ok(err instanceof CommandExitError);
      assert.equal(err.exitCode, 3);
      assert.equal(err.error, "exit status 3");
      assert.equal(err.stdout, "partial\n");
      return true;
    });
  });

  it("passes envs and cwd; envs do not persist", async () => {
    const r = await sandbox.commands.run('echo "$FOO"; pwd', { envs: { FOO: "bar" }, cwd: "/tmp" });
    assert.equal(r.stdout, "bar\n/tmp\n");
    assert.equal((await sandbox.commands.run('echo "$FOO"')).stdout, "\n");
  });

  it("runs as the default user, or as root when asked", async () => {
    assert.equal((await sandbox.commands.run("whoami")).stdout, "user\n");
    assert.equal((await sandbox.commands.run("whoami", { user: "root" })).stdout, "root\n");
    assert.equal(
      (await sandbox.commands.run("echo $HOME")).stdout.trim(),
      execFileSync("sh", ["-c", "getent passwd user | cut -d: -f6"]).toString().trim(),
    );
  });

  it("streams background output and takes stdin until closed", async () => {
    const chunks: string[] = [];
    const handle = await sandbox.commands.run("cat", {
      background: true,
      stdin: true,
      onStdout: (d) => {
        chunks.push(d);
      },
    });
    started.push(handle.pid);
    await sandbox.commands.sendStdin(handle.pid, "to cat\n");
    await sandbox.commands.closeStdin(handle.pid);
    const r = await handle.wait();
    assert.equal(r.stdout, "to cat\n");
    assert.equal(chunks.join(""), "to cat\n");
  });

  it("lists running commands and kills them", async () => {
    const handle = await sandbox.commands.run("sleep 30", { background: true });
    started.push(handle.pid);
    const listed = (await sandbox.commands.list()).find((p) => p.pid === handle.pid);
    assert.equal(listed?.cmd, "/bin/bash");
    assert.deepEqual(listed?.args, ["-l", "-c", "sleep 30"]);
    assert.equal(await sandbox.commands.kill(handle.pid), true);
    await assert.rejects(handle.wait(), (err: unknown) => {
      assert.ok(err instanceof CommandExitError);
      assert.equal(err.error, "signal: killed");
      return true;
    });
    assert.equal(isAlive(handle.pid), false);
    assert.equal(await sandbox.commands.kill(handle.pid), false);
    assert.equal(
      (await sandbox.commands.list()).some((p) => p.pid === handle.pid),
      false,
    );
  });

  it("reconnects to a running command after disconnecting", async () => {
    const handle = await sandbox.commands.run("read line; echo got $line", { background: true, stdin: true });
    started.push(handle.pid);
    await handle.disconnect();
    await sleep(50);
    const chunks: string[] = [];
    const again = await sandbox.commands.connect(handle.pid, {
      onStdout: (d) => {
        chunks.push(d);
      },
    });
    await sandbox.commands.sendStdin(handle.pid, "it\n");
    const r = await again.wait();
    assert.equal(r.stdout, "got it\n");
    assert.equal(chunks.join(""), "got it\n");
  });

  it("ends a command at its timeout with TimeoutError and kills it", async () => {
    await assert.rejects(sandbox.commands.run("sleep 10", { timeoutMs: 500 }), TimeoutError);
    await sleep(100);
    const left = await sandbox.commands.list();
    assert.equal(
      left.some((p) => p.args.includes("sleep 10")),
      false,
    );
  });

  it("creates a PTY, takes input, resizes, reconnects and kills it", { skip: noTput }, async () => {
    const decoder = new TextDecoder();
    let output = "";
    const waitFor = async (needle: RegExp) => {
      for (let i = 0; i < 200 && !needle.test(output); i++) await sleep(25);
      assert.match(output, needle);
    };
    const terminal = await sandbox.pty.create({
      cols: 80,
      rows: 24,
      onData: (d) => {
        output += decoder.decode(d);
      },
    });
    started.push(terminal.pid);
    const type = (text: string) => sandbox.pty.sendInput(terminal.pid, new TextEncoder().encode(text));

    await type("echo cols=$(tput cols)\n");
    await waitFor(/cols=80/);
    await sandbox.pty.resize(terminal.pid, { cols: 123, rows: 40 });
    await type("echo cols=$(tput cols)\n");
    await waitFor(/cols=123/);

    await terminal.disconnect();
    output = "";
    const again = await sandbox.pty.connect(terminal.pid, {
      onData: (d) => {
        output += decoder.decode(d);
      },
    });
    await type("echo back-$((40+2))\n");
    await waitFor(/back-42/);

    assert.equal(await sandbox.pty.kill(terminal.pid), true);
    await assert.rejects(again.wait(), CommandExitError);
    assert.equal(isAlive(terminal.pid), false);
  });
});
