import type { Sandbox } from "e2b";

/** The median of a list of numbers (0 for an empty list). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Milliseconds of `commands.run("true")` in a sandbox, `count` times one after another. */
export async function commandLatencies(sbx: Sandbox, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await sbx.commands.run("true");
    out.push(performance.now() - t);
  }
  return out;
}

/** What a neighbour saw while an attack ran. */
export interface SpilloverReport {
  idleP50: number;
  attackP50: number;
  samples: number;
  /** Commands of the neighbour that failed during the attack (must be none). */
  failures: string[];
}

/**
 * Runs `attack` while the neighbour runs `true` in a loop, and reports the neighbour's median
 * latency idle (just before) and under attack. Why a median: the machine is shared and noisy,
 * and one slow sample says nothing; a shifted median does.
 */
export async function measureSpillover<T>(
  neighbour: Sandbox,
  attack: () => Promise<T>,
): Promise<{ result: T; report: SpilloverReport }> {
  const idle = await commandLatencies(neighbour, 7);
  let done = false;
  const during: number[] = [];
  const failures: string[] = [];
  const sampler = (async () => {
    while (!done) {
      const t = performance.now();
      try {
        await neighbour.commands.run("true", { requestTimeoutMs: 60_000 });
        during.push(performance.now() - t);
      } catch (e) {
        failures.push(String(e));
      }
      // A user's pace, not a second attack: leave the CPU to what is being measured.
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    const result = await attack();
    return {
      result,
      report: { idleP50: median(idle), attackP50: median(during), samples: during.length, failures },
    };
  } finally {
    done = true;
    await sampler;
  }
}

/** Neighbour's median under attack may be at most this many times its idle median. */
export const SPILLOVER_FACTOR = 5;
