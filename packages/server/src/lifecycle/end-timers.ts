/** Longest delay setTimeout honours; later deadlines are re-armed in steps. */
const MAX_DELAY = 2 ** 31 - 1;

/** One timer per sandbox that fires at its end time, to the millisecond. */
export interface EndTimers {
  /** Sets (or moves) the sandbox's end time. */
  set(id: string, endAtMs: number): void;
  cancel(id: string): void;
  /** Cancels every timer (server shutdown). */
  clear(): void;
}

/** Timers that call `onEnd(id)` when a sandbox's end time arrives. */
export function createEndTimers(onEnd: (id: string) => void): EndTimers {
  const timers = new Map<string, NodeJS.Timeout>();

  function arm(id: string, endAtMs: number): void {
    const delay = Math.max(0, endAtMs - Date.now());
    const timer = setTimeout(
      () => {
        if (delay === MAX_DELAY) return arm(id, endAtMs);
        timers.delete(id);
        onEnd(id);
      },
      Math.min(delay, MAX_DELAY),
    );
    // A pending end time must not keep a stopping server alive.
    timer.unref();
    timers.set(id, timer);
  }

  return {
    set(id, endAtMs) {
      clearTimeout(timers.get(id));
      arm(id, endAtMs);
    },
    cancel(id) {
      clearTimeout(timers.get(id));
      timers.delete(id);
    },
    clear() {
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
}
