// The SDK's commands run in a login shell the agent started ahead: what such a command sees must
// be what `bash -l -c` would give it, profile changes included.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, chownSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CommandExitError, Sandbox } from "e2b";
import { createUserDirectory } from "../src/users.js";
import {
  childPids,
  createTestEtc,
  isAlive,
  isRunning,
  startTestAgent,
  type TestAgent,
  type TestEtc,
  testLauncherPath,
} from "./agent-harness.js";

const isRoot = process.getuid?.() === 0;
const skip = (!testLauncherPath() && "needs a C compiler (cc) to build the launcher") || false;
// What the ready shell's command line holds, and a command that is not.
const marker = "__sandpit_command";
const whoRuns = "tr '\\0' ' ' </proc/$$/cmdline";

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/** The shell reads its command after the start is answered, so its exec comes a moment later. */
async function commandLineBecomes(pid: number, expected: string): Promise<string> {
  const deadline = Date.now() + 3000;
  let seen = commandLine(pid);
  while (seen !== expected && Date.now() < deadline) {
    await sleep(10);
    seen = commandLine(pid);
  }
  return seen;
}

/** The shells waiting under this test process's launchers. */
function waitingShells(): number[] {
  return childPids(process.pid)
    .filter((pid) => commandLine(pid).includes("sandpit-launcher"))
    .flatMap(childPids)
    .filter((pid) => commandLine(pid).includes(marker));
}

