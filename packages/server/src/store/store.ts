/**
 * What the control plane keeps: teams, API keys, sandboxes, metric samples and sandbox logs.
 * Every operation is async so that a networked store (Postgres) can implement the same
 * interface without touching callers. All times are integer epoch milliseconds (UTC); the API
 * layer turns them into RFC 3339 with milliseconds. Absent values are `null`, never `undefined`,
 * so that a patch can clear them and a record survives JSON unchanged.
 */

/** Lifecycle states of a sandbox (ARCHITECTURE.md, "Lifecycle"). */
export const sandboxStates = [
  "starting",
  "running",
  "pausing",
  "paused",
  "resuming",
  "killing",
  "error",
] as const;

/** One lifecycle state of a sandbox; only `running` and `paused` are ever shown to clients. */
export type SandboxState = (typeof sandboxStates)[number];

/**
 * Where a paused sandbox's memory is: frozen in RAM (`warm`), checkpointed to disk (`cold`),
 * or dropped, only its files kept (`files`: resume boots it afresh).
 */
export type PauseTier = (typeof pauseTiers)[number];

/** Every pause tier. */
export const pauseTiers = ["warm", "cold", "files"] as const;

/** The states a client sees in GET /sandboxes/{id} and GET /v2/sandboxes (spec §3.2). */
export type ListedState = "running" | "paused";

/**
 * How internal states appear to clients. A transition is shown as where it is heading: the
 * spec says a pausing sandbox is listed as paused, and by the same rule a resuming one is
 * running (connect waits for it). `starting` is hidden because create has not answered yet;
 * `killing` and `error` are hidden because the client already got, or will get, a 404.
 */
export const listedStateOf: Readonly<Record<SandboxState, ListedState | undefined>> = {
  starting: undefined,
  running: "running",
  pausing: "paused",
  paused: "paused",
  resuming: "running",
  killing: undefined,
  error: undefined,
};

/** Internal states that are listed as the given listed state; the inverse of `listedStateOf`. */
export function statesListedAs(listed: ListedState): SandboxState[] {
  return sandboxStates.filter((state) => listedStateOf[state] === listed);
}

/** Sandbox ids are the public name forever and appear in hostnames, so they stay this plain. */
export const sandboxIdPattern = /^[a-z0-9]+$/;

/** A team: the unit that owns API keys and sandboxes and sees only its own. */
export interface TeamRecord {
  readonly id: string;
  readonly name: string;
  readonly createdAt: number;
}

/** A registered API key, as much of it as is safe to show: the key and its hash stay inside the store. */
export interface ApiKeyRecord {
  readonly id: string;
  readonly teamId: string;
  /** `e2b_` and the first 8 hex digits of the key, for telling keys apart. */
  readonly prefix: string;
  readonly name: string | null;
  readonly createdAt: number;
  /** Updated at most once a minute, so authentication does not write on every request. */
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
}

