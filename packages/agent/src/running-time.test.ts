import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { createRunningTimers } from "./running-time.js";

// A frozen sandbox and a blocked event loop look the same to a timer: the clock moves on and
// nothing runs. Blocking the loop stands in for a pause.
function freeze(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

function firedAt(timers: ReturnType<typeof createRunningTimers>, ms: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => timers.setTimeout(() => resolve(performance.now() - started), ms));
}

/** When a 200 ms timer fires that saw a freeze of `ms` 50 ms into its wait. */
async function firedAfterFreeze(ms: number): Promise<number> {
  const fired = firedAt(createRunningTimers({ tickMs: 20, gapMs: 100 }), 200);
  await delay(50);
  freeze(ms);
  return fired;
}

describe("running-time timers", () => {
  test("without a pause, a timer fires on time", async () => {
    const timers = createRunningTimers({ tickMs: 20, gapMs: 100 });
    const at = await firedAt(timers, 150);
    assert.ok(at >= 149 && at < 260, `fired at ${at} ms`);
  });

  test("time the sandbox did not run is not counted", async () => {
    // 400 ms frozen, 50 ms into a 200 ms timer: a plain timer would fire as the freeze ends
    // (~450 ms); this one still has ~150 ms of running time to go.
    const at = await firedAfterFreeze(400);
    assert.ok(at >= 540, `fired at ${at} ms, counting the freeze`);
    assert.ok(at < 900, `fired at ${at} ms`);
  });

  test("a pause shorter than the gap counts like running time", async () => {
    const at = await firedAfterFreeze(60);
    assert.ok(at >= 199 && at < 320, `fired at ${at} ms`);
  });

  test("a cancelled timer never fires, and others go on", async () => {
    const timers = createRunningTimers({ tickMs: 20, gapMs: 100 });
    let cancelledFired = false;
    const cancel = timers.setTimeout(() => {
      cancelledFired = true;
    }, 50);
    const other = firedAt(timers, 100);
    cancel();
    await other;
    await delay(20);
    assert.equal(cancelledFired, false);
  });
});
