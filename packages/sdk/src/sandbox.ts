// The Sandbox: lifecycle calls on the REST API (spec §3) and the per-sandbox modules that talk to the
// agent inside it. Static methods act on an id; instance methods on the sandbox they belong to.
import type { ListedSandbox, SandboxCreated, SandboxDetail, SandboxMetric } from "@sandpit/protocol";
import { createApiClient } from "./api-client.js";
import { type Commands, createCommands } from "./commands/commands.js";
import {
  type ConnectionConfig,
  type ConnectionOptions,
  DEFAULT_SANDBOX_TIMEOUT_MS,
  hostOf,
  mergeOptions,
  optionsOf,
  requestSignal,
  resolveConnectionConfig,
} from "./connection-config.js";
import { createEnvdClient, type EnvdClient } from "./envd-client.js";
import { InvalidArgumentError, SandboxNotFoundError, TemplateError } from "./errors.js";
import { createFilesystem, type Filesystem } from "./files/filesystem.js";
import { Paginator } from "./paginator.js";
import { createPty, type Pty } from "./pty.js";
import { signFileUrl } from "./signature.js";
import { compareVersions } from "./version.js";

/** The template a sandbox starts from unless told otherwise. */
const DEFAULT_TEMPLATE = "base";
/** What debug mode assumes of the agent (spec §1.2). */
const DEBUG_ENVD_VERSION = "99.99.99";

/** Options of `Sandbox.create`. */
export interface SandboxOptions extends ConnectionOptions {
  /** Template name or id (default `base`); the first argument of `create` wins. */
  template?: string;
  /** Lifetime in ms, then it is killed (or paused with `autoPause`); default 300 000. */
  timeoutMs?: number;
  /** Your labels; returned by getInfo and matched by list. */
  metadata?: Record<string, string>;
  /** Environment variables of every process in the sandbox. */
  envs?: Record<string, string>;
  /** Require the sandbox's access token on every agent call (default true). */
  secure?: boolean;
  /** Allow traffic to the internet (default true). */
  allowInternetAccess?: boolean;
  /** Pause instead of kill at the end of the timeout. */
  autoPause?: boolean;
  /**
   * `allowPublicTraffic: false`: the sandbox's own ports answer only requests carrying its
   * `trafficAccessToken` in the `e2b-traffic-access-token` header (the SDK's calls are not
   * affected). Needs `secure`.
   */
  network?: { allowPublicTraffic?: boolean };
}

/** Options of `Sandbox.connect`. */
export interface SandboxConnectOptions extends ConnectionOptions {
  /** New lifetime in ms; a running sandbox's end only ever moves later (default 300 000). */
  timeoutMs?: number;
}

/** Options of `pause`. */
export interface SandboxPauseOptions extends ConnectionOptions {
  /** Keep memory (default true); false keeps only the filesystem. */
  keepMemory?: boolean;
}

/** Options of `getMetrics`. */
export interface SandboxMetricsOptions extends ConnectionOptions {
  /** Start of the window; default the sandbox's start. */
  start?: Date;
  /** End of the window; default now. */
  end?: Date;
}

/** State of a sandbox. */
export type SandboxState = "running" | "paused";

/** Options of `Sandbox.list`. */
export interface SandboxListOptions extends Omit<ConnectionOptions, "signal"> {
  /** Filters, combined with AND. */
  query?: {
    /** Exact matches of metadata. */
    metadata?: Record<string, string>;
    /** States to list (default both). */
    state?: SandboxState[];
  };
  /** Newest (`desc`, default) or oldest first. */
  order?: "asc" | "desc";
  /** Page size (1–100, default 100). */
  limit?: number;
  /** Token of the page to start at. */
  nextToken?: string;
}

/** Options of `downloadUrl` / `uploadUrl`. */
export interface SandboxUrlOptions {
  /** Seconds until a signed URL expires (secure sandboxes only). */
  useSignatureExpiration?: number;
  /** User of the file operation. */
  user?: string;
}