describe("commands in a login shell started ahead", { skip }, () => {
  let agent: TestAgent;
  let etc: TestEtc;
  let sandbox: Sandbox;
  const user = "tester";
  const run = (cmd: string, envs?: Record<string, string>) => sandbox.commands.run(cmd, { user, envs });
  const profile = () => join(etc.home, ".profile");

  async function init(envVars: Record<string, string>): Promise<void> {
    const res = await fetch(`${agent.baseUrl}/init`, {
      method: "POST",
      body: JSON.stringify({ envVars, defaultUser: user }),
    });
    assert.equal(res.status, 204);
  }

  before(async () => {
    etc = createTestEtc();
    agent = await startTestAgent({ users: createUserDirectory(etc.dir) });
    process.env.E2B_DEBUG = "true";
    process.env.E2B_SANDBOX_URL = agent.baseUrl;
    sandbox = await Sandbox.create();
  });

  after(async () => {
    await agent.close();
    delete process.env.E2B_DEBUG;
    delete process.env.E2B_SANDBOX_URL;
    etc.remove();
  });

  it("runs the second command of a kind in a shell that was waiting for it", async () => {
    await run("true");
    assert.match((await run(whoRuns)).stdout, new RegExp(marker));
    // A command with env vars of its own takes the usual path: its profile must see them.
    assert.doesNotMatch((await run(whoRuns, { X: "1" })).stdout, new RegExp(marker));
  });

  it("gives the command what bash -l -c gives it", async () => {
    await run("true");
    const r = await run(
      `echo "$0 $# $SECONDS $LINENO"; pwd; echo "$HOME $USER"; readlink /proc/self/fd/0; set | grep -c '^${marker}='; ${whoRuns} >&2; exit 3`,
    ).catch((error: unknown) => error as CommandExitError);
    assert.ok(r instanceof CommandExitError);
    assert.match(r.stderr, new RegExp(marker));
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout, `/bin/bash 0 0 1\n${etc.home}\n${etc.home} ${user}\n/dev/null\n0\n`);
    // The shell's clock starts with the command, not when the shell did.
    await sleep(1200);
    assert.equal((await run("echo $SECONDS")).stdout, "0\n");
    await assert.rejects(
      run("if"),
      (error: unknown) => error instanceof CommandExitError && error.exitCode === 2,
    );
    await assert.rejects(
      run("nosuchcommand-xyz"),
      (error: unknown) =>
        error instanceof CommandExitError && error.exitCode === 127 && /command not found/.test(error.stderr),
    );
  });

  it("execs a lone simple command in place of the shell, as bash -c does", async () => {
    await run("true");
    const handle = await sandbox.commands.run("sleep 31", { user, background: true });
    assert.equal(await commandLineBecomes(handle.pid, "sleep 31 "), "sleep 31 ");
    assert.ok(await handle.kill());
    await assert.rejects(handle.wait(), (error: unknown) => {
      assert.ok(error instanceof CommandExitError);
      assert.equal(error.error, "signal: killed");
      assert.equal(error.exitCode, -1);
      return true;
    });
    // Killed from inside: the command's own signal, not the shell's exit status 137.
    await assert.rejects(
      run(`perl -e 'kill 9, $$'`),
      (error: unknown) => error instanceof CommandExitError && error.error === "signal: killed",
    );
    assert.equal((await run(`printf '%s|' "a b" 'c d'`)).stdout, "a b|c d|");
    // What the profile defines comes first, as it would in bash -c.
    writeFileSync(profile(), 'sleep() { echo "profile sleep $1"; }\n');
    if (isRoot) chownSync(profile(), 65534, 65534);
    await run("true");
    assert.equal((await run("sleep 32")).stdout, "profile sleep 32\n");
    writeFileSync(profile(), "");
  });

  it("regression: a long word before a redirect does not stall the agent (regex backtracking)", async () => {
    await run("true");
    const started = Date.now();
    const path = `/${"long-directory-name/".repeat(4)}missing`;
    assert.equal((await run(`ls -A ${path} 2>/dev/null || echo none`)).stdout, "none\n");
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });

  it("keeps stdin open when asked, byte for byte after the command", async () => {
    await run("true");
    const handle = await sandbox.commands.run('read -r line; echo "got $line"; cat', {
      user,
      stdin: true,
      background: true,
    });
    assert.match(commandLine(handle.pid), new RegExp(marker));
    await sandbox.commands.sendStdin(handle.pid, "first\nsecond\\n\0third");
    await sandbox.commands.closeStdin(handle.pid);
    const r = await handle.wait();
    assert.equal(r.stdout, "got first\nsecond\\n\0third");
  });

  it("sees the profile as it is when the command starts", async () => {
    await run("true");
    writeFileSync(profile(), 'echo "from profile"\nexport FROM_PROFILE=one\n');
    if (isRoot) chownSync(profile(), 65534, 65534);
    for (let i = 0; i < 2; i++) {
      assert.equal((await run('echo "$FROM_PROFILE"')).stdout, "from profile\none\n");
    }
    // A command that changes the profile: the next one reads the change.
    await run(`echo 'export FROM_PROFILE=two' >> ${profile()}`);
    assert.equal((await run('echo "$FROM_PROFILE"')).stdout, "from profile\ntwo\n");
    appendFileSync(profile(), "export FROM_PROFILE=three\n");
    assert.equal((await run('echo "$FROM_PROFILE"')).stdout, "from profile\nthree\n");
    writeFileSync(profile(), "");
  });

  it("gives commands the environment of the latest /init", async () => {
    await init({ GLOBAL: "a" });
    assert.equal((await run('echo "$GLOBAL"')).stdout, "a\n");
    assert.equal((await run('echo "$GLOBAL"')).stdout, "a\n");
    await init({ GLOBAL: "b" });
    assert.equal((await run('echo "$GLOBAL"')).stdout, "b\n");
    await init({});
    assert.equal((await run('echo "[$GLOBAL]"')).stdout, "[]\n");
  });

  it("a sandbox's identity, given after its shell started, reaches the command in that shell", async () => {
    await init({});
    await run("true");
    const [waiting, ...others] = waitingShells();
    assert.ok(waiting !== undefined && others.length === 0, `waiting shells: ${waitingShells().join(",")}`);
    const res = await fetch(`${agent.baseUrl}/init`, {
      method: "POST",
      body: JSON.stringify({ envVars: {}, defaultUser: user, sandboxId: "isbx1", templateId: "it's" }),
    });
    assert.equal(res.status, 204);
    const r = await run(
      'echo "$$ $E2B_SANDBOX_ID $E2B_TEMPLATE_ID $([ -v __sandpit_exports ] || echo unset)"',
    );
    assert.equal(r.stdout, `${waiting} isbx1 it's unset\n`);
  });

  it("runs concurrent commands each in its own shell, with its own output", async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => run(`echo "n=${i} pid=$$"`).then((r) => r.stdout)),
    );
    const pids = new Set<string>();
    results.forEach((stdout, i) => {
      const match = /^n=(\d+) pid=(\d+)\n$/.exec(stdout);
      assert.ok(match, stdout);
      assert.equal(match[1], String(i));
      pids.add(match[2] ?? "");
    });
    assert.equal(pids.size, 8);
  });

  it("has a shell waiting for the next command while a long one runs, and after it ends", async () => {
    await run("true");
    const tag = `78${process.pid}`;
    const long = await sandbox.commands.run(`sleep ${tag}; true`, { user, background: true });
    assert.match(commandLine(long.pid), new RegExp(marker));
    // The next shell starts a moment after the long command did, not when it ends.
    const deadline = Date.now() + 3000;
    while (!waitingShells().some((pid) => pid !== long.pid) && Date.now() < deadline) await sleep(20);
    assert.match((await run(whoRuns)).stdout, new RegExp(marker));
    assert.ok(await long.kill());
    await assert.rejects(long.wait());
    // And one starts after a short command ends.
    await run("true");
    assert.match((await run(whoRuns)).stdout, new RegExp(marker));
  });

  it("kills what the command started with it", async () => {
    await run("true");
    const tag = `77${process.pid}`;
    const handle = await sandbox.commands.run(`sleep ${tag}1 & sleep ${tag}2; true`, {
      user,
      background: true,
    });
    assert.match(commandLine(handle.pid), new RegExp(marker));
    await sleep(200);
    assert.ok(await handle.kill());
    await assert.rejects(handle.wait());
    for (let i = 0; i < 50 && isAlive(handle.pid); i++) await sleep(20);
    assert.equal(isAlive(handle.pid), false);
    assert.throws(() => execFileSync("pgrep", ["-f", `sleep ${tag}`]), "a sleep outlived the kill");
  });

  it("leaves no waiting shell behind when the agent closes", async () => {
    await run("true");
    const waiting = waitingShells();
    assert.ok(waiting.length > 0);
    await agent.close();
    for (let i = 0; i < 50 && waiting.some(isRunning); i++) await sleep(20);
    assert.deepEqual(waiting.filter(isRunning), []);
    agent = await startTestAgent({ users: createUserDirectory(etc.dir) });
  });
});
