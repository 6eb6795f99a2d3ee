// `sandbox.pty`: interactive terminals, a login bash on a pseudo-terminal (spec §6.7).
import { createClient } from "@connectrpc/connect";
import { processPb } from "@sandpit/protocol";
import {
  type CommandHandle,
  type CommandRequestOptions,
  createCommandHandle,
} from "./commands/command-handle.js";
import { connectStream, deadlineOf, pidSelector, startEventOf, unary } from "./commands/commands.js";
import { streamSignal } from "./connection-config.js";
import { type EnvdClient, KEEPALIVE_HEADERS } from "./envd-client.js";
import { SandboxError } from "./errors.js";

/** Default lifetime of a terminal's stream. */
const DEFAULT_PTY_TIMEOUT_MS = 60_000;

/** Options of `pty.create`. */
export interface PtyCreateOptions extends CommandRequestOptions {
  /** Columns of the terminal. */
  cols: number;
  /** Rows of the terminal. */
  rows: number;
  /** Receives the terminal's output bytes. */
  onData: (data: Uint8Array) => void | Promise<void>;
  /** Lifetime of the session in ms (default 60 000; 0: no limit). */
  timeoutMs?: number;
  /** User of the shell; default the template's. */
  user?: string;
  /** Environment variables (TERM, LANG and LC_ALL have defaults). */
  envs?: Record<string, string>;
  /** Working directory; default the user's home. */
  cwd?: string;
}

/** Options of `pty.connect`. */
export interface PtyConnectOptions extends CommandRequestOptions {
  /** Receives the terminal's output bytes. */
  onData?: (data: Uint8Array) => void | Promise<void>;
  /** Lifetime of the stream in ms (default 60 000; 0: no limit). */
  timeoutMs?: number;
}

/** Terminal sessions in a sandbox. */
export interface Pty {
  /** Starts an interactive login shell on a terminal. */
  create(options: PtyCreateOptions): Promise<CommandHandle>;
  /** Attaches to a running terminal. */
  connect(pid: number, options?: PtyConnectOptions): Promise<CommandHandle>;
  /** Types into a terminal. */
  sendInput(pid: number, data: Uint8Array | string, options?: CommandRequestOptions): Promise<void>;
  /** Changes a terminal's size. */
  resize(pid: number, size: { cols: number; rows: number }, options?: CommandRequestOptions): Promise<void>;
  /** Kills a terminal's shell (SIGKILL); false when there is no such process. */
  kill(pid: number, options?: CommandRequestOptions): Promise<boolean>;
}

/** Creates `sandbox.pty` over one sandbox's agent. */
export function createPty(envd: EnvdClient): Pty {
  const rpc = createClient(processPb.Process, envd.transport);
  const selector = pidSelector;

  const attach = async (
    events: AsyncIterator<processPb.StartResponse | processPb.ConnectResponse>,
    stream: ReturnType<typeof streamSignal>,
    onData: ((data: Uint8Array) => void | Promise<void>) | undefined,
  ): Promise<CommandHandle> => {
    try {
      const pid = await startEventOf(events);
      stream.clearStartTimeout();
      return createCommandHandle({
        pid,
        events,
        cleanup: stream.cleanup,
        mapError: (err) => envd.rpcError(err),
        kill: () => pty.kill(pid),
        onPty: onData,
      });
    } catch (err) {
      stream.cleanup();
      throw await envd.rpcError(err);
    }
  };

  const pty: Pty = {
    async create(options) {
      const envs = { ...options.envs };
      envs.TERM ??= "xterm-256color";
      envs.LANG ??= "C.UTF-8";
      envs.LC_ALL ??= "C.UTF-8";
      const stream = streamSignal(
        options.requestTimeoutMs ?? envd.target.config.requestTimeoutMs,
        options.signal,
      );
      const events = rpc
        .start(
          {
            process: { cmd: "/bin/bash", args: ["-i", "-l"], envs, cwd: options.cwd },
            pty: { size: { cols: options.cols, rows: options.rows } },
          },
          {
            headers: { ...envd.authHeader(options.user), ...KEEPALIVE_HEADERS },
            signal: stream.signal,
            timeoutMs: deadlineOf(options.timeoutMs, DEFAULT_PTY_TIMEOUT_MS),
          },
        )
        [Symbol.asyncIterator]();
      return attach(events, stream, options.onData);
    },

    async connect(pid, options) {
      const { events, stream } = connectStream(envd, rpc, pid, options, DEFAULT_PTY_TIMEOUT_MS);
      return attach(events, stream, options?.onData);
    },

    async sendInput(pid, data, options) {
      const value = typeof data === "string" ? new TextEncoder().encode(data) : data;
      await unary(envd, options, (signal) =>
        rpc.sendInput({ input: { input: { case: "pty", value } }, process: selector(pid) }, { signal }),
      );
    },

    async resize(pid, size, options) {
      await unary(envd, options, (signal) =>
        rpc.update({ process: selector(pid), pty: { size } }, { signal }),
      );
    },

    async kill(pid, options) {
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
  };
  return pty;
}