/** What the API says about a sandbox. */
export interface SandboxInfo {
  /** Sandbox id. */
  sandboxId: string;
  /** Template id. */
  templateId: string;
  /** Template name. */
  name?: string;
  /** Metadata given at create. */
  metadata: Record<string, string>;
  /** Start time. */
  startedAt: Date;
  /** When it will be killed or paused. */
  endAt: Date;
  /** Running or paused. */
  state: SandboxState;
  /** CPUs. */
  cpuCount: number;
  /** Memory in MiB. */
  memoryMB: number;
  /** Disk in MiB. */
  diskSizeMB: number;
  /** The agent's version. */
  envdVersion: string;
  /** The create flag, when it was given. */
  allowInternetAccess?: boolean;
  /** What happens at the end of the timeout. */
  lifecycle?: { onTimeout: "kill" | "pause"; autoResume: boolean };
  /** Domain of the sandbox's hosts. */
  sandboxDomain?: string;
}

/** One resource sample of a sandbox. */
export interface SandboxMetrics {
  /** When it was taken. */
  timestamp: Date;
  /** CPU use, percent of all the sandbox's CPUs. */
  cpuUsedPct: number;
  /** CPUs. */
  cpuCount: number;
  /** Memory used, bytes. */
  memUsed: number;
  /** Memory total, bytes. */
  memTotal: number;
  /** Page cache, bytes. */
  memCache: number;
  /** Disk used, bytes. */
  diskUsed: number;
  /** Disk total, bytes. */
  diskTotal: number;
}

interface SandboxParams {
  config: ConnectionConfig;
  sandboxId: string;
  sandboxDomain: string | undefined;
  envdVersion: string;
  accessToken: string | undefined;
  trafficAccessToken?: string | undefined;
}

function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

function infoOf(s: ListedSandbox & Partial<SandboxDetail>): SandboxInfo {
  return {
    sandboxId: s.sandboxID,
    templateId: s.templateID,
    ...(s.alias && { name: s.alias }),
    metadata: s.metadata ?? {},
    startedAt: new Date(s.startedAt),
    endAt: new Date(s.endAt),
    state: s.state,
    cpuCount: s.cpuCount,
    memoryMB: s.memoryMB,
    diskSizeMB: s.diskSizeMB,
    envdVersion: s.envdVersion,
    ...(s.allowInternetAccess != null && { allowInternetAccess: s.allowInternetAccess }),
    ...(s.lifecycle && {
      lifecycle: { onTimeout: s.lifecycle.onTimeout, autoResume: s.lifecycle.autoResume },
    }),
    ...(s.domain && { sandboxDomain: s.domain }),
  };
}

/**
 * An isolated Linux sandbox. Create one with `Sandbox.create()`, reach an existing one with
 * `Sandbox.connect(id)`; then run commands (`commands`), terminals (`pty`) and move files (`files`).
 */
export class Sandbox {
  /** The sandbox's id. */
  readonly sandboxId: string;
  /** Domain of the sandbox's hosts (`<port>-<id>.<domain>`). */
  readonly sandboxDomain: string;
  /** Files of the sandbox. */
  readonly files: Filesystem;
  /** Commands in the sandbox. */
  readonly commands: Commands;
  /** Terminals in the sandbox. */
  readonly pty: Pty;
  /** Token for the sandbox's own ports when they are not public (`network.allowPublicTraffic: false`). */
  readonly trafficAccessToken: string | undefined;
  readonly #config: ConnectionConfig;
  readonly #envd: EnvdClient;
  readonly #accessToken: string | undefined;

