// A running command or terminal session: one pump reads the agent's event stream, feeds the
// callbacks, keeps the output for `wait()` and replays it to every async iterator.
import type { processPb } from "@sandpit/protocol";
import { CommandExitError, type CommandResult, SandboxError } from "../errors.js";

/** One piece of output of a command or terminal. */
export type CommandOutput =
  | { readonly type: "stdout"; readonly data: string }
  | { readonly type: "stderr"; readonly data: string }
  | { readonly type: "pty"; readonly data: Uint8Array };

/** Options of calls that only need a time limit and a signal. */
export interface CommandRequestOptions {
  /** Time limit of the request in ms; default the connection's. */
  requestTimeoutMs?: number;
  /** Cancels the request. */
  signal?: AbortSignal;
}

/** Options of `wait()`. */
export interface WaitOptions {
  /** Throw `CommandExitError` on a non-zero exit (default true); false returns the result instead. */
  throwOnError?: boolean;
}

/**
 * A command or terminal running in the sandbox. Iterate it (`for await`) to get its output from the
 * start; `wait()` for its result.
 */
export interface CommandHandle extends AsyncIterable<CommandOutput> {
  /** Process id inside the sandbox. */
  readonly pid: number;
  /** Stdout so far. */
  readonly stdout: string;
  /** Stderr so far. */
  readonly stderr: string;
  /** Exit code once it ended, else undefined. */
  readonly exitCode: number | undefined;
  /** The agent's failure description once it ended, if it failed. */
  readonly error: string | undefined;
  /** Waits for the end; a non-zero exit throws `CommandExitError` unless `throwOnError` is false. */
  wait(options?: WaitOptions): Promise<CommandResult>;
  /** Stops receiving output; the process keeps running (re-attach with `connect(pid)`). */
  disconnect(): Promise<void>;
  /** Kills the process (SIGKILL); false when it was already gone. */
  kill(): Promise<boolean>;
  /** Writes to the command's stdin (started with `stdin: true`). */
  sendStdin(data: string | Uint8Array, options?: CommandRequestOptions): Promise<void>;
  /** Closes the command's stdin (EOF). */
  closeStdin(options?: CommandRequestOptions): Promise<void>;
}

type ProcessStreamEvent = processPb.StartResponse | processPb.ConnectResponse;

/** What a handle needs from its owner. */
export interface CommandHandleParams {
  pid: number;
  /** The event stream after its start event. */
  events: AsyncIterator<ProcessStreamEvent>;
  /** Aborts the stream; idempotent. */
  cleanup: () => void;
  mapError: (err: unknown) => Promise<Error>;
  kill: () => Promise<boolean>;
  sendStdin?: (data: string | Uint8Array, options?: CommandRequestOptions) => Promise<void>;
  closeStdin?: (options?: CommandRequestOptions) => Promise<void>;
  onStdout?: ((data: string) => void | Promise<void>) | undefined;
  onStderr?: ((data: string) => void | Promise<void>) | undefined;
  onPty?: ((data: Uint8Array) => void | Promise<void>) | undefined;
}

/** Wraps a started process's event stream into a handle; the pump starts at once. */
export function createCommandHandle(params: CommandHandleParams): CommandHandle {
  const stdoutDecoder = new TextDecoder();
  const stderrDecoder = new TextDecoder();
  const log: CommandOutput[] = [];
  let stdout = "";
  let stderr = "";
  let result: CommandResult | undefined;
  let failure: Error | undefined;
  let ended = false;
  let disconnected = false;
  let wake: Array<() => void> = [];

  const notify = () => {
    const waiting = wake;
    wake = [];
    for (const w of waiting) w();
  };

  const emit = async (out: CommandOutput) => {
    // Once disconnected, output is neither delivered nor kept (as if the stream had already closed).
    if (disconnected) return;
    log.push(out);
    notify();
    if (out.type === "stdout") await params.onStdout?.(out.data);
    else if (out.type === "stderr") await params.onStderr?.(out.data);
    else await params.onPty?.(out.data);
  };

  const flush = async () => {
    const restOut = stdoutDecoder.decode();
    if (restOut) {
      stdout += restOut;
      await emit({ type: "stdout", data: restOut });
    }
    const restErr = stderrDecoder.decode();
    if (restErr) {
      stderr += restErr;
      await emit({ type: "stderr", data: restErr });
    }
  };

  const pump = (async () => {
    try {
      for (;;) {
        const next = await params.events.next();
        if (next.done) break;
        const event = next.value.event?.event;
        if (event?.case === "data") {
          const output = event.value.output;
          if (output.case === "stdout") {
            const text = stdoutDecoder.decode(output.value, { stream: true });
            if (text) {
              stdout += text;
              await emit({ type: "stdout", data: text });
            }
          } else if (output.case === "stderr") {
            const text = stderrDecoder.decode(output.value, { stream: true });
            if (text) {
              stderr += text;
              await emit({ type: "stderr", data: text });
            }
          } else if (output.case === "pty") {
            await emit({ type: "pty", data: output.value });
          }
        } else if (event?.case === "end") {
          // Record the result before flushing: a callback that throws must not lose it.
          const tailOut = stdoutDecoder.decode();
          const tailErr = stderrDecoder.decode();
          stdout += tailOut;
          stderr += tailErr;
          result = {
            exitCode: event.value.exitCode,
            ...(event.value.error !== undefined && { error: event.value.error }),
            stdout,
            stderr,
          };
          if (tailOut) await emit({ type: "stdout", data: tailOut });
          if (tailErr) await emit({ type: "stderr", data: tailErr });
        }
      }
      if (!result) await flush();
    } catch (err) {
      await flush().catch(() => {});
      failure = disconnected
        ? new SandboxError("Disconnected from the process; attach again with connect(pid)", "canceled", {
            cause: err,
          })
        : await params.mapError(err);
    } finally {
      ended = true;
      params.cleanup();
      notify();
    }
  })();

  const handle: CommandHandle = {
    pid: params.pid,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    get exitCode() {
      return result?.exitCode;
    },
    get error() {
      return result?.error;
    },
    async wait(options) {
      await pump;
      if (!result) throw failure ?? new SandboxError("Process exited without a result", "internal");
      if (result.exitCode !== 0 && options?.throwOnError !== false) throw new CommandExitError(result);
      return result;
    },
    async disconnect() {
      disconnected = true;
      params.cleanup();
    },
    kill: params.kill,
    async sendStdin(data, options) {
      if (!params.sendStdin) throw new SandboxError("This handle has no stdin", "failed_precondition");
      await params.sendStdin(data, options);
    },
    async closeStdin(options) {
      if (!params.closeStdin) throw new SandboxError("This handle has no stdin", "failed_precondition");
      await params.closeStdin(options);
    },
    [Symbol.asyncIterator](): AsyncIterator<CommandOutput> {
      let index = 0;
      let closed = false;
      return {
        async next(): Promise<IteratorResult<CommandOutput>> {
          for (;;) {
            if (closed) return { done: true, value: undefined };
            const item = log[index];
            if (item !== undefined) {
              index++;
              return { done: false, value: item };
            }
            if (ended) {
              if (failure && !disconnected && !result) throw failure;
              return { done: true, value: undefined };
            }
            await new Promise<void>((resolve) => wake.push(resolve));
          }
        },
        async return(): Promise<IteratorResult<CommandOutput>> {
          closed = true;
          return { done: true, value: undefined };
        },
      };
    },
  };
  // The pump's own failure is reported through wait() and iteration, never as an unhandled rejection.
  pump.catch(() => {});
  return handle;
}
