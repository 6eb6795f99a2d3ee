// `sandbox.commands`: commands run through the agent's process.Process service (spec §6.7).
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { processPb } from "@sandpit/protocol";
import { requestSignal, type StreamSignal, streamSignal } from "../connection-config.js";
import { type EnvdClient, KEEPALIVE_HEADERS } from "../envd-client.js";
import { type CommandResult, SandboxError, SandboxNotFoundError } from "../errors.js";
import { compareVersions } from "../version.js";
import { type CommandHandle, type CommandRequestOptions, createCommandHandle } from "./command-handle.js";

/** Default lifetime of a command's stream (the agent kills the command at its end). */
const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;

/** Options of `commands.run`. */
export interface CommandStartOptions extends CommandRequestOptions {
  /** Return a handle at once instead of waiting for the end. */
  background?: boolean;
  /** Working directory; default the user's home. */
  cwd?: string;
  /** User to run as; default the template's (`user`). */
  user?: string;
  /** Environment variables of this command (over the sandbox's). */
  envs?: Record<string, string>;
  /** Receives stdout as it comes, decoded. */
  onStdout?: (data: string) => void | Promise<void>;
  /** Receives stderr as it comes, decoded. */
  onStderr?: (data: string) => void | Promise<void>;
  /** Keep stdin open for `sendStdin` (default false: stdin is /dev/null). */
  stdin?: boolean;
  /** Lifetime of the command in ms; the agent kills it then (default 60 000; 0: no limit). */
  timeoutMs?: number;
  /** Throw `CommandExitError` on a non-zero exit (default true); false returns the result. */
  throwOnError?: boolean;
}

/** Options of `commands.connect`. */
export interface CommandConnectOptions extends CommandRequestOptions {
  /** Receives stdout as it comes. */
  onStdout?: (data: string) => void | Promise<void>;
  /** Receives stderr as it comes. */
  onStderr?: (data: string) => void | Promise<void>;
  /** Lifetime of the stream in ms (default 60 000; 0: no limit). */
  timeoutMs?: number;
}

/** A process running in the sandbox. */
export interface ProcessInfo {
  /** Process id. */
  pid: number;
  /** Tag given at start, if any. */
  tag?: string;
  /** Program. */
  cmd: string;
  /** Arguments. */
  args: string[];
  /** Environment variables given at start. */
  envs: Record<string, string>;
  /** Working directory given at start. */
  cwd?: string;
}

/** Runs and manages commands in a sandbox. */
export interface Commands {
  /** Runs a command and waits for its result. */
  run(cmd: string, options?: CommandStartOptions & { background?: false }): Promise<CommandResult>;
  /** Starts a command in the background and returns its handle. */
  run(cmd: string, options: CommandStartOptions & { background: true }): Promise<CommandHandle>;
  /** Runs a command; a handle when `background`, else its result. */
  run(cmd: string, options?: CommandStartOptions): Promise<CommandHandle | CommandResult>;
  /** Attaches to a running command. */
  connect(pid: number, options?: CommandConnectOptions): Promise<CommandHandle>;
  /** Lists running commands and terminals. */
  list(options?: CommandRequestOptions): Promise<ProcessInfo[]>;
  /** Kills a command (SIGKILL); false when there is no such process. */
  kill(pid: number, options?: CommandRequestOptions): Promise<boolean>;
  /** Writes to a command's stdin. */
  sendStdin(pid: number, data: string | Uint8Array, options?: CommandRequestOptions): Promise<void>;
  /** Closes a command's stdin (EOF). */
  closeStdin(pid: number, options?: CommandRequestOptions): Promise<void>;
}

/** Runs a unary RPC with the request's time limit and maps its failure. */
export async function unary<T>(
  envd: EnvdClient,
  options: CommandRequestOptions | undefined,
  call: (signal: AbortSignal | undefined) => Promise<T>,
  files = false,
): Promise<T> {
  const { signal, dispose } = requestSignal(
    options?.requestTimeoutMs ?? envd.target.config.requestTimeoutMs,
    options?.signal,
  );
  try {
    return await call(signal);
  } catch (err) {
    throw await envd.rpcError(err, files);
  } finally {
    dispose();
  }
}

/** Waits for the start event of a process stream (spec §6.4: it must come first). */
export async function startEventOf(
  events: AsyncIterator<processPb.StartResponse | processPb.ConnectResponse>,
): Promise<number> {
  let first: IteratorResult<processPb.StartResponse | processPb.ConnectResponse>;
  try {
    first = await events.next();
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.Unavailable) {
      throw new SandboxNotFoundError("Sandbox is probably not running anymore", { cause: err });
    }
    throw err;
  }
  const event = first.done ? undefined : first.value.event?.event;
  if (event?.case !== "start") throw new SandboxError("Expected start event", "internal");
  return event.value.pid;
}

/** A deadline for the agent: 0 means none (the agent's "absent"). */
export function deadlineOf(timeoutMs: number | undefined, fallback: number): number | undefined {
  const ms = timeoutMs ?? fallback;
  return ms > 0 ? ms : undefined;
}

/** The selector of a process by its pid. */
export function pidSelector(pid: number) {
  return { selector: { case: "pid" as const, value: pid } };
}