/** One sandbox as the store keeps it; the API derives Sandbox, SandboxDetail and ListedSandbox from it. */
export interface SandboxRecord {
  /** The public id, `^[a-z0-9]+$`, unchanged across pause and resume. */
  readonly id: string;
  readonly teamId: string;
  readonly templateId: string;
  /** Template name the sandbox was created from, if it has one. */
  readonly alias: string | null;
  readonly state: SandboxState;
  readonly metadata: Readonly<Record<string, string>>;
  readonly envVars: Readonly<Record<string, string>>;
  /** envd access token; present iff the sandbox is secure. Stored in clear: resume sends it to envd again. */
  readonly accessToken: string | null;
  /** Token the proxy asks of traffic to the sandbox's own ports; null when they are public. */
  readonly trafficAccessToken: string | null;
  readonly secure: boolean;
  /** Echo of the create flag; null when the client never gave it. */
  readonly allowInternetAccess: boolean | null;
  readonly autoPause: boolean;
  /** Whether the pause at the end of life keeps memory (else only the files: a cold boot on resume). */
  readonly autoPauseMemory: boolean;
  readonly autoResume: boolean;
  readonly cpuCount: number;
  readonly memoryMB: number;
  readonly diskSizeMB: number;
  readonly envdVersion: string;
  /** Name of the driver the sandbox runs on (e.g. `runsc`, `runc`). */
  readonly runtime: string;
  /** The driver's name for the sandbox: its own id, or the one it had in the warm pool. */
  readonly runtimeId: string;
  /** Where the proxy reaches the sandbox (an IP address); null until known. */
  readonly address: string | null;
  readonly startedAt: number;
  readonly endAt: number;
  readonly pausedAt: number | null;
  /** Paused only: `warm` (frozen, memory in RAM), `cold` (memory on disk) or `files` (no memory). */
  readonly pauseTier: PauseTier | null;
  /** Host directory of the checkpoint image, where the driver keeps one. */
  readonly checkpointPath: string | null;
  /** Host directory of the writable layer, where the driver keeps one. */
  readonly layerPath: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

// Fields a new sandbox may leave out: nullable ones default to null, maps to {}, autoPauseMemory to true.
type DefaultedOnInsert =
  | "alias"
  | "autoPauseMemory"
  | "metadata"
  | "envVars"
  | "accessToken"
  | "trafficAccessToken"
  | "allowInternetAccess"
  | "address"
  | "pausedAt"
  | "pauseTier"
  | "checkpointPath"
  | "layerPath";

/** What `insertSandbox` takes: a record without the store's own timestamps; nullable fields default to null. */
export type NewSandbox = Omit<SandboxRecord, "createdAt" | "updatedAt" | DefaultedOnInsert> &
  Partial<Pick<SandboxRecord, DefaultedOnInsert>>;

/** Fields `updateSandbox` may change; identity (id, team) and the store's timestamps are fixed. */
export type SandboxPatch = Partial<Omit<SandboxRecord, "id" | "teamId" | "createdAt" | "updatedAt">>;

/** Options of `updateSandbox`. */
export interface UpdateSandboxOptions {
  /** Apply the patch only if the sandbox is in (one of) these states; else `failed_precondition`. */
  readonly expectState?: SandboxState | readonly SandboxState[];
}

/** Sort order of a sandbox listing: `desc` is newest first. */
export type ListOrder = "asc" | "desc";

/** Query of `listSandboxes`, i.e. GET /v2/sandboxes (spec §3.3) after the API has parsed it. */
export interface ListSandboxesQuery {
  /** Always required: a team sees only its own sandboxes. */
  readonly teamId: string;
  /** Listed states to include; absent or empty means both. */
  readonly states?: readonly ListedState[];
  /** Every pair must match exactly (AND). */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Matches the template id or the template name (alias). */
  readonly template?: string;
  /** Inclusive lower bound on startedAt in epoch ms; fractions are allowed and compared exactly. */
  readonly startedAfter?: number;
  /** Default `desc`: startedAt descending, id ascending. `asc` is the exact reverse. */
  readonly order?: ListOrder;
  /** 1..100, default 100; anything else is `invalid_argument`. */
  readonly limit?: number;
  /** Opaque token from a previous page's `nextCursor`; one minted for the other order is `invalid_argument`. */
  readonly cursor?: string;
}

/** One page of a sandbox listing. */
export interface SandboxPage {
  readonly items: SandboxRecord[];
  /** Present iff more items follow; the last page has none. */
  readonly nextCursor?: string;
  /** Sandboxes matching the query's filters (not its paging) that are listed as running: X-Total-Running. */
  readonly runningCount: number;
}

/** One resource sample of a sandbox, as the SandboxMetric schema has it (spec §3.2); sizes in bytes. */
export interface MetricSample {
  readonly timestamp: number;
  readonly cpuCount: number;
  /** Overall CPU use, 0–100. */
  readonly cpuUsedPct: number;
  readonly memUsed: number;
  readonly memTotal: number;
  readonly memCache: number;
  readonly diskUsed: number;
  readonly diskTotal: number;
}

/** Levels of a sandbox log line, as E2B's log endpoints report them. */
export type SandboxLogLevel = "debug" | "info" | "warn" | "error";

/** One line of a sandbox's log (what the control plane observed about it). */
export interface SandboxLogLine {
  readonly timestamp: number;
  readonly level: SandboxLogLevel;
  readonly message: string;
}

/** Options of `listSandboxLogs`. */
export interface ListSandboxLogsOptions {
  /** Inclusive lower bound on the timestamp, epoch ms. */
  readonly start?: number;
  /** 1..10000, default 1000. */
  readonly limit?: number;
}

/** The control plane's persistent state. Errors are SandpitErrors; "absent" reads return undefined. */
export interface Store {
  /** Brings the schema up to date; returns the names of the migrations this call applied (none if current). */
  migrate(): Promise<string[]>;
  /** Releases the connection; further calls fail. Safe to call twice. */
  close(): Promise<void>;

