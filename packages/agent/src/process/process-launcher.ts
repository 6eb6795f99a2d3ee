import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, constants, existsSync, openSync, readFileSync } from "node:fs";
import { Socket } from "node:net";
import { constants as osConstants } from "node:os";
import { SandpitError } from "@sandpit/protocol";
import { createFrameDecoder, encodeFrame } from "./launcher-frames.js";
import type { Credentials } from "./process-launch.js";

/** What the launcher needs to start one command. */
export interface LauncherRequest {
  cmd: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  credentials: Credentials | undefined;
  /** A pipe for stdin when true, else /dev/null. */
  stdin: boolean;
}

/** How a launched command ended: an exit code, or the number of the signal that ended it. */
export interface LauncherExit {
  code: number | null;
  signal: number | null;
}

/** A command the launcher started: its PID, the agent's ends of its pipes, and its end. */
export interface LaunchedCommand {
  readonly pid: number;
  /** The write end of its stdin pipe; absent when stdin is /dev/null. */
  readonly stdin: Socket | undefined;
  readonly stdout: Socket;
  readonly stderr: Socket;
  /** Calls back once with how it ended (at once when it already has). */
  onExit(callback: (exit: LauncherExit) => void): void;
}

/** The launcher process that forks and execs commands for the agent (native/launcher.c). */
export interface ProcessLauncher {
  /** Whether it is running; when not, start() rejects with {@link LauncherUnavailableError}. */
  readonly available: boolean;
  /** Starts a command; invalid_argument when it cannot be executed. */
  start(request: LauncherRequest): Promise<LaunchedCommand>;
  /** Signals a command it started, unless it has already been reaped. */
  kill(pid: number, signal: NodeJS.Signals): void;
  /** Stops the launcher, which SIGKILLs every command still running; resolves once it has. */
  close(): Promise<void>;
}

/** The launcher is not running (missing, failed to start, or died): spawn another way. */
export class LauncherUnavailableError extends Error {
  override readonly name = "LauncherUnavailableError";
}

/** Options of {@link createProcessLauncher}. */
export interface ProcessLauncherOptions {
  /** The launcher binary. */
  path: string;
  /** Told once when the launcher stops unexpectedly, with why. */
  onFailure?: (reason: string) => void;
  /** Soft RLIMIT_NOFILE of commands; default: the agent's own. */
  commandNofile?: number;
}

function softNofile(pid: number | "self"): number | undefined {
  try {
    const line = /^Max open files\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"))?.[1];
    return line === undefined || line === "unlimited" ? undefined : Number(line);
  } catch {
    return undefined;
  }
}

/**
 * The soft RLIMIT_NOFILE the agent was started with, when node has raised its own since
 * (it does at startup); read from the parent, which still has it. Commands should get this one,
 * as Go gives envd's commands.
 */
export function startupNofile(): number | undefined {
  const parent = softNofile(process.ppid);
  const own = softNofile("self");
  return parent !== undefined && own !== undefined && parent < own ? parent : undefined;
}

interface Pending {
  request: LauncherRequest;
  frame: Buffer;
  resolve(command: LaunchedCommand): void;
  reject(error: Error): void;
}

interface Running {
  exit: LauncherExit | undefined;
  callbacks: Array<(exit: LauncherExit) => void>;
}

function hasNul(request: LauncherRequest): boolean {
  const texts = [request.cmd, request.cwd, ...request.args, ...Object.entries(request.env).flat()];
  return texts.some((t) => t.includes("\0"));
}

function startFrame(id: string, request: LauncherRequest): Buffer {
  const creds = request.credentials;
  const env = Object.entries(request.env).map(([k, v]) => `${k}=${v}`);
  return encodeFrame([
    "S",
    id,
    creds ? String(creds.uid) : "-",
    creds ? String(creds.gid) : "-",
    creds ? creds.groups.join(",") : "",
    request.cwd,
    request.stdin ? "1" : "0",
    String(1 + request.args.length),
    request.cmd,
    ...request.args,
    String(env.length),
    ...env,
  ]);
}

