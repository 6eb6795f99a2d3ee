import type { processPb } from "@sandpit/protocol";
import { SandpitError } from "@sandpit/protocol";
import { runningTimers } from "../running-time.js";
import type { ProcessEnd } from "./process-end.js";

/** Where a chunk of output came from; the names are those of the DataEvent oneof. */
export type OutputStream = "stdout" | "stderr" | "pty";

/** Receives a process's live output and, once, its end. */
export interface ProcessListener {
  onData(stream: OutputStream, chunk: Uint8Array): void;
  onEnd(end: ProcessEnd): void;
}

/** The signals a client may send (spec §6.4). */
export type AllowedSignal = "SIGTERM" | "SIGKILL";

/** The OS side of a process, where pipe and PTY processes differ. */
export interface ProcessIo {
  readonly pid: number;
  readonly isPty: boolean;
  /** Bytes for stdin or the terminal; throws SandpitError when input is not possible. */
  writeInput(data: Uint8Array): void;
  /** Ends stdin; a no-op when already closed or never open. */
  closeInput(): void;
  resize(cols: number, rows: number): void;
  /** Sends the signal; the end then follows without waiting for output EOF. */
  kill(signal: AllowedSignal): void;
  pauseOutput(): void;
  resumeOutput(): void;
  /** Starts delivering output and the end to `sink`; called once, right after spawning. */
  attach(sink: ProcessListener): void;
}

/** A process the agent started: fans its output out to subscribers and remembers its end. */
export class ManagedProcess {
  readonly pid: number;
  readonly config: processPb.ProcessConfig;
  readonly tag: string | undefined;
  readonly #io: ProcessIo;
  readonly #listeners = new Set<ProcessListener>();
  readonly #pausers = new Set<object>();
  readonly #endCallbacks: Array<(end: ProcessEnd) => void> = [];
  #end: ProcessEnd | undefined;
  #cancelDeadline: (() => void) | undefined;

  constructor(io: ProcessIo, config: processPb.ProcessConfig, tag: string | undefined) {
    this.pid = io.pid;
    this.config = config;
    this.tag = tag;
    this.#io = io;
    io.attach({
      onData: (stream, chunk) => {
        // Nobody listening means the output is dropped, as envd does (spec §6.4).
        for (const listener of this.#listeners) listener.onData(stream, chunk);
      },
      onEnd: (end) => this.#finish(end),
    });
  }

  /** How the process ended, once it has. */
  get end(): ProcessEnd | undefined {
    return this.#end;
  }

  get isPty(): boolean {
    return this.#io.isPty;
  }

  /** Adds a listener of live output; returns its removal. An ended process only calls onEnd. */
  subscribe(listener: ProcessListener): () => void {
    if (this.#end) {
      listener.onEnd(this.#end);
      return () => {};
    }
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      this.resumeOutput(listener);
    };
  }

  /** Calls back once when the process has ended (immediately if it has). */
  onEnd(callback: (end: ProcessEnd) => void): void {
    if (this.#end) callback(this.#end);
    else this.#endCallbacks.push(callback);
  }

  /** Stdin bytes for a pipe process (spec §6.4: wrong kind → internal). */
  writeStdin(data: Uint8Array): void {
    if (this.isPty) throw new SandpitError("internal", "process has a pty, send pty input instead");
    this.#io.writeInput(data);
  }

  /** Terminal input for a PTY process. */
  writePty(data: Uint8Array): void {
    if (!this.isPty) throw new SandpitError("internal", "process has no pty, send stdin instead");
    this.#io.writeInput(data);
  }

  closeStdin(): void {
    if (this.isPty) throw new SandpitError("unknown", "cannot close stdin of a pty process");
    this.#io.closeInput();
  }

  resize(cols: number, rows: number): void {
    if (!this.isPty) throw new SandpitError("internal", "process has no pty to resize");
    this.#io.resize(cols, rows);
  }

  signal(signal: AllowedSignal): void {
    if (this.#end) throw new SandpitError("not_found", `process with pid ${this.pid} not found`);
    this.#io.kill(signal);
  }

  /**
   * Kills the process with SIGKILL after `ms` of the sandbox's running time: the lifetime
   * `Connect-Timeout-Ms` asks for, which a pause of the sandbox does not use up.
   */
  killAfter(ms: number): void {
    this.#cancelDeadline?.();
    this.#cancelDeadline = runningTimers.setTimeout(() => {
      if (!this.#end) this.#io.kill("SIGKILL");
    }, ms);
  }

  /** Stops reading output while any holder (a slow subscriber) asks for it. */
  pauseOutput(holder: object): void {
    if (this.#end || this.#pausers.has(holder)) return;
    this.#pausers.add(holder);
    if (this.#pausers.size === 1) this.#io.pauseOutput();
  }

  resumeOutput(holder: object): void {
    if (!this.#pausers.delete(holder)) return;
    if (this.#pausers.size === 0 && !this.#end) this.#io.resumeOutput();
  }

  #finish(end: ProcessEnd): void {
    if (this.#end) return;
    this.#end = end;
    this.#cancelDeadline?.();
    this.#pausers.clear();
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const listener of listeners) listener.onEnd(end);
    for (const callback of this.#endCallbacks.splice(0)) callback(end);
  }
}
