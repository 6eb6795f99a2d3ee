// The launcher on its own: the agent's client of it against the real binary.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { SandpitError } from "@sandpit/protocol";
import {
  createProcessLauncher,
  type LaunchedCommand,
  type LauncherExit,
  type LauncherRequest,
  LauncherUnavailableError,
} from "../src/process/process-launcher.js";
import { isRunning, testLauncherPath } from "./agent-harness.js";

const path = testLauncherPath();
const noLauncher = !path && "needs a C compiler (cc) to build the launcher";

function request(cmd: string, args: string[], extra: Partial<LauncherRequest> = {}): LauncherRequest {
  return {
    cmd,
    args,
    cwd: "/",
    env: { PATH: "/usr/bin:/bin" },
    credentials: undefined,
    stdin: false,
    ...extra,
  };
}

async function run(
  command: LaunchedCommand,
): Promise<{ stdout: string; stderr: string; exit: LauncherExit }> {
  const text = (s: NodeJS.ReadableStream) =>
    new Promise<string>((resolve) => {
      let t = "";
      s.on("data", (c: Buffer) => {
        t += c.toString();
      });
      s.on("close", () => resolve(t));
    });
  const [stdout, stderr, exit] = await Promise.all([
    text(command.stdout),
    text(command.stderr),
    new Promise<LauncherExit>((resolve) => command.onExit(resolve)),
  ]);
  return { stdout, stderr, exit };
}

describe("process launcher", { skip: noLauncher }, () => {
  const launcher = createProcessLauncher({ path: path || "" });
  after(() => launcher.close());

  it("runs a command with the given env and cwd and reports its exit code", async () => {
    const command = await launcher.start(
      request("sh", ["-c", 'echo "$GREETING from $(pwd)"; echo oops >&2; exit 4'], {
        cwd: "/tmp",
        env: { PATH: "/usr/bin:/bin", GREETING: "hello" },
      }),
    );
    assert.equal(command.stdin, undefined);
    const r = await run(command);
    assert.deepEqual(r, { stdout: "hello from /tmp\n", stderr: "oops\n", exit: { code: 4, signal: null } });
  });

  it("feeds stdin through a real pipe and signals through the launcher", async () => {
    const cat = await launcher.start(request("/bin/cat", [], { stdin: true }));
    const done = run(cat);
    cat.stdin?.end("piped\n");
    assert.equal((await done).stdout, "piped\n");
    const sleeper = await launcher.start(request("/bin/sleep", ["30"]));
    const slept = run(sleeper);
    launcher.kill(sleeper.pid, "SIGTERM");
    assert.deepEqual((await slept).exit, { code: null, signal: 15 });
  });

  it("refuses what cannot be executed, or holds a NUL byte, with invalid_argument", async () => {
    for (const bad of [request("/no/such/binary", []), request("no-such-command-anywhere", [])]) {
      await assert.rejects(launcher.start(bad), (e: unknown) => {
        assert.ok(e instanceof SandpitError);
        assert.equal(e.code, "invalid_argument");
        assert.match(e.message, /error starting process '.*': exec: No such file or directory/);
        return true;
      });
    }
    await assert.rejects(launcher.start(request("/bin/echo", ["a\0b"])), (e: unknown) => {
      assert.ok(e instanceof SandpitError && e.code === "invalid_argument");
      return true;
    });
    // Still serving after the refusals.
    assert.equal((await run(await launcher.start(request("/bin/echo", ["ok"])))).stdout, "ok\n");
  });

  it("ignores signals for PIDs it did not start", async () => {
    launcher.kill(process.pid, "SIGKILL");
    launcher.kill(999_999_999, "SIGKILL");
    assert.equal((await run(await launcher.start(request("/bin/true", [])))).exit.code, 0);
  });

  it("kills what still runs when it is closed, and is then unavailable", async () => {
    const own = createProcessLauncher({ path: path || "" });
    const sleeper = await own.start(request("/bin/sleep", ["30"]));
    const exit = new Promise<LauncherExit>((resolve) => sleeper.onExit(resolve));
    void own.close();
    assert.deepEqual(await exit, { code: null, signal: 9 });
    for (let i = 0; i < 100 && isRunning(sleeper.pid); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(!isRunning(sleeper.pid), "the command outlived its launcher");
    assert.equal(own.available, false);
    await assert.rejects(own.start(request("/bin/true", [])), LauncherUnavailableError);
  });

  it("gives commands the soft open-files limit it is told, not node's raised one", async () => {
    const own = createProcessLauncher({ path: path || "", commandNofile: 123 });
    try {
      const r = await run(await own.start(request("sh", ["-c", "ulimit -Sn"])));
      assert.equal(r.stdout, "123\n");
    } finally {
      void own.close();
    }
  });

  it("refuses a start still in flight at close as unavailable, so nobody forks it afterwards", async () => {
    const own = createProcessLauncher({ path: path || "" });
    const inFlight = own.start(request("/bin/sleep", ["30"]));
    void own.close();
    await assert.rejects(inFlight, (e: unknown) => e instanceof SandpitError && e.code === "unavailable");
  });

  it("is unavailable, not failing, when the binary is missing", async () => {
    const missing = createProcessLauncher({ path: "/no/such/launcher" });
    assert.equal(missing.available, false);
    await assert.rejects(missing.start(request("/bin/true", [])), LauncherUnavailableError);
    void missing.close();
  });
});