/** Opens a Process/Connect stream to a running process (commands and terminals alike). */
export function connectStream(
  envd: EnvdClient,
  rpc: Client<typeof processPb.Process>,
  pid: number,
  options: (CommandRequestOptions & { timeoutMs?: number }) | undefined,
  defaultTimeoutMs: number,
): { events: AsyncIterator<processPb.ConnectResponse>; stream: StreamSignal } {
  const stream = streamSignal(
    options?.requestTimeoutMs ?? envd.target.config.requestTimeoutMs,
    options?.signal,
  );
  const events = rpc
    .connect(
      { process: pidSelector(pid) },
      {
        signal: stream.signal,
        headers: KEEPALIVE_HEADERS,
        timeoutMs: deadlineOf(options?.timeoutMs, defaultTimeoutMs),
      },
    )
    [Symbol.asyncIterator]();
  return { events, stream };
}

/** Creates `sandbox.commands` over one sandbox's agent. */
export function createCommands(envd: EnvdClient): Commands {
  const rpc = createClient(processPb.Process, envd.transport);
  const selector = pidSelector;

  const commands = {
    async list(options?: CommandRequestOptions): Promise<ProcessInfo[]> {
      const res = await unary(envd, options, (signal) => rpc.list({}, { signal }));
      return res.processes.map((p) => ({
        pid: p.pid,
        ...(p.tag && { tag: p.tag }),
        cmd: p.config?.cmd ?? "",
        args: p.config?.args ?? [],
        envs: p.config?.envs ?? {},
        ...(p.config?.cwd && { cwd: p.config.cwd }),
      }));
    },

    async sendStdin(pid: number, data: string | Uint8Array, options?: CommandRequestOptions): Promise<void> {
      const value = typeof data === "string" ? new TextEncoder().encode(data) : data;
      await unary(envd, options, (signal) =>
        rpc.sendInput({ process: selector(pid), input: { input: { case: "stdin", value } } }, { signal }),
      );
    },

    async closeStdin(pid: number, options?: CommandRequestOptions): Promise<void> {
      if (compareVersions(envd.target.envdVersion, "0.5.2") < 0) {
        throw new SandboxError(
          `Sandbox envd version ${envd.target.envdVersion} doesn't support closeStdin.`,
          "unimplemented",
        );
      }
      await unary(envd, options, (signal) => rpc.closeStdin({ process: selector(pid) }, { signal }));
    },

    async kill(pid: number, options?: CommandRequestOptions): Promise<boolean> {
      try {
        await unary(envd, options, (signal) =>
          rpc.sendSignal({ process: selector(pid), signal: processPb.Signal.SIGKILL }, { signal }),
        );
        return true;
      } catch (err) {
        if (err instanceof SandboxError && err.code === "not_found") return false;
        throw err;
      }
    },

    async connect(pid: number, options?: CommandConnectOptions): Promise<CommandHandle> {
      const { events, stream } = connectStream(envd, rpc, pid, options, DEFAULT_COMMAND_TIMEOUT_MS);
      try {
        const startedPid = await startEventOf(events);
        stream.clearStartTimeout();
        return createCommandHandle({
          pid: startedPid,
          events,
          cleanup: stream.cleanup,
          mapError: (err) => envd.rpcError(err),
          kill: () => commands.kill(startedPid),
          sendStdin: (data, opts) => commands.sendStdin(startedPid, data, opts),
          closeStdin: (opts) => commands.closeStdin(startedPid, opts),
          onStdout: options?.onStdout,
          onStderr: options?.onStderr,
        });
      } catch (err) {
        stream.cleanup();
        throw await envd.rpcError(err);
      }
    },

    async run(cmd: string, options?: CommandStartOptions): Promise<CommandHandle | CommandResult> {
      if (options?.stdin === false && compareVersions(envd.target.envdVersion, "0.3.0") < 0) {
        throw new SandboxError(
          `Sandbox envd version ${envd.target.envdVersion} can't specify stdin, it's always turned on.`,
          "unimplemented",
        );
      }
      const stream = streamSignal(
        options?.requestTimeoutMs ?? envd.target.config.requestTimeoutMs,
        options?.signal,
      );
      const events = rpc
        .start(
          {
            process: { cmd: "/bin/bash", cwd: options?.cwd, envs: options?.envs, args: ["-l", "-c", cmd] },
            stdin: options?.stdin ?? false,
          },
          {
            headers: { ...envd.authHeader(options?.user), ...KEEPALIVE_HEADERS },
            signal: stream.signal,
            timeoutMs: deadlineOf(options?.timeoutMs, DEFAULT_COMMAND_TIMEOUT_MS),
          },
        )
        [Symbol.asyncIterator]();
      let handle: CommandHandle;
      try {
        const pid = await startEventOf(events);
        stream.clearStartTimeout();
        handle = createCommandHandle({
          pid,
          events,
          cleanup: stream.cleanup,
          mapError: (err) => envd.rpcError(err),
          kill: () => commands.kill(pid),
          sendStdin: (data, opts) => commands.sendStdin(pid, data, opts),
          closeStdin: (opts) => commands.closeStdin(pid, opts),
          onStdout: options?.onStdout,
          onStderr: options?.onStderr,
        });
      } catch (err) {
        stream.cleanup();
        throw await envd.rpcError(err);
      }
      if (options?.background) return handle;
      return handle.wait({ throwOnError: options?.throwOnError ?? true });
    },
  };
  return commands as Commands;
}
