import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { ENVD_VERSION, SandpitError } from "@sandpit/protocol";
import type { SandboxDriver, SandboxStatus } from "@sandpit/runtime";
import type { Logger } from "pino";
import { generateAccessToken } from "../auth/api-keys.js";
import type { PauseTier, SandboxRecord, Store } from "../store/index.js";
import type { TemplateCatalog } from "../template-catalog.js";
import { type AgentInit, type AgentSandboxes, SANDBOX_DEFAULTS } from "./agent-sandbox.js";
import { createEndTimers } from "./end-timers.js";
import type { WarmPool } from "./warm-pool.js";

/** What POST /sandboxes asks for, validated. */
export interface CreateSandboxRequest {
  templateID: string;
  timeoutSec: number;
  metadata: Record<string, string>;
  envVars: Record<string, string>;
  secure: boolean;
  allowInternetAccess: boolean | null;
  autoPause: boolean;
  /** Whether the pause at the end of life keeps memory; false keeps only the files. */
  autoPauseMemory: boolean;
  autoResume: boolean;
  /** False: the sandbox's own ports answer only requests carrying its traffic token. */
  allowPublicTraffic: boolean;
}

/**
 * Where the proxy sends a sandbox's traffic, decided without a store round trip;
 * `trafficToken` when its ports are not public.
 */
export type LiveRoute =
  | { state: "running"; address: string; trafficToken?: string }
  | { state: "paused"; autoResume: boolean; trafficToken?: string }
  | { state: "gone" };

/** When a paused sandbox moves from RAM to disk, and how long it is kept. */
export interface PausePolicy {
  /** Grace period of the warm tier (frozen, memory in RAM) before the cold one (checkpoint on disk). */
  warmMs: number;
  /** Below this much MemAvailable on the host, frozen sandboxes move to disk early; 0 never. */
  memoryFloorMB: number;
  /** A paused sandbox is killed this long after its pause; 0 keeps it until killed. */
  retentionSec: number;
}

/** What a pause did with the sandbox's memory, for the API's answer. */
export interface PauseOutcome {
  /**
   * `ram` where memory stays in RAM for as long as it is paused (no checkpoint: runc); `disk`
   * where it moves there after a grace period; `none` for a filesystem-only pause.
   */
  memory: "ram" | "disk" | "none";
}

/** The policy a server uses unless told otherwise (config.ts has the same defaults). */
export const defaultPausePolicy: Readonly<PausePolicy> = Object.freeze({
  warmMs: 30_000,
  memoryFloorMB: 2048,
  retentionSec: 0,
});

/** The lifecycle state machine of every sandbox (ARCHITECTURE.md, "Lifecycle"). */
export interface SandboxManager {
  create(teamId: string, request: CreateSandboxRequest): Promise<SandboxRecord>;
  /** The team's sandbox; another team's or a dead one is not_found. */
  get(teamId: string, id: string): Promise<SandboxRecord>;
  kill(teamId: string, id: string): Promise<void>;
  /** Moves the end time to now + seconds, shorter or longer. */
  setTimeout(teamId: string, id: string, seconds: number): Promise<void>;
  /** Extends the end time to at least now + seconds. */
  refresh(teamId: string, id: string, seconds: number): Promise<void>;
  /** Running: extends only (200). Paused: resumes under the same id (201). */
  connect(
    teamId: string,
    id: string,
    timeoutSec: number,
  ): Promise<{ record: SandboxRecord; resumed: boolean }>;
  /** Deprecated resume: paused only; a running sandbox is a conflict. */
  resume(teamId: string, id: string, timeoutSec: number, autoPause?: boolean): Promise<SandboxRecord>;
  /** `memory: false` keeps only the files: every process ends, and resume boots afresh. */
  pause(teamId: string, id: string, options?: { memory?: boolean }): Promise<PauseOutcome>;
  /** Changes the pause policy; frozen sandboxes follow the new grace period at once. */
  configurePause(policy: Partial<PausePolicy>): void;
  /** Where the proxy sends this sandbox's traffic. */
  route(id: string): LiveRoute;
  /** Resumes a paused sandbox for proxied traffic (auto-resume) and returns its address. */
  resumeForTraffic(id: string): Promise<string>;
  /** Removes a running sandbox whose processes ended outside the server; no-op if it still lives. */
  reapDead(id: string): Promise<void>;
  /** Running secure sandboxes with their tokens, for routing signed file URLs. */
  tokens(): Iterable<[string, string]>;
  /** Adopts what survived a restart, finishes cut-off transitions, removes the rest. */
  reconcile(): Promise<void>;
  /** Stops the timers; sandboxes keep running for the next start to adopt. */
  close(): void;
}

