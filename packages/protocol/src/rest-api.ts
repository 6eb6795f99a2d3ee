// The control plane's REST API as the SDKs see it (spec §3.2). Field names are the wire's.

/** Body of every non-2xx answer of the REST API (spec §3.1). */
export interface ApiErrorBody {
  /** The HTTP status again: the SDKs decide "not found" by this field, not by the status. */
  code: number;
  message: string;
}

/** Body of POST /sandboxes. */
export interface NewSandbox {
  templateID: string;
  /** Seconds; the SDKs always send it. */
  timeout?: number;
  metadata?: Record<string, string>;
  envVars?: Record<string, string>;
  secure?: boolean;
  allow_internet_access?: boolean;
  autoPause?: boolean;
  autoPauseMemory?: boolean;
  autoResume?: { enabled: boolean };
  mcp?: Record<string, unknown> | null;
  /** `allowPublicTraffic: false`: the sandbox's ports (not the agent's) need the traffic token. */
  network?: { allowPublicTraffic?: boolean };
}

/** Answer of create, connect and resume. */
export interface SandboxCreated {
  templateID: string;
  sandboxID: string;
  /** Deprecated; a constant. */
  clientID: string;
  envdVersion: string;
  alias?: string;
  envdAccessToken?: string;
  /** Present when the sandbox refuses public traffic: send it as `e2b-traffic-access-token`. */
  trafficAccessToken?: string | null;
  domain?: string | null;
}

/** A sandbox's state as clients see it. */
export type ListedState = "running" | "paused";

/** One item of GET /v2/sandboxes. */
export interface ListedSandbox {
  templateID: string;
  sandboxID: string;
  clientID: string;
  alias?: string;
  /** RFC 3339, UTC, milliseconds. */
  startedAt: string;
  endAt: string;
  cpuCount: number;
  memoryMB: number;
  diskSizeMB: number;
  state: ListedState;
  envdVersion: string;
  metadata?: Record<string, string>;
}

/** Answer of GET /sandboxes/{id}. */
export interface SandboxDetail extends ListedSandbox {
  envdAccessToken?: string;
  allowInternetAccess?: boolean | null;
  domain?: string | null;
  lifecycle?: { autoResume: boolean; onTimeout: "kill" | "pause" };
  network?: { allowPublicTraffic: boolean };
}

/** One sample of GET /sandboxes/{id}/metrics. */
export interface SandboxMetric {
  timestamp: string;
  timestampUnix: number;
  cpuCount: number;
  /** 0–100, of all the sandbox's CPUs together. */
  cpuUsedPct: number;
  memUsed: number;
  memTotal: number;
  memCache: number;
  diskUsed: number;
  diskTotal: number;
}

/** The agent's version the API reports (spec §8): every SDK code path is on from 0.6.4. */
export const ENVD_VERSION = "0.6.13";

/** The deprecated `clientID` field's constant value. */
export const CLIENT_ID = "6532622b";

/** Routing headers of sandbox traffic (spec §1). */
export const SANDBOX_ID_HEADER = "e2b-sandbox-id";
/** Routing header naming the port inside the sandbox (spec §1). */
export const SANDBOX_PORT_HEADER = "e2b-sandbox-port";
/** Carries a sandbox's traffic token to its own ports when they are not public (spec §4). */
export const TRAFFIC_TOKEN_HEADER = "e2b-traffic-access-token";
/**
 * Env vars through which the runtime hands the agent the limits it enforces inside a gVisor
 * sandbox (the host's cannot act on one process there): the process limit and the memory
 * budget in bytes.
 */
export const INSIDE_LIMIT_ENV = { pids: "SANDPIT_PIDS_MAX", memory: "SANDPIT_MEMORY_MAX" } as const;
/**
 * A file the runtime puts in a new gVisor sandbox's /tmp for its boot only, and the agent
 * removes as it starts: gVisor mounts a tmpfs of its own over an empty /tmp, which would put
 * the sandbox's /tmp in its memory (bounded by the memory limit, in every checkpoint, its own
 * mount) instead of on its disk as under runc or in an E2B sandbox.
 */
export const TMP_BOOT_MARKER = "/tmp/.sandpit-boot";
/** Set (`on`) in the agent's environment when a warm pool starts the sandbox ahead of a create. */
export const AGENT_POOLED_ENV = "SANDPIT_AGENT_POOLED";
/** The agent's port inside every sandbox. */
export const AGENT_PORT = 49983;
