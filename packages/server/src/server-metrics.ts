import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The server's own Prometheus metrics, served on GET /metrics. */
export interface ServerMetrics {
  readonly registry: Registry;
  readonly requests: Histogram<"method" | "route" | "status">;
  readonly creates: Counter<"outcome" | "warm">;
  readonly createSeconds: Histogram<"warm">;
  readonly sandboxes: Gauge<"state">;
  readonly poolReady: Gauge<"template">;
}

/** A registry of its own, so several servers in one process (tests) do not collide. */
export function createServerMetrics(): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "sandpit_process_" });
  return {
    registry,
    requests: new Histogram({
      name: "sandpit_api_request_seconds",
      help: "REST API requests by route and status",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    creates: new Counter({
      name: "sandpit_sandbox_creates_total",
      help: "Sandbox creates by outcome and whether a warm sandbox served it",
      labelNames: ["outcome", "warm"],
      registers: [registry],
    }),
    createSeconds: new Histogram({
      name: "sandpit_sandbox_create_seconds",
      help: "Time from create request to a running sandbox",
      labelNames: ["warm"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60],
      registers: [registry],
    }),
    sandboxes: new Gauge({
      name: "sandpit_sandboxes",
      help: "Sandboxes by lifecycle state",
      labelNames: ["state"],
      registers: [registry],
    }),
    poolReady: new Gauge({
      name: "sandpit_pool_ready",
      help: "Warm sandboxes waiting, per template",
      labelNames: ["template"],
      registers: [registry],
    }),
  };
}
