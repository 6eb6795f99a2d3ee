import { randomBytes } from "node:crypto";
import { ENVD_VERSION, SandpitError } from "@sandpit/protocol";
import type { SandboxDriver } from "@sandpit/runtime";
import type { Logger } from "pino";
import { generateAccessToken } from "../auth/api-keys.js";
import type { SandboxRecord, Store } from "../store/index.js";
import type { TemplateCatalog } from "../template-catalog.js";
import type { AgentInit, AgentSandboxes } from "./agent-sandbox.js";
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
  autoResume: boolean;
}

/** Where the proxy sends a sandbox's traffic, decided without a store round trip. */
export type LiveRoute =
  | { state: "running"; address: string }
  | { state: "paused"; autoResume: boolean }
  | { state: "gone" };

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
  pause(teamId: string, id: string): Promise<void>;
  /** Where the proxy sends this sandbox's traffic. */
  route(id: string): LiveRoute;
  /** Resumes a paused sandbox for proxied traffic (auto-resume) and returns its address. */
  resumeForTraffic(id: string): Promise<string>;
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
  /** Cuts every proxied connection of a sandbox (kill and pause). */
  sever(id: string): void;
  /** A new sandbox started running (the metrics sampler takes a first sample). */
  onRunning?(id: string): void;
  /** A create ended: how long it took, whether a warm sandbox served it, whether it worked. */
  onCreateDone?(ms: number, warm: boolean, ok: boolean): void;
}

const DEFAULT_USER = "user";
const DEFAULT_WORKDIR = "/home/user";
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
    log(id)[level](message);
    await store.appendSandboxLog(id, { timestamp: Date.now(), level, message }).catch(() => undefined);
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
      defaultUser: DEFAULT_USER,
      defaultWorkdir: DEFAULT_WORKDIR,
    };
  }

  function setRunning(record: SandboxRecord): void {
    if (!record.address) return;
    live.set(record.id, { state: "running", address: record.address });
    if (record.accessToken) tokens.set(record.id, record.accessToken);
    timers.set(record.id, record.endAt);
  }

  async function onEnd(id: string): Promise<void> {
    try {
      await serialized(id, async () => {
        const record = await store.getSandbox(id);
        if (record?.state !== "running") return;
        // A timer may fire a hair early or a moved end time may race it: trust the record.
        if (record.endAt > Date.now() + 5) {
          timers.set(id, record.endAt);
          return;
        }
        if (record.autoPause) {
          await event(id, "end of life reached: pausing");
          await pauseLocked(record);
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
    live.delete(record.id);
    tokens.delete(record.id);
    options.sever(record.id);
    await driver.remove(record.runtimeId);
    await store.deleteSandbox(record.id);
    log(record.id).info("killed");
  }

  /**
   * Memory to disk where the runtime can (gVisor), else a frozen cgroup with memory kept in
   * RAM: runc cannot checkpoint here, and gVisor cannot save open TCP connections.
   */
  async function saveOrFreeze(runtimeId: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await driver.checkpoint(runtimeId);
      } catch (e) {
        const code = e instanceof SandpitError ? e.code : undefined;
        // Connections just severed need a moment to finish closing inside the sandbox.
        if (code === "failed_precondition" && attempt < 2) {
          await new Promise((r) => setTimeout(r, 150));
          continue;
        }
        if (code !== "unimplemented" && code !== "failed_precondition") throw e;
        logger.child({ runtimeId }).info(`pausing by freezing: ${(e as Error).message}`);
        return driver.pause(runtimeId);
      }
    }
  }

  async function pauseLocked(record: SandboxRecord): Promise<void> {
    await store.updateSandbox(record.id, { state: "pausing" }, { expectState: "running" });
    timers.cancel(record.id);
    live.set(record.id, { state: "paused", autoResume: record.autoResume });
    options.sever(record.id);
    try {
      await saveOrFreeze(record.runtimeId);
    } catch (e) {
      await store.updateSandbox(record.id, { state: "running" });
      setRunning(record);
      throw SandpitError.from(e);
    }
    const now = Date.now();
    await store.updateSandbox(record.id, { state: "paused", pausedAt: now, endAt: now });
    await event(record.id, "paused");
  }

  async function resumeLocked(
    record: SandboxRecord,
    timeoutSec: number,
    autoPause?: boolean,
  ): Promise<SandboxRecord> {
    await store.updateSandbox(record.id, { state: "resuming" }, { expectState: "paused" });
    try {
      let info = await driver.get(record.runtimeId);
      if (info.status === "checkpointed") info = await driver.restore(record.runtimeId);
      else if (info.status === "paused") await driver.resume(record.runtimeId);
      // Restore and thaw keep the sandbox's address.
      const address = info.address;
      await agents.init(address, initOf(record), record.accessToken ?? undefined);
      const updated = await store.updateSandbox(record.id, {
        state: "running",
        address,
        pausedAt: null,
        endAt: Date.now() + timeoutSec * 1000,
        ...(autoPause === undefined ? {} : { autoPause }),
      });
      setRunning(updated);
      await event(record.id, "resumed");
      options.onRunning?.(record.id);
      return updated;
    } catch (e) {
      await store.updateSandbox(record.id, { state: "paused" }).catch(() => undefined);
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
      secure: request.secure,
      allowInternetAccess: request.allowInternetAccess,
      autoPause: request.autoPause,
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
        if (status === "paused" || status === "checkpointed") {
          await store.updateSandbox(record.id, { state: "paused", pausedAt: record.pausedAt ?? Date.now() });
          live.set(record.id, { state: "paused", autoResume: record.autoResume });
          return;
        }
        return drop(`its sandbox is ${status}`);
      case "pausing":
      case "paused":
        if (status === "paused" || status === "checkpointed") {
          await store.updateSandbox(record.id, { state: "paused", pausedAt: record.pausedAt ?? Date.now() });
          live.set(record.id, { state: "paused", autoResume: record.autoResume });
          return;
        }
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

    async pause(teamId, id) {
      await serialized(parseSandboxId(id), async () => {
        const record = await owned(teamId, id);
        if (record.state === "paused") {
          throw new SandpitError("aborted", `sandbox '${record.id}' is already paused`);
        }
        if (record.state !== "running") throw conflict(record);
        await event(record.id, "pause requested");
        await pauseLocked(record);
      });
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
    },
  };
}
