// The in-sandbox agent as the SDK reaches it: a Connect transport for the RPC services and plain
// fetch for `/files` and `/health`, both with the routing and auth headers of spec §1/§2.

import type { Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AGENT_PORT } from "@sandpit/protocol";
import { agentUrlOf, type ConnectionConfig, directAgentUrlOf, USER_AGENT } from "./connection-config.js";
import type { SandboxError } from "./errors.js";
import { envdHttpError, fetchError, isConnectionDropped, killedInFlightError, rpcError } from "./errors.js";
import { compareVersions } from "./version.js";

/** The agent's version from which it picks the default user itself (spec §8). */
const ENVD_DEFAULT_USER = "0.4.0";
/** Time limit of the health probe after a dropped connection. */
const HEALTH_TIMEOUT_MS = 5_000;

/** Header asking the agent for keepalive events on streams (seconds). */
export const KEEPALIVE_HEADERS: Readonly<Record<string, string>> = { "Keepalive-Ping-Interval": "50" };

/** What identifies one sandbox's agent. */
export interface EnvdTarget {
  config: ConnectionConfig;
  sandboxId: string;
  sandboxDomain: string;
  envdVersion: string;
  accessToken: string | undefined;
}

/** Access to one sandbox's agent. */
export interface EnvdClient {
  readonly target: EnvdTarget;
  /** Connect transport of the agent's RPC services. */
  readonly transport: Transport;
  /** Base URL of RPC and `/files` requests. */
  readonly baseUrl: string;
  /** Base URL for download/upload URLs handed out to users. */
  readonly directUrl: string;
  /** Headers of every request to the agent (User-Agent, routing, access token). */
  readonly headers: Readonly<Record<string, string>>;
  /** `Authorization` header selecting `user` (spec §6.2); empty for the agent's default user. */
  authHeader(user: string | undefined): Record<string, string>;
  /** The user to name in `/files` requests (the agent's default unless it is too old to have one). */
  fileUser(user: string | undefined): string | undefined;
  /** Fetches an agent HTTP path; transport failures become errors of the family. */
  fetch(path: string, init: RequestInit & { duplex?: "half" }): Promise<Response>;
  /** `/health` answers: true running, false gone (502), undefined when it cannot tell. */
  checkHealth(): Promise<boolean | undefined>;
  /** Maps an RPC failure, asking `/health` first when the connection was cut (spec §4). */
  rpcError(err: unknown, files?: boolean): Promise<SandboxError>;
  /** Maps a non-2xx answer of an agent HTTP endpoint, reading its `{code, message}` body. */
  httpError(res: Response, files?: boolean): Promise<SandboxError>;
}

/** Creates the client of one sandbox's agent. */
export function createEnvdClient(target: EnvdTarget): EnvdClient {
  const { config, sandboxId, sandboxDomain, accessToken } = target;
  const baseUrl = agentUrlOf(config, sandboxId, sandboxDomain);
  const directUrl = directAgentUrlOf(config, sandboxId, sandboxDomain);
  const headers: Record<string, string> = {
    "User-Agent": USER_AGENT,
    "E2b-Sandbox-Id": sandboxId,
    "E2b-Sandbox-Port": String(AGENT_PORT),
  };
  if (accessToken) headers["X-Access-Token"] = accessToken;
  const frozenHeaders = Object.freeze({ ...headers });

  const transport = createConnectTransport({
    baseUrl,
    useBinaryFormat: false,
    fetch: (input, init) => {
      const merged = new Headers({ "User-Agent": USER_AGENT });
      new Headers(init?.headers).forEach((value, key) => {
        merged.append(key, value);
      });
      merged.append("E2b-Sandbox-Id", sandboxId);
      merged.append("E2b-Sandbox-Port", String(AGENT_PORT));
      if (accessToken) merged.append("X-Access-Token", accessToken);
      // connect-web asks for redirect "error", which some edge runtimes do not implement.
      return fetch(input, { ...init, headers: merged, redirect: "follow" });
    },
  });

  const root = baseUrl.replace(/\/+$/, "");
  const client: EnvdClient = {
    target,
    transport,
    baseUrl,
    directUrl,
    headers: frozenHeaders,
    authHeader(user): Record<string, string> {
      const name = user ?? (compareVersions(target.envdVersion, ENVD_DEFAULT_USER) < 0 ? "user" : undefined);
      if (!name) return {};
      return { Authorization: `Basic ${btoa(`${name}:`)}` };
    },
    fileUser(user) {
      return user ?? (compareVersions(target.envdVersion, ENVD_DEFAULT_USER) < 0 ? "user" : undefined);
    },
    async fetch(path, init) {
      const all = new Headers(frozenHeaders);
      new Headers(init.headers).forEach((value, key) => {
        all.set(key, value);
      });
      try {
        return await fetch(`${root}${path}`, { redirect: "follow", ...init, headers: all });
      } catch (err) {
        if (isConnectionDropped(err) && (await client.checkHealth()) === false) {
          throw killedInFlightError(err instanceof Error ? err.message : String(err), err);
        }
        throw fetchError(err, `${init.method ?? "GET"} ${path}`);
      }
    },
    async checkHealth() {
      try {
        const res = await fetch(`${root}/health`, {
          headers: frozenHeaders,
          signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
        });
        await res.body?.cancel().catch(() => {});
        if (res.status === 502) return false;
        return res.ok ? true : undefined;
      } catch {
        return undefined;
      }
    },
    async rpcError(err, files = false) {
      if (isConnectionDropped(err) && (await client.checkHealth()) === false) {
        return killedInFlightError(err instanceof Error ? err.message : String(err), err);
      }
      return rpcError(err, files);
    },
    async httpError(res, files = false) {
      let message = "";
      const text = await res.text().catch(() => "");
      try {
        const body = JSON.parse(text) as { message?: unknown };
        message = typeof body.message === "string" ? body.message : text;
      } catch {
        message = text;
      }
      return envdHttpError(res.status, message || res.statusText, files);
    },
  };
  return client;
}
