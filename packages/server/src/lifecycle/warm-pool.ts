import { randomBytes } from "node:crypto";
import type { SandboxDriver, SandboxInfo } from "@sandpit/runtime";
import type { Logger } from "pino";
import type { TemplateInfo } from "../template-catalog.js";
import type { AgentSandboxes } from "./agent-sandbox.js";

/** Started sandboxes with no identity yet, waiting to be handed out. */
export interface WarmPool {
  /** A ready sandbox of the template, or undefined when none waits; the pool refills behind. */
  take(templateID: string): SandboxInfo | undefined;
  /** Sandboxes waiting now, per template. */
  sizes(): Record<string, number>;
  /** Starts filling. */
  start(): void;
  /** Stops filling and removes the waiting sandboxes. */
  close(): Promise<void>;
}

/** Options of {@link createWarmPool}. */
export interface WarmPoolOptions {
  driver: SandboxDriver;
  agents: AgentSandboxes;
  templates: readonly TemplateInfo[];
  /** Sandboxes kept waiting per template; 0 turns the pool off. */
  size: number;
  logger: Logger;
  /** Starts at once per template; more only competes with live sandboxes for CPU. */
  concurrency?: number;
  /** Quiet time after the last take before refilling starts. */
  refillDelayMs?: number;
}

/** Runtime ids of pooled sandboxes start with `w`; public ids with `i`. */
export function newPoolId(): string {
  return `w${randomBytes(16).toString("hex").slice(0, 20)}`;
}

/** A pool that keeps `size` sandboxes of each template started, refilling in the background. */
export function createWarmPool(options: WarmPoolOptions): WarmPool {
  const { driver, agents, size, logger } = options;
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const ready = new Map<string, SandboxInfo[]>();
  const starting = new Map<string, number>();
  const failures = new Map<string, number>();
  let closed = false;
  let started = false;
  const inflight = new Set<Promise<void>>();
  const refillDelayMs = options.refillDelayMs ?? 1000;
  const refillTimers = new Map<string, NodeJS.Timeout>();

  function fill(template: TemplateInfo): void {
    if (closed || !started) return;
    const id = template.templateID;
    const waiting = ready.get(id)?.length ?? 0;
    let running = starting.get(id) ?? 0;
    while (waiting + running < size && running < concurrency) {
      running++;
      starting.set(id, running);
      const job = startOne(template).finally(() => {
        inflight.delete(job);
        starting.set(id, (starting.get(id) ?? 1) - 1);
        fill(template);
      });
      inflight.add(job);
    }
  }

  async function startOne(template: TemplateInfo): Promise<void> {
    const id = newPoolId();
    // After failures, back off so a broken template does not spin the CPU.
    const failed = failures.get(template.templateID) ?? 0;
    if (failed > 0) await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** failed)));
    if (closed) return;
    try {
      const info = await agents.start({
        id,
        template: template.templateID,
        limits: { cpuCount: template.cpuCount, memoryMB: template.memoryMB, diskMB: template.diskSizeMB },
        // The SDKs ask for internet access by default; the rare `false` flips it on take.
        allowInternetAccess: true,
        pooled: true,
      });
      // Measured: without it the first command of a warm sandbox takes ~3x its second.
      await agents
        .warmUp(info.address)
        .catch((e: unknown) => logger.warn({ err: e, poolId: id }, "warm-up failed"));
      failures.set(template.templateID, 0);
      if (closed) {
        await driver.remove(id);
        return;
      }
      ready.set(template.templateID, [...(ready.get(template.templateID) ?? []), info]);
      logger.debug({ poolId: id, template: template.templateID }, "warm sandbox ready");
    } catch (e) {
      failures.set(template.templateID, failed + 1);
      logger.warn({ err: e, template: template.templateID }, "starting a warm sandbox failed");
    }
  }

  return {
    take(templateID) {
      const info = ready.get(templateID)?.shift();
      const template = options.templates.find((t) => t.templateID === templateID);
      if (template) {
        // Creates come in bursts; starting replacements at once would take the CPU the burst's
        // own sandboxes need (2 cores here), so refill once the burst is over.
        clearTimeout(refillTimers.get(templateID));
        const timer = setTimeout(() => {
          refillTimers.delete(templateID);
          fill(template);
        }, refillDelayMs);
        timer.unref();
        refillTimers.set(templateID, timer);
      }
      return info;
    },
    sizes() {
      return Object.fromEntries([...ready].map(([k, v]) => [k, v.length]));
    },
    start() {
      if (size <= 0) return;
      started = true;
      for (const t of options.templates) fill(t);
    },
    async close() {
      closed = true;
      for (const t of refillTimers.values()) clearTimeout(t);
      await Promise.allSettled([...inflight]);
      const waiting = [...ready.values()].flat();
      ready.clear();
      await Promise.allSettled(waiting.map((info) => driver.remove(info.id)));
    },
  };
}
