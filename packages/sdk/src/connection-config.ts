// Where the API and the sandboxes are, and with which key: options first, then the environment
// variables the official SDK reads (spec §1), then Sandpit's own, then E2B's defaults.
import { AGENT_PORT } from "@sandpit/protocol";

/** Options every call accepts to say where and how to connect. */
export interface ConnectionOptions {
  /** API key; default `E2B_API_KEY`, then `SANDPIT_API_KEY`. */
  apiKey?: string;
  /** Base URL of the REST API; default `E2B_API_URL`, then `SANDPIT_URL`, then `https://api.<domain>`. */
  apiUrl?: string;
  /** One URL for all sandbox traffic; default `E2B_SANDBOX_URL`, then `SANDPIT_URL`. */
  sandboxUrl?: string;
  /** Base domain of sandbox hosts; default `E2B_DOMAIN`, then `e2b.app`. */
  domain?: string;
  /** Talk to an agent on localhost without the API; default `E2B_DEBUG`. */
  debug?: boolean;
  /** Time limit of each request in ms (a stream's handshake only); default 60 000, 0 for none. */
  requestTimeoutMs?: number;
  /** Cancels the request. */
  signal?: AbortSignal;
  /** Extra headers for REST API requests. */
  apiHeaders?: Record<string, string>;
}

/** Resolved connection settings; frozen. */
export interface ConnectionConfig {
  /** API key, if any was found. */
  readonly apiKey: string | undefined;
  /** Base URL of the REST API. */
  readonly apiUrl: string;
  /** One URL for all sandbox traffic (routing by headers), or undefined for host-based routing. */
  readonly sandboxUrl: string | undefined;
  /** Base domain of sandbox hosts. */
  readonly domain: string;
  /** Debug mode: no API calls for create/connect, the agent on localhost. */
  readonly debug: boolean;
  /** Time limit of each request in ms; 0 for none. */
  readonly requestTimeoutMs: number;
  /** Extra headers of REST API requests. */
  readonly apiHeaders: Readonly<Record<string, string>>;
}

/** Default time limit of a request. */
export const REQUEST_TIMEOUT_MS = 60_000;
/** Default lifetime of a sandbox. */
export const DEFAULT_SANDBOX_TIMEOUT_MS = 300_000;
/** User-Agent of every request this SDK makes. */
export const USER_AGENT = "sandpit-js-sdk/0.1.0";

type Env = Readonly<Record<string, string | undefined>>;

/** The process environment where there is one (Node, Bun, Deno with compat), else nothing. */
function defaultEnv(): Env {
  const proc = (globalThis as { process?: { env?: Env } }).process;
  return proc?.env ?? {};
}

/** Resolves options against the environment; `env` is injectable for tests. */
export function resolveConnectionConfig(
  options: ConnectionOptions = {},
  env: Env = defaultEnv(),
): ConnectionConfig {
  const debug = options.debug ?? (env.E2B_DEBUG || "false").toLowerCase() === "true";
  const domain = options.domain || env.E2B_DOMAIN || "e2b.app";
  const apiUrl =
    options.apiUrl ||
    env.E2B_API_URL ||
    env.SANDPIT_URL ||
    (debug ? "http://localhost:3000" : `https://api.${domain}`);
  return Object.freeze({
    apiKey: options.apiKey || env.E2B_API_KEY || env.SANDPIT_API_KEY || undefined,
    apiUrl,
    sandboxUrl: options.sandboxUrl || env.E2B_SANDBOX_URL || env.SANDPIT_URL || undefined,
    domain,
    debug,
    requestTimeoutMs: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    apiHeaders: Object.freeze({ ...options.apiHeaders }),
  });
}

/** Connection options of a config, to merge per-call options over. */
export function optionsOf(config: ConnectionConfig): ConnectionOptions {
  return {
    apiKey: config.apiKey,
    apiUrl: config.apiUrl,
    sandboxUrl: config.sandboxUrl,
    domain: config.domain,
    debug: config.debug,
    requestTimeoutMs: config.requestTimeoutMs,
    apiHeaders: { ...config.apiHeaders },
  };
}