/** Options of {@link createSandboxManager}. */
export interface SandboxManagerOptions {
  store: Store;
  driver: SandboxDriver;
  agents: AgentSandboxes;
  templates: TemplateCatalog;
  pool?: WarmPool;
  logger: Logger;
  maxTimeoutSec: number;
  /** Tiers and retention of paused sandboxes; default {@link defaultPausePolicy}. */
  pause?: Partial<PausePolicy>;
  /** How often the host's free memory is looked at (tests shorten it). */
  memoryCheckMs?: number;
  /** Cuts every proxied connection of a sandbox (kill and pause). */
  sever(id: string): void;
  /** A new sandbox started running (the metrics sampler takes a first sample). */
  onRunning?(id: string): void;
  /** A create ended: how long it took, whether a warm sandbox served it, whether it worked. */
  onCreateDone?(ms: number, warm: boolean, ok: boolean): void;
}

/** How long an auto-resumed sandbox lives when traffic woke it. */
const AUTO_RESUME_TIMEOUT_SEC = 300;

/** Public sandbox ids: `i` and 20 of `[a-z0-9]`, as E2B's. */
export function newSandboxId(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = randomBytes(20);
  let id = "i";
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return id;
}

/** Accepts the legacy `<sandboxID>-<clientID>` form too (spec §3.3). */
export function parseSandboxId(raw: string): string {
  const id = raw.split("-")[0] ?? "";
  if (!/^[a-z0-9]{1,64}$/.test(id)) throw new SandpitError("not_found", `sandbox '${raw}' not found`);
  return id;
}

