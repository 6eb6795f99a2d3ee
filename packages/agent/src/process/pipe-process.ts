import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { SandpitError } from "@sandpit/protocol";
import type { ProcessIo, ProcessListener } from "./managed-process.js";
import { processEnd } from "./process-end.js";
import { assertExecutable, type Launch } from "./process-launch.js";
import { type LaunchedCommand, LauncherUnavailableError, type ProcessLauncher } from "./process-launcher.js";

let setprivPath: string | null | undefined;

// libuv drops every supplementary group when it switches users, so a user who belongs to more
// groups than its primary one (e.g. `sudo`) is switched by util-linux's setpriv instead, which
// execs the command in place and so keeps its PID.
function findSetpriv(): string | null {
  if (setprivPath === undefined) {
    setprivPath = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p)) ?? null;
  }
  return setprivPath;
}

interface SpawnPlan {
  file: string;
  args: string[];
  uid: number | undefined;
  gid: number | undefined;
  /** Whether exec failures of the command would be hidden behind a helper. */
  viaHelper: boolean;
}

function planSpawn(launch: Launch): SpawnPlan {
  const creds = launch.credentials;
  if (!creds)
    return { file: launch.cmd, args: launch.args, uid: undefined, gid: undefined, viaHelper: false };
  const extraGroups = creds.groups.some((g) => g !== creds.gid);
  const setpriv = extraGroups ? findSetpriv() : null;
  if (!setpriv)
    return { file: launch.cmd, args: launch.args, uid: creds.uid, gid: creds.gid, viaHelper: false };
  return {
    file: setpriv,
    args: [
      `--reuid=${creds.uid}`,
      `--regid=${creds.gid}`,
      `--groups=${creds.groups.join(",")}`,
      "--",
      launch.cmd,
      ...launch.args,
    ],
    uid: undefined,
    gid: undefined,
    viaHelper: true,
  };
}

/** envd gives user processes an OOM score of 100 so the agent outlives them; best effort. */
export function raiseOomScore(pid: number): void {
  // Synchronous: a procfs write takes microseconds, four threadpool hops take longer.
  try {
    writeFileSync(`/proc/${pid}/oom_score_adj`, "100");
  } catch {
    // The process may already be gone, or procfs read-only; the score is only a preference.
  }
}

async function spawnError(child: ChildProcess, cmd: string): Promise<never> {
  const error = await new Promise<Error>((resolve) => child.once("error", resolve));
  throw new SandpitError("invalid_argument", `error starting process '${cmd}': ${error.message}`, {
    cause: error,
  });
}

/** A started command with piped stdio, however it was started. */
interface PipedChild {
  pid: number;
  stdin: Writable | null | undefined;
  stdout: Readable;
  stderr: Readable;
  kill(signal: NodeJS.Signals): void;
  /** Calls back once with how it ended. */
  onExit(callback: (code: number | null, signal: number | string | null) => void): void;
}

// The I/O of a command with stdout/stderr pipes: its end is reported once it has exited and
// both pipes have closed (node's 'close' of a child, done the same way for the launcher's).
function pipedIo(child: PipedChild, stdin: boolean): ProcessIo {
  const { pid, stdout, stderr } = child;
  let stdinOpen = stdin;
  // A command that exits or closes stdin makes our writes fail with EPIPE; that only closes input.
  child.stdin?.on("error", () => {
    stdinOpen = false;
  });
  let signalled = false;
  return {
    pid,
    isPty: false,
    writeInput(data) {
      if (!stdin) throw new SandpitError("internal", "stdin is not enabled for this process");
      if (!stdinOpen || !child.stdin?.writable) throw new SandpitError("internal", "stdin is closed");
      child.stdin.write(data);
    },
    closeInput() {
      stdinOpen = false;
      child.stdin?.end();
    },
    resize() {
      throw new SandpitError("internal", "process has no pty to resize");
    },
    kill(signal) {
      signalled = true;
      child.kill(signal);
    },
    pauseOutput() {
      stdout.pause();
      stderr.pause();
    },
    resumeOutput() {
      stdout.resume();
      stderr.resume();
    },
    attach(sink: ProcessListener) {
      let open = 2;
      let exit: ReturnType<typeof processEnd> | undefined;
      const maybeEnd = () => {
        if (exit && open === 0) sink.onEnd(exit);
      };
      for (const [name, stream] of [
        ["stdout", stdout],
        ["stderr", stderr],
      ] as const) {
        stream.on("data", (chunk: Buffer) => sink.onData(name, chunk));
        // A read error ends the stream like EOF; the process's end still follows.
        stream.on("error", () => {});
        // EOF ('end') is when all of its output is in; 'close' comes a few loop turns later, and
        // alone after a read error.
        let done = false;
        const finished = () => {
          if (done) return;
          done = true;
          open -= 1;
          maybeEnd();
        };
        stream.once("end", finished);
        stream.once("close", finished);
      }
      child.onExit((code, signal) => {
        exit = processEnd(code, signal);
        child.stdin?.destroy();
        // After a kill the end must not wait for EOF: a grandchild may hold the pipes open.
        if (signalled) {
          stdout.destroy();
          stderr.destroy();
        }
        maybeEnd();
      });
    },
  };
}

