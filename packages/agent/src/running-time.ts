/** Timers that count only the time the sandbox runs. */
export interface RunningTimers {
  /** Calls `fn` once the sandbox has run `ms` more milliseconds; returns the cancel. */
  setTimeout(fn: () => void, ms: number): () => void;
}

/** Options of {@link createRunningTimers}; the defaults suit a sandbox, tests shrink them. */
export interface RunningTimersOptions {
  /** How often the clock is looked at while a timer is pending. */
  tickMs?: number;
  /** A look this much later than the last one means the sandbox did not run in between. */
  gapMs?: number;
}

/**
 * A paused sandbox (frozen, or saved to disk and restored) comes back with its monotonic clock
 * moved on by the whole pause (gVisor's does), so every timer due meanwhile fires at once: a
 * command's deadline would count time its sandbox never ran, which a VM's stopped clock does
 * not. While a timer is pending, a tick looks at the clock every `tickMs`; a look that comes
 * more than `gapMs` after the last one counts the time beyond a tick as paused. An event loop
 * blocked that long counts too, which only ever makes a deadline later. No timer, no tick: an
 * idle agent stays idle.
 */
export function createRunningTimers(options: RunningTimersOptions = {}): RunningTimers {
  const tickMs = options.tickMs ?? 1000;
  const gapMs = options.gapMs ?? 2 * tickMs;
  let pending = 0;
  let ticker: NodeJS.Timeout | undefined;
  let lastLook = performance.now();
  let pausedMs = 0;

  // Running time in ms: the monotonic clock minus what the pauses seen so far took.
  const runningNow = () => {
    const now = performance.now();
    if (now - lastLook > gapMs) pausedMs += now - lastLook - tickMs;
    lastLook = now;
    return now - pausedMs;
  };

  return {
    setTimeout(fn, ms) {
      if (pending++ === 0) {
        lastLook = performance.now();
        ticker = setInterval(runningNow, tickMs);
        ticker.unref();
      }
      const due = runningNow() + ms;
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (--pending === 0) clearInterval(ticker);
      };
      const arm = (delay: number) => {
        timer = setTimeout(() => {
          const left = due - runningNow();
          if (left > 0) {
            arm(left);
            return;
          }
          finish();
          fn();
        }, delay);
      };
      arm(ms);
      return finish;
    },
  };
}

/** The agent's running-time timers. */
export const runningTimers: RunningTimers = createRunningTimers();