/** Starts the launcher binary at `options.path` with a control channel on its fd 3. */
export function createProcessLauncher(options: ProcessLauncherOptions): ProcessLauncher {
  const pending = new Map<string, Pending>();
  const running = new Map<number, Running>();
  // One start at a time: a start that switches user makes the launcher unreadable through /proc
  // until its command has exec'd, and the pipes of the start before it are opened through /proc.
  // So the next start is sent once the pipes of the last one are ours (or it failed).
  const unsent: string[] = [];
  let inFlight: string | undefined;
  let nextId = 1;
  let available = existsSync(options.path);
  let child: ChildProcess | undefined;
  let control: Socket | undefined;

  // The channel keeps the event loop alive only while an answer or an end is still due: an idle
  // launcher must not keep an otherwise finished agent (or test) running.
  function updateRef(): void {
    if (pending.size + running.size > 0) control?.ref();
    else control?.unref();
  }

  function ended(pid: number, exit: LauncherExit): void {
    const entry = running.get(pid);
    if (!entry || entry.exit) return;
    entry.exit = exit;
    running.delete(pid);
    updateRef();
    for (const callback of entry.callbacks.splice(0)) callback(exit);
  }

  function fail(reason: string): void {
    if (!available) return;
    available = false;
    control?.destroy();
    options.onFailure?.(reason);
    for (const p of pending.values()) p.reject(new LauncherUnavailableError(reason));
    pending.clear();
    unsent.length = 0;
    // Without the launcher nobody can tell us when these end: end them now rather than never.
    for (const pid of [...running.keys()]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
      ended(pid, { code: null, signal: osConstants.signals.SIGKILL });
    }
  }

  function sendNext(): void {
    while (inFlight === undefined && unsent.length > 0) {
      const id = unsent.shift() as string;
      const p = pending.get(id);
      if (!p || !control) continue;
      inFlight = id;
      control.write(p.frame);
    }
  }

  function settled(id: string): void {
    if (inFlight !== id) return;
    inFlight = undefined;
    sendNext();
  }

  // Opens our end of a pipe the launcher holds; a new open file description, so making it
  // non-blocking leaves the command's end as it is.
  function openHeld(fd: string, flags: number): number {
    return openSync(`/proc/${child?.pid}/fd/${fd}`, flags | constants.O_NONBLOCK);
  }

  function started(id: string, pidText: string, fds: string[]): void {
    const p = pending.get(id);
    pending.delete(id);
    const pid = Number(pidText);
    const entry: Running = { exit: undefined, callbacks: [] };
    running.set(pid, entry);
    updateRef();
    takePipes(p, id, pidText, entry, fds, 0);
  }

  function takePipes(
    p: Pending | undefined,
    id: string,
    pidText: string,
    entry: Running,
    fds: string[],
    attempt: number,
  ): void {
    const pid = Number(pidText);
    const opened: number[] = [];
    try {
      const [inFd, outFd, errFd] = fds;
      const stdinFd = inFd === undefined || inFd === "-1" ? undefined : openHeld(inFd, constants.O_WRONLY);
      if (stdinFd !== undefined) opened.push(stdinFd);
      const stdoutFd = openHeld(outFd ?? "", constants.O_RDONLY);
      opened.push(stdoutFd);
      const stderrFd = openHeld(errFd ?? "", constants.O_RDONLY);
      opened.push(stderrFd);
      control?.write(encodeFrame(["R", id]));
      settled(id);
      const command: LaunchedCommand = {
        pid,
        stdin:
          stdinFd === undefined ? undefined : new Socket({ fd: stdinFd, readable: false, writable: true }),
        stdout: new Socket({ fd: stdoutFd, readable: true, writable: false }),
        stderr: new Socket({ fd: stderrFd, readable: true, writable: false }),
        onExit(callback) {
          if (entry.exit) callback(entry.exit);
          else entry.callbacks.push(callback);
        },
      };
      p?.resolve(command);
    } catch (error) {
      for (const fd of opened) closeSync(fd);
      // A start that switches user shares the launcher's memory until its exec (vfork), which
      // makes the launcher non-dumpable for that moment, and /proc refuses us then. Starts are
      // sent one at a time for that (10 concurrent commands hit it under runc before); this
      // stays as a safety net. The window closes within ms.
      if ((error as NodeJS.ErrnoException).code === "EACCES" && attempt < 500) {
        setTimeout(() => takePipes(p, id, pidText, entry, fds, attempt + 1), 1);
        return;
      }
      control?.write(encodeFrame(["K", pidText, String(osConstants.signals.SIGKILL)]));
      control?.write(encodeFrame(["R", id]));
      running.delete(pid);
      updateRef();
      // Cannot reach the pipes through /proc: this launcher is of no use here. Not retried by
      // forking: the command may have run for a moment, and must not run twice.
      const reason = `cannot open the pipes of a launched command: ${String(error)}`;
      p?.reject(new SandpitError("internal", `error starting process '${p.request.cmd}': ${reason}`));
      fail(reason);
    }
  }

  function onFrame(fields: string[]): void {
    const [op, a = "", b = "", ...rest] = fields;
    if (op === "P") {
      started(a, b, rest);
    } else if (op === "F") {
      const p = pending.get(a);
      pending.delete(a);
      updateRef();
      settled(a);
      if (!p) return;
      p.reject(
        new SandpitError(
          "invalid_argument",
          `error starting process '${p.request.cmd}': ${rest[0] ?? `errno ${b}`}`,
        ),
      );
    } else if (op === "X") {
      const code = Number(b);
      const signal = Number(rest[0] ?? 0);
      ended(Number(a), signal > 0 ? { code: null, signal } : { code, signal: null });
    }
  }

  if (available) {
    try {
      const args = options.commandNofile === undefined ? [] : [`nofile=${options.commandNofile}`];
      child = spawn(options.path, args, { stdio: ["ignore", "ignore", "inherit", "pipe"] });
      const channel = child.stdio[3];
      if (!(channel instanceof Socket)) throw new Error("no control channel");
      control = channel;
      channel.on("data", createFrameDecoder(onFrame));
      channel.on("error", (error) => fail(`launcher control channel: ${error.message}`));
      channel.on("close", () => fail("launcher control channel closed"));
      child.on("error", (error) => fail(`launcher: ${error.message}`));
      child.on("exit", (code, signal) => fail(`launcher exited (${signal ?? code})`));
      child.unref();
      channel.unref();
    } catch (error) {
      fail(`cannot start the launcher: ${String(error)}`);
    }
  }

  return {
    get available() {
      return available;
    },
    start(request) {
      if (!available || !control) {
        return Promise.reject(new LauncherUnavailableError("the launcher is not running"));
      }
      if (hasNul(request)) {
        return Promise.reject(
          new SandpitError(
            "invalid_argument",
            `error starting process '${request.cmd}': NUL byte in an argument`,
          ),
        );
      }
      const id = String(nextId++);
      return new Promise((resolve, reject) => {
        pending.set(id, { request, frame: startFrame(id, request), resolve, reject });
        updateRef();
        unsent.push(id);
        sendNext();
      });
    },
    kill(pid, signal) {
      if (!running.has(pid)) return;
      control?.write(encodeFrame(["K", String(pid), String(osConstants.signals[signal])]));
    },
    close() {
      const exited = new Promise<void>((resolve) => {
        if (!child || child.exitCode !== null || child.signalCode !== null) resolve();
        else {
          // Kept alive until then: closing is waiting for it.
          child.ref();
          child.once("exit", () => resolve());
        }
      });
      if (!available) return exited;
      available = false;
      // Not LauncherUnavailableError: a start that was in flight must not be forked after the close.
      for (const p of pending.values())
        p.reject(new SandpitError("unavailable", "the agent is shutting down"));
      pending.clear();
      unsent.length = 0;
      // End of file makes the launcher SIGKILL what still runs and exit, without telling us.
      control?.end();
      for (const pid of [...running.keys()]) ended(pid, { code: null, signal: osConstants.signals.SIGKILL });
      return exited;
    },
  };
}
