/** What {@link EventQueue.next} yields when the wait ran out before an item came. */
export const idle = Symbol("idle");

/**
 * A single-consumer queue between callbacks (a watcher) and an async loop (a stream handler):
 * push never blocks, next waits for an item, a timeout, an abort or a failure.
 */
export class EventQueue<T> {
  private items: T[] = [];
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  /** Adds an item and wakes the consumer. */
  push(item: T): void {
    this.items.push(item);
    this.wake?.();
  }

  /** Ends the queue with an error; the consumer sees it after the items already queued. */
  fail(error: Error): void {
    this.failure ??= error;
    this.wake?.();
  }

  /** Number of items waiting. */
  get size(): number {
    return this.items.length;
  }

  /** Takes every waiting item at once. */
  drain(): T[] {
    const items = this.items;
    this.items = [];
    return items;
  }

  /** The error the queue ended with, if any. */
  get error(): Error | undefined {
    return this.failure;
  }

  /**
   * The next item; {@link idle} after `timeoutMs` without one. Rejects with the queue's error
   * or the signal's reason.
   */
  async next(timeoutMs: number, signal: AbortSignal): Promise<T | typeof idle> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) return item;
      if (this.failure) throw this.failure;
      signal.throwIfAborted();
      const woke = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => done(false), timeoutMs);
        const onAbort = () => done(true);
        const done = (value: boolean) => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          this.wake = undefined;
          resolve(value);
        };
        this.wake = () => done(true);
        signal.addEventListener("abort", onAbort, { once: true });
      });
      if (!woke) return idle;
    }
  }
}
