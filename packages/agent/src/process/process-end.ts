import { constants } from "node:os";

/** How a process ended, in the words of Go's `os.ProcessState`, as envd reports it (spec §6.4). */
export interface ProcessEnd {
  /** Exit status, or -1 when a signal ended the process. */
  exitCode: number;
  /** Whether the process exited by itself rather than by a signal. */
  exited: boolean;
  /** `exit status N` or `signal: <name>`. */
  status: string;
  /** Same text as `status` unless the process exited with 0. */
  error: string | undefined;
}

// Go's names of Linux signals (syscall.Signal.String), which end up in `status`.
const goSignalNames: Record<number, string> = {
  1: "hangup",
  2: "interrupt",
  3: "quit",
  4: "illegal instruction",
  5: "trace/breakpoint trap",
  6: "aborted",
  7: "bus error",
  8: "floating point exception",
  9: "killed",
  10: "user defined signal 1",
  11: "segmentation fault",
  12: "user defined signal 2",
  13: "broken pipe",
  14: "alarm clock",
  15: "terminated",
  16: "stack fault",
  17: "child exited",
  18: "continued",
  19: "stopped (signal)",
  20: "stopped",
  21: "stopped (tty input)",
  22: "stopped (tty output)",
  23: "urgent I/O condition",
  24: "CPU time limit exceeded",
  25: "file size limit exceeded",
  26: "virtual timer expired",
  27: "profiling timer expired",
  28: "window changed",
  29: "I/O possible",
  30: "power failure",
  31: "bad system call",
};

/** Number of a signal given by number or by Node's name (`SIGKILL`). */
export function signalNumber(signal: number | string): number {
  if (typeof signal === "number") return signal;
  return (constants.signals as Record<string, number | undefined>)[signal] ?? 0;
}

/** The end of a process that exited with `code` or, when `signal` is set, was killed by it. */
export function processEnd(code: number | null, signal: number | string | null): ProcessEnd {
  const signo = signal === null ? 0 : signalNumber(signal);
  if (signo > 0) {
    const status = `signal: ${goSignalNames[signo] ?? `signal ${signo}`}`;
    return { exitCode: -1, exited: false, status, error: status };
  }
  const exitCode = code ?? 0;
  const status = `exit status ${exitCode}`;
  return { exitCode, exited: true, status, error: exitCode === 0 ? undefined : status };
}
