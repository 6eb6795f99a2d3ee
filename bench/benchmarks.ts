import { agentBenchmark } from "./agent.js";
import { createBenchmark } from "./create.js";
import type { Benchmark } from "./measure.js";
import { pauseBenchmark } from "./pause.js";
import { runtimeBenchmark } from "./runtime.js";

/** Every benchmark, by the name `npm run bench -- NAME` takes. */
export const benchmarks: Record<string, Benchmark> = {
  runtime: runtimeBenchmark,
  agent: agentBenchmark,
  create: createBenchmark,
  pause: pauseBenchmark,
};
