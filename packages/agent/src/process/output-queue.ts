import type { ManagedProcess, OutputStream, ProcessListener } from "./managed-process.js";
import type { ProcessEnd } from "./process-end.js";

/** One thing a subscriber receives, in order. */
export type QueuedEvent =
  | { kind: "data"; stream: OutputStream; chunk: Uint8Array }
  | { kind: "end"; end: ProcessEnd };

// A client that reads slower than the process writes pauses the process's output (as a pipe
// would) instead of growing the agent's memory without bound.
const pauseAboveBytes = 1 << 20;
const resumeBelowBytes = 1 << 18;
// Consecutive chunks of one stream are merged up to envd's read size: fewer, larger messages.
const mergeUpToBytes = 32 << 10;

/** A subscriber's buffer between a process and one response stream. */
export class OutputQueue implements ProcessListener {
  readonly #proc: ManagedProcess;
  readonly #items: QueuedEvent[] = [];
  #bytes = 0;
  #wake: (() => void) | undefined;

  constructor(proc: ManagedProcess) {
    this.#proc = proc;
  }

  onData(stream: OutputStream, chunk: Uint8Array): void {
    this.#items.push({ kind: "data", stream, chunk });
    this.#bytes += chunk.byteLength;
    if (this.#bytes > pauseAboveBytes) this.#proc.pauseOutput(this);
    this.#wake?.();
  }

  onEnd(end: ProcessEnd): void {
    this.#items.push({ kind: "end", end });
    this.#wake?.();
  }

  /**
   * The next event; "idle" when `idleMs` passed without one, "aborted" once `signal` fires.
   */
  async take(idleMs: number, signal: AbortSignal): Promise<QueuedEvent | "idle" | "aborted"> {
    if (signal.aborted) return "aborted";
    if (this.#items.length === 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          this.#wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, idleMs);
        signal.addEventListener("abort", done);
        this.#wake = done;
      });
      if (signal.aborted) return "aborted";
    }
    const first = this.#items.shift();
    if (!first) return "idle";
    if (first.kind === "end") return first;
    let merged = first;
    let next = this.#items[0];
    if (next?.kind === "data" && next.stream === first.stream) {
      const parts = [first.chunk];
      let size = first.chunk.byteLength;
      while (
        next?.kind === "data" &&
        next.stream === first.stream &&
        size + next.chunk.byteLength <= mergeUpToBytes
      ) {
        parts.push(next.chunk);
        size += next.chunk.byteLength;
        this.#items.shift();
        next = this.#items[0];
      }
      if (parts.length > 1) merged = { kind: "data", stream: first.stream, chunk: Buffer.concat(parts) };
    }
    this.#bytes -= merged.chunk.byteLength;
    if (this.#bytes < resumeBelowBytes) this.#proc.resumeOutput(this);
    return merged;
  }
}