/** Per-call options over bound ones; an explicit `undefined` does not clear a bound value. */
export function mergeOptions<T extends ConnectionOptions>(bound: ConnectionOptions, call?: T): T {
  const merged: Record<string, unknown> = { ...bound };
  for (const [key, value] of Object.entries(call ?? {})) {
    if (value !== undefined) merged[key] = value;
  }
  return merged as T;
}

/** `host:port` of a port of a sandbox: `<port>-<id>.<domain>` (spec §1), `localhost:<port>` in debug. */
export function hostOf(
  config: ConnectionConfig,
  sandboxId: string,
  port: number,
  sandboxDomain: string,
): string {
  if (config.debug) return `localhost:${port}`;
  return `${port}-${sandboxId}.${sandboxDomain}`;
}

const SHARED_HOST_DOMAINS = ["e2b.app", "e2b.dev", "e2b.pro", "e2b-staging.dev"];

/** Base URL of a sandbox's agent for RPC and `/files` (spec §1, in precedence order). */
export function agentUrlOf(config: ConnectionConfig, sandboxId: string, sandboxDomain: string): string {
  if (config.sandboxUrl) return config.sandboxUrl;
  if (config.debug) return `http://${hostOf(config, sandboxId, AGENT_PORT, sandboxDomain)}`;
  const isBrowser = typeof (globalThis as { window?: unknown }).window !== "undefined";
  if (!isBrowser && SHARED_HOST_DOMAINS.includes(sandboxDomain)) return `https://sandbox.${sandboxDomain}`;
  return `https://${hostOf(config, sandboxId, AGENT_PORT, sandboxDomain)}`;
}

/** Base URL of the agent used in download/upload URLs handed to users (spec §1 "direct" URL). */
export function directAgentUrlOf(config: ConnectionConfig, sandboxId: string, sandboxDomain: string): string {
  if (config.sandboxUrl) return config.sandboxUrl;
  const scheme = config.debug ? "http" : "https";
  return `${scheme}://${hostOf(config, sandboxId, AGENT_PORT, sandboxDomain)}`;
}

/**
 * A signal that fires on the user's signal or after `timeoutMs` (0 or undefined: never); `dispose`
 * clears the timer so a finished request leaves nothing behind.
 */
export function requestSignal(
  timeoutMs: number | undefined,
  signal: AbortSignal | undefined,
): { signal: AbortSignal | undefined; dispose: () => void } {
  if (!timeoutMs) return { signal, dispose: () => {} };
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new DOMException(`Request timed out after ${timeoutMs}ms`, "TimeoutError"));
  }, timeoutMs);
  const onAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    },
  };
}

/** Signals of a streaming call: the handshake is bounded, the stream itself only by the user's signal. */
export interface StreamSignal {
  /** Aborts the stream. */
  readonly signal: AbortSignal;
  /** Ends the handshake's time limit once the first message is in. */
  clearStartTimeout(): void;
  /** Aborts the stream and detaches from the user's signal; idempotent. */
  cleanup(): void;
}

/** A controller for a streaming call (command, watch, download stream). */
export function streamSignal(timeoutMs: number | undefined, signal: AbortSignal | undefined): StreamSignal {
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener("abort", onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined = timeoutMs
    ? setTimeout(() => {
        controller.abort(
          new DOMException(`Request handshake timed out after ${timeoutMs}ms`, "TimeoutError"),
        );
      }, timeoutMs)
    : undefined;
  const clearStartTimeout = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  let done = false;
  return {
    signal: controller.signal,
    clearStartTimeout,
    cleanup() {
      if (done) return;
      done = true;
      signal?.removeEventListener("abort", onAbort);
      clearStartTimeout();
      controller.abort();
    },
  };
}