/** A command started by the launcher: real pipes, signals through the launcher. */
export function launchedIo(command: LaunchedCommand, launcher: ProcessLauncher, stdin: boolean): ProcessIo {
  return pipedIo(
    {
      pid: command.pid,
      stdin: command.stdin,
      stdout: command.stdout,
      stderr: command.stderr,
      kill: (signal) => launcher.kill(command.pid, signal),
      onExit: (callback) => command.onExit(({ code, signal }) => callback(code, signal)),
    },
    stdin,
  );
}

/**
 * Starts a process with stdout/stderr pipes and, when `stdin`, a stdin pipe (else /dev/null):
 * through the launcher when there is one (real pipes, cheap fork), else by forking the agent.
 */
export async function spawnPipeProcess(
  launch: Launch,
  stdin: boolean,
  launcher?: ProcessLauncher,
): Promise<ProcessIo> {
  if (launcher?.available) {
    try {
      const command = await launcher.start({
        cmd: launch.cmd,
        args: launch.args,
        cwd: launch.cwd,
        env: launch.env,
        credentials: launch.credentials,
        stdin,
      });
      return launchedIo(command, launcher, stdin);
    } catch (error) {
      if (!(error instanceof LauncherUnavailableError)) throw error;
      // The launcher died under this request: the agent itself still can.
    }
  }
  return forkPipeProcess(launch, stdin);
}

/**
 * Signals a command's process group, so that what a shell started goes with it, then the
 * command itself, which may have left that group.
 */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
    } catch {
      // Already gone.
    }
  }
}

// The fallback: node's spawn, whose stdio "pipes" are socket pairs.
async function forkPipeProcess(launch: Launch, stdin: boolean): Promise<ProcessIo> {
  const plan = planSpawn(launch);
  if (plan.viaHelper) await assertExecutable(launch);
  let child: ChildProcess;
  try {
    child = spawn(plan.file, plan.args, {
      cwd: launch.cwd,
      env: launch.env,
      uid: plan.uid,
      gid: plan.gid,
      stdio: [stdin ? "pipe" : "ignore", "pipe", "pipe"],
      // Its own process group, as the launcher gives every command: see signalGroup.
      detached: true,
    });
  } catch (error) {
    throw new SandpitError("invalid_argument", `error starting process '${launch.cmd}': ${String(error)}`, {
      cause: error,
    });
  }
  const pid = child.pid;
  if (pid === undefined) return spawnError(child, launch.cmd);
  raiseOomScore(pid);

  const { stdout, stderr } = child;
  if (!stdout || !stderr) throw new SandpitError("internal", "process output pipes are missing");
  return pipedIo(
    {
      pid,
      stdin: child.stdin,
      stdout,
      stderr,
      // Not once reaped: the PID may belong to somebody else by then.
      kill: (signal) => {
        if (child.exitCode === null && child.signalCode === null) signalGroup(pid, signal);
      },
      onExit: (callback) => child.once("exit", callback),
    },
    stdin,
  );
}