  /** Returns the team of this name, creating it if absent (race-free). */
  ensureTeam(name: string): Promise<TeamRecord>;
  /** The team with this id, or undefined. */
  getTeam(id: string): Promise<TeamRecord | undefined>;
  /** The team with this name, or undefined. */
  findTeamByName(name: string): Promise<TeamRecord | undefined>;

  /**
   * Registers a given key for a team. Idempotent for the same team; `already_exists` if another
   * team holds it; `failed_precondition` if it was revoked (revocation is never undone silently).
   */
  addApiKey(teamId: string, key: string, name?: string): Promise<ApiKeyRecord>;
  /** The team a key authenticates, or undefined for unknown, revoked or malformed keys. */
  findTeamByApiKey(key: string): Promise<TeamRecord | undefined>;
  /** Keys of one team, or of all teams, oldest first. */
  listApiKeys(teamId?: string): Promise<ApiKeyRecord[]>;
  /** Revokes a key named by id or display prefix; idempotent; `invalid_argument` if a prefix is ambiguous. */
  revokeApiKey(idOrPrefix: string): Promise<ApiKeyRecord>;

  /** Records a new sandbox; `already_exists` for a taken id, `not_found` for an unknown team. */
  insertSandbox(sandbox: NewSandbox): Promise<SandboxRecord>;
  /** The sandbox with this id (any team, any state), or undefined. */
  getSandbox(id: string): Promise<SandboxRecord | undefined>;
  /**
   * Applies a patch atomically, as a compare-and-set on state when `expectState` is given, so two
   * lifecycle transitions can never both succeed. `not_found` / `failed_precondition` otherwise.
   */
  updateSandbox(id: string, patch: SandboxPatch, options?: UpdateSandboxOptions): Promise<SandboxRecord>;
  /** Removes a sandbox with its metric samples and log lines; false if there was none. */
  deleteSandbox(id: string): Promise<boolean>;
  /** Every sandbox of every team in every state, for reconciling with the runtime at start. */
  listAllSandboxes(): Promise<SandboxRecord[]>;
  /** One page of a team's sandboxes with the v2 list semantics (spec §3.3). */
  listSandboxes(query: ListSandboxesQuery): Promise<SandboxPage>;

  /** Records a sample (replacing one with the same timestamp) and prunes samples past retention. */
  addMetricSample(sandboxId: string, sample: MetricSample): Promise<void>;
  /** Samples with fromMs <= timestamp <= toMs, oldest first. */
  listMetricSamples(sandboxId: string, fromMs: number, toMs: number): Promise<MetricSample[]>;

  /** Appends a log line, dropping the oldest lines beyond the per-sandbox cap. */
  appendSandboxLog(sandboxId: string, line: SandboxLogLine): Promise<void>;
  /** Log lines oldest first, from `start` on. */
  listSandboxLogs(sandboxId: string, options?: ListSandboxLogsOptions): Promise<SandboxLogLine[]>;
}