  private constructor(params: SandboxParams) {
    this.#config = params.config;
    this.sandboxId = params.sandboxId;
    this.sandboxDomain = params.sandboxDomain || params.config.domain;
    this.#accessToken = params.accessToken;
    this.trafficAccessToken = params.trafficAccessToken;
    this.#envd = createEnvdClient({
      config: params.config,
      sandboxId: params.sandboxId,
      sandboxDomain: this.sandboxDomain,
      envdVersion: params.envdVersion,
      accessToken: params.accessToken,
    });
    this.files = createFilesystem(this.#envd);
    this.commands = createCommands(this.#envd);
    this.pty = createPty(this.#envd);
  }

  /** Creates a sandbox from the `base` template. */
  static create(options?: SandboxOptions): Promise<Sandbox>;
  /** Creates a sandbox from a template. */
  static create(template: string, options?: SandboxOptions): Promise<Sandbox>;
  static async create(
    templateOrOptions?: string | SandboxOptions,
    maybeOptions?: SandboxOptions,
  ): Promise<Sandbox> {
    const options = typeof templateOrOptions === "string" ? maybeOptions : templateOrOptions;
    const template =
      typeof templateOrOptions === "string" ? templateOrOptions : (options?.template ?? DEFAULT_TEMPLATE);
    const config = resolveConnectionConfig(options);
    if (config.debug) {
      return new Sandbox({
        config,
        sandboxId: "debug_sandbox_id",
        sandboxDomain: undefined,
        envdVersion: DEBUG_ENVD_VERSION,
        accessToken: undefined,
      });
    }
    const api = createApiClient(config);
    const res = await api.request<SandboxCreated>({
      method: "POST",
      path: "/sandboxes",
      body: {
        templateID: template,
        metadata: options?.metadata,
        envVars: options?.envs,
        timeout: seconds(options?.timeoutMs ?? DEFAULT_SANDBOX_TIMEOUT_MS),
        secure: options?.secure ?? true,
        allow_internet_access: options?.allowInternetAccess ?? true,
        autoPause: options?.autoPause,
        ...(options?.network && { network: options.network }),
      },
      requestTimeoutMs: options?.requestTimeoutMs,
      signal: options?.signal,
    });
    if (!res.ok || !res.data) throw api.errorOf(res);
    const created = res.data;
    if (compareVersions(created.envdVersion, "0.1.0") < 0) {
      await Sandbox.kill(created.sandboxID, options);
      throw new TemplateError("You need to update the template to use the new SDK.");
    }
    return new Sandbox({
      config,
      sandboxId: created.sandboxID,
      sandboxDomain: created.domain || undefined,
      envdVersion: created.envdVersion,
      accessToken: created.envdAccessToken,
      trafficAccessToken: created.trafficAccessToken ?? undefined,
    });
  }

  /** Connects to a sandbox by id, resuming it when paused. */
  static async connect(sandboxId: string, options?: SandboxConnectOptions): Promise<Sandbox> {
    const config = resolveConnectionConfig(options);
    if (config.debug) {
      return new Sandbox({
        config,
        sandboxId,
        sandboxDomain: undefined,
        envdVersion: DEBUG_ENVD_VERSION,
        accessToken: undefined,
      });
    }
    const created = await connectSandbox(sandboxId, options);
    return new Sandbox({
      config,
      sandboxId,
      sandboxDomain: created.domain || undefined,
      envdVersion: created.envdVersion,
      accessToken: created.envdAccessToken,
      trafficAccessToken: created.trafficAccessToken ?? undefined,
    });
  }

  /** Lists sandboxes page by page (running and paused unless `query.state` says otherwise). */
  static list(options?: SandboxListOptions): Paginator<SandboxInfo, ConnectionOptions> {
    const bound: ConnectionOptions = { ...options };
    return new Paginator<SandboxInfo, ConnectionOptions>(async (token, call) => {
      const merged = mergeOptions(bound, call);
      const config = resolveConnectionConfig(merged);
      const api = createApiClient(config);
      let metadata: string | undefined;
      if (options?.query?.metadata) {
        const pairs = Object.entries(options.query.metadata).map(([k, v]) => [
          encodeURIComponent(k),
          encodeURIComponent(v),
        ]);
        metadata = new URLSearchParams(Object.fromEntries(pairs)).toString();
      }
      const res = await api.request<ListedSandbox[]>({
        method: "GET",
        path: "/v2/sandboxes",
        query: {
          metadata,
          state: options?.query?.state,
          order: options?.order,
          limit: options?.limit,
          nextToken: token,
        },
        requestTimeoutMs: merged.requestTimeoutMs,
        signal: merged.signal,
      });
      if (!res.ok) throw api.errorOf(res);
      return { items: (res.data ?? []).map(infoOf), next: res.headers.get("x-next-token") || undefined };
    }, options?.nextToken);
  }

  /** Kills a sandbox by id; false when there was no such sandbox. */
  static async kill(sandboxId: string, options?: ConnectionOptions): Promise<boolean> {
    const config = resolveConnectionConfig(options);
    if (config.debug) return true;
    const api = createApiClient(config);
    const res = await api.request({
      method: "DELETE",
      path: `/sandboxes/${encodeURIComponent(sandboxId)}`,
      requestTimeoutMs: options?.requestTimeoutMs,
      signal: options?.signal,
    });
    if (res.errorCode === 404) return false;
    if (!res.ok) throw api.errorOf(res);
    return true;
  }

  /** Sets a sandbox's remaining lifetime (longer or shorter). */
  static async setTimeout(sandboxId: string, timeoutMs: number, options?: ConnectionOptions): Promise<void> {
    const config = resolveConnectionConfig(options);
    const api = createApiClient(config);
    const res = await api.request({
      method: "POST",
      path: `/sandboxes/${encodeURIComponent(sandboxId)}/timeout`,
      body: { timeout: seconds(timeoutMs) },
      requestTimeoutMs: options?.requestTimeoutMs,
      signal: options?.signal,
    });
    if (res.errorCode === 404) throw new SandboxNotFoundError(`Sandbox ${sandboxId} not found`);
    if (!res.ok) throw api.errorOf(res);
  }

  /** What the API says about a sandbox. */
  static async getInfo(sandboxId: string, options?: ConnectionOptions): Promise<SandboxInfo> {
    const config = resolveConnectionConfig(options);
    const api = createApiClient(config);
    const res = await api.request<SandboxDetail>({
      method: "GET",
      path: `/sandboxes/${encodeURIComponent(sandboxId)}`,
      requestTimeoutMs: options?.requestTimeoutMs,
      signal: options?.signal,
    });
    if (res.errorCode === 404) throw new SandboxNotFoundError(`Sandbox ${sandboxId} not found`);
    if (!res.ok || !res.data) throw api.errorOf(res);
    return infoOf(res.data);
  }

  /** Resource samples of a sandbox. */
  static async getMetrics(sandboxId: string, options?: SandboxMetricsOptions): Promise<SandboxMetrics[]> {
    const config = resolveConnectionConfig(options);
    if (config.debug) return [];
    const api = createApiClient(config);
    const res = await api.request<SandboxMetric[]>({
      method: "GET",
      path: `/sandboxes/${encodeURIComponent(sandboxId)}/metrics`,
      query: {
        start: options?.start ? Math.round(options.start.getTime() / 1000) : undefined,
        end: options?.end ? Math.round(options.end.getTime() / 1000) : undefined,
      },
      requestTimeoutMs: options?.requestTimeoutMs,
      signal: options?.signal,
    });
    if (res.errorCode === 404) throw new SandboxNotFoundError(`Sandbox ${sandboxId} not found`);
    if (!res.ok) throw api.errorOf(res);
    return (res.data ?? []).map((m) => ({
      timestamp: new Date(m.timestamp),
      cpuUsedPct: m.cpuUsedPct,
      cpuCount: m.cpuCount,
      memUsed: m.memUsed,
      memTotal: m.memTotal,
      memCache: m.memCache,
      diskUsed: m.diskUsed,
      diskTotal: m.diskTotal,
    }));
  }

  /** Pauses a sandbox; false when it was already paused. */
  static async pause(sandboxId: string, options?: SandboxPauseOptions): Promise<boolean> {
    const config = resolveConnectionConfig(options);
    const api = createApiClient(config);
    const res = await api.request({
      method: "POST",
      path: `/sandboxes/${encodeURIComponent(sandboxId)}/pause`,
      body: { memory: options?.keepMemory ?? true },
      requestTimeoutMs: options?.requestTimeoutMs,
      signal: options?.signal,
    });
    if (res.errorCode === 404) throw new SandboxNotFoundError(`Sandbox ${sandboxId} not found`);
    if (res.errorCode === 409) return false;
    if (!res.ok) throw api.errorOf(res);
    return true;
  }

  /** Resumes this sandbox if paused and extends its lifetime (never shortens it). */
  async connect(options?: SandboxConnectOptions): Promise<this> {
    if (this.#config.debug) return this;
    await connectSandbox(this.sandboxId, this.#merge(options));
    return this;
  }

  /** Kills this sandbox; false when it was already gone. */
  async kill(options?: Pick<ConnectionOptions, "requestTimeoutMs" | "signal">): Promise<boolean> {
    if (this.#config.debug) return true;
    return Sandbox.kill(this.sandboxId, this.#merge(options));
  }

  /** Sets this sandbox's remaining lifetime. */
  async setTimeout(
    timeoutMs: number,
    options?: Pick<ConnectionOptions, "requestTimeoutMs" | "signal">,
  ): Promise<void> {
    if (this.#config.debug) return;
    await Sandbox.setTimeout(this.sandboxId, timeoutMs, this.#merge(options));
  }

  /** What the API says about this sandbox. */
  async getInfo(options?: Pick<ConnectionOptions, "requestTimeoutMs" | "signal">): Promise<SandboxInfo> {
    return Sandbox.getInfo(this.sandboxId, this.#merge(options));
  }

  /** Resource samples of this sandbox. */
  async getMetrics(options?: SandboxMetricsOptions): Promise<SandboxMetrics[]> {
    if (compareVersions(this.#envd.target.envdVersion, "0.1.5") < 0) {
      throw new TemplateError("You need to update the template to use the new SDK.");
    }
    return Sandbox.getMetrics(this.sandboxId, this.#merge(options));
  }

  /** Pauses this sandbox; false when it was already paused. */
  async pause(options?: SandboxPauseOptions): Promise<boolean> {
    return Sandbox.pause(this.sandboxId, this.#merge(options));
  }

  /** Whether the sandbox answers: false when the proxy says it is gone (502). */
  async isRunning(options?: Pick<ConnectionOptions, "requestTimeoutMs" | "signal">): Promise<boolean> {
    const { signal, dispose } = requestSignal(
      options?.requestTimeoutMs ?? this.#config.requestTimeoutMs,
      options?.signal,
    );
    try {
      const res = await this.#envd.fetch("/health", { method: "GET", signal });
      if (res.status === 502) {
        await res.body?.cancel().catch(() => {});
        return false;
      }
      if (!res.ok) throw await this.#envd.httpError(res);
      await res.body?.cancel().catch(() => {});
      return true;
    } finally {
      dispose();
    }
  }

  /** `host:port` under which a port of the sandbox is reachable (`<port>-<id>.<domain>`). */
  getHost(port: number): string {
    return hostOf(this.#config, this.sandboxId, port, this.sandboxDomain);
  }

  /** URL to download a file with a plain GET; signed when the sandbox is secure. */
  async downloadUrl(path: string, options?: SandboxUrlOptions): Promise<string> {
    return this.#fileUrl(path, "read", options);
  }

  /** URL to upload a file with a multipart POST; signed when the sandbox is secure. */
  async uploadUrl(path?: string, options?: SandboxUrlOptions): Promise<string> {
    return this.#fileUrl(path ?? "", "write", options);
  }

  async #fileUrl(path: string, operation: "read" | "write", options?: SandboxUrlOptions): Promise<string> {
    if (!this.#accessToken && options?.useSignatureExpiration !== undefined) {
      throw new InvalidArgumentError(
        "Signature expiration can be used only when sandbox is created as secured.",
      );
    }
    const user = this.#envd.fileUser(options?.user);
    const url = new URL("/files", this.#envd.directUrl);
    if (user) url.searchParams.set("username", user);
    if (path) url.searchParams.set("path", path);
    if (this.#accessToken) {
      const sig = await signFileUrl({
        path,
        operation,
        user,
        accessToken: this.#accessToken,
        expirationInSeconds: options?.useSignatureExpiration,
      });
      url.searchParams.set("signature", sig.signature);
      if (sig.expiration) url.searchParams.set("signature_expiration", String(sig.expiration));
    }
    return url.toString();
  }

  #merge<T extends ConnectionOptions>(options?: T): T {
    return mergeOptions(optionsOf(this.#config), options);
  }
}

async function connectSandbox(sandboxId: string, options?: SandboxConnectOptions): Promise<SandboxCreated> {
  const config = resolveConnectionConfig(options);
  const api = createApiClient(config);
  const res = await api.request<SandboxCreated>({
    method: "POST",
    path: `/sandboxes/${encodeURIComponent(sandboxId)}/connect`,
    body: { timeout: seconds(options?.timeoutMs ?? DEFAULT_SANDBOX_TIMEOUT_MS) },
    requestTimeoutMs: options?.requestTimeoutMs,
    signal: options?.signal,
  });
  if (res.errorCode === 404) throw new SandboxNotFoundError(`Paused sandbox ${sandboxId} not found`);
  if (!res.ok || !res.data) throw api.errorOf(res);
  return res.data;
}