/** Creates the lifecycle manager over a store and a driver. */
export function createSandboxManager(options: SandboxManagerOptions): SandboxManager {
  const { store, driver, agents, templates, pool, logger } = options;
  const live = new Map<string, LiveRoute>();
  // Signed file URLs carry no sandbox id: the proxy finds their sandbox by its token.
  const tokens = new Map<string, string>();
  const locks = new Map<string, Promise<unknown>>();
  const timers = createEndTimers((id) => {
    void onEnd(id);
  });
  let policy: PausePolicy = { ...defaultPausePolicy, ...options.pause };
  // Frozen sandboxes by pause time: the oldest goes to disk first when memory runs short.
  const warm = new Map<string, number>();
  const coldTimers = createEndTimers((id) => {
    void moveCold(id, "grace period over");
  });
  let relieving = false;
  const memoryWatch = setInterval(() => {
    void relieveMemory();
  }, options.memoryCheckMs ?? 1000);
  memoryWatch.unref();

  /** Runs `fn` after every earlier operation on the same sandbox, so transitions never overlap. */
  function serialized<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const before = locks.get(id) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.catch(() => undefined);
    locks.set(id, tail);
    void tail.then(() => {
      if (locks.get(id) === tail) locks.delete(id);
    });
    return run;
  }

  function log(id: string): Logger {
    return logger.child({ sandboxId: id });
  }

  async function event(
    id: string,
    message: string,
    level: "info" | "warn" | "error" = "info",
  ): Promise<void> {
    const timestamp = Date.now();
    log(id)[level](message);
    // History, not part of any answer: written after the pending response has gone out.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await store.appendSandboxLog(id, { timestamp, level, message }).catch(() => undefined);
  }

  async function owned(teamId: string, id: string): Promise<SandboxRecord> {
    const record = await store.getSandbox(parseSandboxId(id));
    if (!record || record.teamId !== teamId || record.state === "killing") {
      throw new SandpitError("not_found", `sandbox '${id}' not found`);
    }
    return record;
  }

  function checkTimeout(seconds: number): void {
    if (!Number.isInteger(seconds) || seconds <= 0) {
      throw new SandpitError("invalid_argument", "timeout must be a positive number of seconds");
    }
    if (seconds > options.maxTimeoutSec) {
      throw new SandpitError("invalid_argument", `timeout must be at most ${options.maxTimeoutSec} seconds`);
    }
  }

  function initOf(record: SandboxRecord): AgentInit {
    return {
      envVars: record.envVars,
      ...(record.accessToken ? { accessToken: record.accessToken } : {}),
      ...SANDBOX_DEFAULTS,
      sandboxId: record.id,
      templateId: record.templateId,
    };
  }

  function setRunning(record: SandboxRecord): void {
    if (!record.address) return;
    live.set(record.id, {
      state: "running",
      address: record.address,
      ...(record.trafficAccessToken ? { trafficToken: record.trafficAccessToken } : {}),
    });
    if (record.accessToken) tokens.set(record.id, record.accessToken);
    timers.set(record.id, record.endAt);
  }

  async function onEnd(id: string): Promise<void> {
    try {
      await serialized(id, async () => {
        const record = await store.getSandbox(id);
        if (record?.state === "paused") {
          const until = retentionEnd(record);
          if (until === undefined) return;
          if (until > Date.now() + 5) {
            timers.set(id, until);
            return;
          }
          await event(id, "paused retention over: killing");
          await killLocked(record);
          return;
        }
        if (record?.state !== "running") return;
        // A timer may fire a hair early or a moved end time may race it: trust the record.
        if (record.endAt > Date.now() + 5) {
          timers.set(id, record.endAt);
          return;
        }
        if (record.autoPause) {
          await event(id, `end of life reached: pausing${record.autoPauseMemory ? "" : " (files only)"}`);
          await pauseLocked(record, record.autoPauseMemory);
        } else {
          await event(id, "end of life reached: killing");
          await killLocked(record);
        }
      });
    } catch (e) {
      log(id).error({ err: e }, "ending the sandbox failed");
    }
  }

  async function killLocked(record: SandboxRecord): Promise<void> {
    await store.updateSandbox(record.id, { state: "killing" });
    timers.cancel(record.id);
    coldTimers.cancel(record.id);
    warm.delete(record.id);
    live.delete(record.id);
    tokens.delete(record.id);
    options.sever(record.id);
    await driver.remove(record.runtimeId);
    await store.deleteSandbox(record.id);
    log(record.id).info("killed");
  }

  function tierOf(status: SandboxStatus | undefined): PauseTier {
    return status === "checkpointed" ? "cold" : status === "halted" ? "files" : "warm";
  }

  function retentionEnd(record: SandboxRecord): number | undefined {
    if (policy.retentionSec <= 0 || record.pausedAt === null) return undefined;
    return record.pausedAt + policy.retentionSec * 1000;
  }

  /** Arms what happens to a paused sandbox later: the move to disk and the end of retention. */
  function armPaused(record: SandboxRecord): void {
    const pausedAt = record.pausedAt ?? Date.now();
    if (record.pauseTier === "warm" && driver.canCheckpoint) {
      warm.set(record.id, pausedAt);
      coldTimers.set(record.id, pausedAt + policy.warmMs);
    }
    const until = retentionEnd(record);
    if (until !== undefined) timers.set(record.id, until);
  }

  /**
   * The cold tier: checkpoint a frozen sandbox to disk and free its memory. Any failure leaves
   * it frozen in RAM (the driver refreezes it), so it is always paused, never neither.
   */
  async function moveCold(id: string, why: string): Promise<void> {
    try {
      await serialized(id, async () => {
        const record = await store.getSandbox(id);
        if (record?.state !== "paused" || record.pauseTier !== "warm" || !driver.canCheckpoint) {
          warm.delete(id);
          return;
        }
        // Proxied connections end now, as at the pause, not at the save that would drop them.
        options.sever(id);
        const began = performance.now();
        try {
          await driver.checkpoint(record.runtimeId);
        } catch (e) {
          const status = (await driver.get(record.runtimeId).catch(() => undefined))?.status;
          if (status === "running") await driver.pause(record.runtimeId);
          log(id).warn({ err: e }, `moving to disk failed (${why}); it stays frozen in RAM`);
          coldTimers.set(id, Date.now() + Math.max(policy.warmMs, 10_000));
          return;
        }
        warm.delete(id);
        const info = await driver.get(record.runtimeId);
        await store.updateSandbox(
          id,
          { pauseTier: "cold", checkpointPath: info.checkpointDir ?? null, layerPath: info.layerDir ?? null },
          { expectState: "paused" },
        );
        await event(id, `moved to disk (${why}) in ${(performance.now() - began).toFixed(0)} ms`);
      });
    } catch (e) {
      log(id).error({ err: e }, "moving a paused sandbox to disk failed");
    }
  }

  function memoryAvailableMB(): number | undefined {
    try {
      const kb = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
      return kb === undefined ? undefined : Number(kb) / 1024;
    } catch {
      return undefined;
    }
  }

  /** Moves frozen sandboxes to disk, oldest first, while the host is short of memory. */
  async function relieveMemory(): Promise<void> {
    if (relieving || warm.size === 0 || policy.memoryFloorMB <= 0) return;
    relieving = true;
    try {
      for (;;) {
        const available = memoryAvailableMB();
        if (available === undefined || available >= policy.memoryFloorMB) return;
        const oldest = [...warm.entries()].sort((a, b) => a[1] - b[1])[0]?.[0];
        if (oldest === undefined) return;
        coldTimers.cancel(oldest);
        warm.delete(oldest);
        await moveCold(oldest, `host memory low: ${available.toFixed(0)} MiB available`);
      }
    } finally {
      relieving = false;
    }
  }

  async function pauseLocked(record: SandboxRecord, keepMemory: boolean): Promise<void> {
    await store.updateSandbox(record.id, { state: "pausing" }, { expectState: "running" });
    timers.cancel(record.id);
    live.set(record.id, pausedRoute(record, keepMemory ? "warm" : "files"));
    options.sever(record.id);
    let info: Awaited<ReturnType<SandboxDriver["get"]>>;
    try {
      // The warm tier: a freeze answers at once; the move to disk happens later, unwaited.
      // Without memory: every process ends now, the files stay.
      if (keepMemory) await driver.pause(record.runtimeId);
      else await driver.halt(record.runtimeId);
      info = await driver.get(record.runtimeId);
    } catch (e) {
      await store.updateSandbox(record.id, { state: "running" });
      setRunning(record);
      throw SandpitError.from(e);
    }
    const now = Date.now();
    const paused = await store.updateSandbox(record.id, {
      state: "paused",
      pausedAt: now,
      endAt: now,
      pauseTier: keepMemory ? "warm" : "files",
      checkpointPath: info.checkpointDir ?? null,
      layerPath: info.layerDir ?? null,
    });
    armPaused(paused);
    void event(record.id, keepMemory ? "paused" : "paused (files only)");
  }

  /** A filesystem-only pause has no memory to wake for traffic: it resumes only when asked. */
  function pausedRoute(record: SandboxRecord, tier: PauseTier | null): LiveRoute {
    return {
      state: "paused",
      autoResume: record.autoResume && tier !== "files",
      ...(record.trafficAccessToken ? { trafficToken: record.trafficAccessToken } : {}),
    };
  }

  async function resumeLocked(
    record: SandboxRecord,
    timeoutSec: number,
    autoPause?: boolean,
  ): Promise<SandboxRecord> {
    await store.updateSandbox(record.id, { state: "resuming" }, { expectState: "paused" });
    coldTimers.cancel(record.id);
    warm.delete(record.id);
    try {
      let info = await driver.get(record.runtimeId);
      const from = info.status;
      const began = performance.now();
      if (from === "checkpointed") info = await driver.restore(record.runtimeId);
      else if (from === "halted") info = await agents.reboot(record.runtimeId);
      else if (from === "paused") await driver.resume(record.runtimeId);
      // Restore, reboot and thaw keep the sandbox's address.
      const address = info.address;
      // A thawed agent never stopped knowing its identity; a restored or rebooted one gets it
      // (and the time) again, as E2B's control plane does on every resume. A rebooted agent
      // has no token yet.
      const thawed = performance.now();
      if (from === "checkpointed")
        await agents.init(address, initOf(record), record.accessToken ?? undefined);
      else if (from === "halted") await agents.init(address, initOf(record));
      const updated = await store.updateSandbox(record.id, {
        state: "running",
        address,
        pausedAt: null,
        pauseTier: null,
        endAt: Date.now() + timeoutSec * 1000,
        ...(autoPause === undefined ? {} : { autoPause }),
      });
      setRunning(updated);
      const ms = (since: number) => (performance.now() - since).toFixed(1);
      const [where, step] =
        from === "checkpointed"
          ? ["disk", "restore"]
          : from === "halted"
            ? ["files", "boot"]
            : ["RAM", "thaw"];
      void event(
        record.id,
        `resumed from ${where} in ${ms(began)} ms (${step} ${(thawed - began).toFixed(1)} ms)`,
      );
      options.onRunning?.(record.id);
      return updated;
    } catch (e) {
      // Still paused in one tier or the other: say which, and arm its timers again.
      const status = (await driver.get(record.runtimeId).catch(() => undefined))?.status;
      if (status === "running") await driver.pause(record.runtimeId).catch(() => undefined);
      const tier = tierOf(status);
      await store
        .updateSandbox(record.id, { state: "paused", pauseTier: tier })
        .then(armPaused)
        .catch(() => undefined);
      log(record.id).error({ err: e }, "resume failed");
      throw SandpitError.from(e);
    }
  }

  function conflict(record: SandboxRecord): SandpitError {
    return new SandpitError("aborted", `sandbox '${record.id}' is ${record.state}`);
  }

  async function create(teamId: string, request: CreateSandboxRequest): Promise<SandboxRecord> {
    const template = templates.resolve(request.templateID);
    checkTimeout(request.timeoutSec);
    const id = newSandboxId();
    const now = Date.now();
    const began = performance.now();
    const allow = request.allowInternetAccess ?? true;
    const warm = pool?.take(template.templateID);
    const runtimeId = warm?.id ?? id;
    // Written before the runtime is told, so a restart can undo a create that was cut off.
    const inserted = await store.insertSandbox({
      id,
      runtimeId,
      teamId,
      templateId: template.templateID,
      alias: template.alias,
      state: "starting",
      metadata: request.metadata,
      envVars: request.envVars,
      accessToken: request.secure ? generateAccessToken() : null,
      trafficAccessToken: request.allowPublicTraffic ? null : generateAccessToken(),
      secure: request.secure,
      allowInternetAccess: request.allowInternetAccess,
      autoPause: request.autoPause,
      autoPauseMemory: request.autoPauseMemory,
      autoResume: request.autoResume,
      cpuCount: template.cpuCount,
      memoryMB: template.memoryMB,
      diskSizeMB: template.diskSizeMB,
      envdVersion: ENVD_VERSION,
      runtime: driver.name,
      address: null,
      startedAt: now,
      endAt: now + request.timeoutSec * 1000,
      pausedAt: null,
    });
    return serialized(id, async () => {
      try {
        const info =
          warm ??
          (await agents.start({
            id,
            template: template.templateID,
            limits: { cpuCount: template.cpuCount, memoryMB: template.memoryMB, diskMB: template.diskSizeMB },
            allowInternetAccess: allow,
          }));
        if (warm && warm.allowInternetAccess !== allow) await driver.setInternetAccess(runtimeId, allow);
        await agents.init(info.address, initOf(inserted));
        const running = await store.updateSandbox(
          id,
          { state: "running", address: info.address },
          { expectState: "starting" },
        );
        setRunning(running);
        const ms = performance.now() - began;
        // The log line is history, not part of the answer: the client does not wait for it.
        void event(
          id,
          `created from ${template.alias}${warm ? " (warm)" : ""} as ${runtimeId} in ${ms.toFixed(1)} ms`,
        );
        options.onRunning?.(id);
        options.onCreateDone?.(ms, warm !== undefined, true);
        return running;
      } catch (e) {
        log(id).error({ err: e }, "create failed");
        options.onCreateDone?.(performance.now() - began, warm !== undefined, false);
        await driver.remove(runtimeId).catch(() => undefined);
        await store.deleteSandbox(id).catch(() => undefined);
        throw SandpitError.from(e);
      }
    });
  }

  async function adoptPaused(
    record: SandboxRecord,
    status: "paused" | "checkpointed" | "halted",
  ): Promise<void> {
    const adopted = await store.updateSandbox(record.id, {
      state: "paused",
      pausedAt: record.pausedAt ?? Date.now(),
      pauseTier: tierOf(status),
    });
    live.set(record.id, pausedRoute(adopted, adopted.pauseTier));
    armPaused(adopted);
    log(record.id).info(`adopted a paused sandbox (${adopted.pauseTier ?? "?"})`);
  }

  async function reconcileOne(record: SandboxRecord): Promise<void> {
    const l = log(record.id);
    const info = await driver.get(record.runtimeId).catch(() => undefined);
    const status = info?.status ?? "missing";
    const drop = async (why: string) => {
      l.warn(`removed at start: ${why}`);
      await driver.remove(record.runtimeId).catch(() => undefined);
      await store.deleteSandbox(record.id);
    };
    switch (record.state) {
      case "starting":
      case "killing":
      case "error":
        return drop(`it was ${record.state} when the server stopped`);
      case "running":
      case "resuming":
        if (info?.status === "running") {
          const address = info.address;
          if (record.state === "resuming")
            await agents.init(address, initOf(record), record.accessToken ?? undefined);
          const adopted = await store.updateSandbox(record.id, { state: "running", address });
          setRunning(adopted);
          l.info("adopted a running sandbox");
          return;
        }
        if (status === "paused" || status === "checkpointed" || status === "halted")
          return adoptPaused(record, status);
        return drop(`its sandbox is ${status}`);
      case "pausing":
      case "paused":
        if (status === "paused" || status === "checkpointed" || status === "halted")
          return adoptPaused(record, status);
        if (status === "running" && record.state === "pausing") {
          // The pause never happened: it is still running, so it keeps running.
          const adopted = await store.updateSandbox(record.id, { state: "running" });
          setRunning(adopted);
          return;
        }
        return drop(`its sandbox is ${status}`);
    }
  }

  return {
    create,

    get: owned,

    async reapDead(id) {
      await serialized(id, async () => {
        const record = await store.getSandbox(id);
        if (record?.state !== "running") return;
        const info = await driver.get(record.runtimeId).catch(() => undefined);
        if (info?.status === "running") return;
        log(id).warn(
          `its processes ended outside the server (runtime reads ${info?.status ?? "missing"}): removed`,
        );
        await killLocked(record);
      });
    },

    async kill(teamId, id) {
      const record = await owned(teamId, id);
      await serialized(record.id, async () => {
        const current = await store.getSandbox(record.id);
        if (!current || current.state === "killing") return;
        await event(record.id, "kill requested");
        await killLocked(current);
      });
    },

    async setTimeout(teamId, id, seconds) {
      if (!Number.isInteger(seconds))
        throw new SandpitError("invalid_argument", "timeout must be an integer");
      if (seconds > options.maxTimeoutSec) {
        throw new SandpitError(
          "invalid_argument",
          `timeout must be at most ${options.maxTimeoutSec} seconds`,
        );
      }
      const record = await owned(teamId, id);
      if (record.state !== "running") throw conflict(record);
      const endAt = Date.now() + Math.max(0, seconds) * 1000;
      const updated = await store.updateSandbox(record.id, { endAt }, { expectState: "running" });
      timers.set(record.id, updated.endAt);
    },

    async refresh(teamId, id, seconds) {
      if (!Number.isInteger(seconds) || seconds < 0 || seconds > 3600) {
        throw new SandpitError("invalid_argument", "duration must be an integer from 0 to 3600");
      }
      const record = await owned(teamId, id);
      if (record.state !== "running") throw conflict(record);
      const endAt = Math.max(record.endAt, Date.now() + Math.max(15, seconds) * 1000);
      const updated = await store.updateSandbox(record.id, { endAt }, { expectState: "running" });
      timers.set(record.id, updated.endAt);
    },

    async connect(teamId, id, timeoutSec) {
      checkTimeout(timeoutSec);
      return serialized(parseSandboxId(id), async () => {
        const record = await owned(teamId, id);
        if (record.state === "running") {
          const wanted = Date.now() + timeoutSec * 1000;
          if (wanted <= record.endAt) return { record, resumed: false };
          const updated = await store.updateSandbox(record.id, { endAt: wanted }, { expectState: "running" });
          timers.set(record.id, updated.endAt);
          return { record: updated, resumed: false };
        }
        if (record.state === "paused")
          return { record: await resumeLocked(record, timeoutSec), resumed: true };
        throw conflict(record);
      });
    },

    async resume(teamId, id, timeoutSec, autoPause) {
      checkTimeout(timeoutSec);
      return serialized(parseSandboxId(id), async () => {
        const record = await owned(teamId, id);
        if (record.state === "running") {
          throw new SandpitError("already_exists", `sandbox '${record.id}' is already running`);
        }
        if (record.state !== "paused") throw conflict(record);
        return resumeLocked(record, timeoutSec, autoPause);
      });
    },

    async pause(teamId, id, pauseOptions = {}) {
      const keepMemory = pauseOptions.memory ?? true;
      await serialized(parseSandboxId(id), async () => {
        const record = await owned(teamId, id);
        if (record.state === "paused") {
          throw new SandpitError("aborted", `sandbox '${record.id}' is already paused`);
        }
        if (record.state !== "running") throw conflict(record);
        void event(record.id, `pause requested${keepMemory ? "" : " (files only)"}`);
        await pauseLocked(record, keepMemory);
      });
      return { memory: !keepMemory ? "none" : driver.canCheckpoint ? "disk" : "ram" };
    },

    configurePause(changes) {
      policy = { ...policy, ...changes };
      // Frozen sandboxes follow the new grace period from their own pause time.
      for (const [id, pausedAt] of warm) coldTimers.set(id, pausedAt + policy.warmMs);
    },

    route(id) {
      return live.get(id) ?? { state: "gone" };
    },

    async resumeForTraffic(id) {
      const record = await store.getSandbox(id);
      if (!record) throw new SandpitError("not_found", `sandbox '${id}' not found`);
      const resumed = await serialized(id, async () => {
        const current = await store.getSandbox(id);
        if (!current) throw new SandpitError("not_found", `sandbox '${id}' not found`);
        if (current.state === "running") return current;
        if (current.state !== "paused" || !current.autoResume) throw conflict(current);
        await event(id, "resuming for incoming traffic");
        return resumeLocked(current, AUTO_RESUME_TIMEOUT_SEC);
      });
      if (!resumed.address) throw new SandpitError("internal", `sandbox '${id}' has no address`);
      return resumed.address;
    },

    *tokens() {
      for (const [id, route] of live) {
        if (route.state !== "running") continue;
        const token = tokens.get(id);
        if (token) yield [id, token];
      }
    },

    async reconcile() {
      const records = await store.listAllSandboxes();
      for (const record of records) {
        try {
          await reconcileOne(record);
        } catch (e) {
          log(record.id).error({ err: e }, "reconciling failed");
        }
      }
      const keep = new Set((await store.listAllSandboxes()).map((r) => r.runtimeId));
      const report = await driver.janitor(keep);
      if (report.removed.length > 0) logger.info({ removed: report.removed }, "janitor removed leftovers");
    },

    close() {
      timers.clear();
      coldTimers.clear();
      clearInterval(memoryWatch);
    },
  };
}
