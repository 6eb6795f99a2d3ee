import type { HostCommandResult } from "./host-command.js";

/** Resource limits of one sandbox. */
export interface SandboxLimits {
  cpuCount: number;
  memoryMB: number;
  /** Most processes and threads at once; stops fork bombs. */
  pids: number;
  /** Size of the writable layer; 0 = not limited. */
  diskMB: number;
}

/** What the caller decides about a new sandbox. */
export interface SandboxSpec {
  /** `^[a-z0-9]+$`, the sandbox's name forever. */
  id: string;
  template: string;
  /** argv of the sandbox's main process (the agent), run as root under a zombie-reaping init. */
  command: readonly string[];
  env?: Readonly<Record<string, string>>;
  limits?: Partial<SandboxLimits>;
  allowInternetAccess?: boolean;
  /** Host paths bound read-only into the sandbox (the agent and what it needs). */
  binds?: readonly { source: string; target: string }[];
}

/**
 * `running`, `paused` (frozen, memory in RAM), `checkpointed` (memory on disk), `halted` (no
 * processes, only the files kept), or `stopped` (dead).
 */
export type SandboxStatus = "running" | "paused" | "checkpointed" | "halted" | "stopped";

/** A sandbox as the runtime knows it. */
export interface SandboxInfo {
  id: string;
  runtime: string;
  template: string;
  /** Where the host reaches the sandbox. */
  address: string;
  status: SandboxStatus;
  limits: SandboxLimits;
  allowInternetAccess: boolean;
  createdAt: string;
  /** Host directory of the checkpoint image (present or not); where the driver has one. */
  checkpointDir?: string;
  /** Host directory of the writable layer; where the driver has one. */
  layerDir?: string;
}

/** Usage of one sandbox. */
export interface SandboxStats {
  cpuCount: number;
  cpuUsageNs: number;
  memoryBytes: number;
  memoryLimitBytes: number;
  diskUsedBytes: number;
  diskTotalBytes: number;
  pids: number;
}

/** Options of a host-side command run inside a sandbox. */
export interface SandboxExecOptions {
  /** `root` (default) or a user of the sandbox's /etc/passwd, or a numeric uid. */
  user?: string | number;
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  timeoutMs?: number;
}

/** What the janitor removed. */
export interface JanitorReport {
  /** Ids of sandboxes whose leftovers were removed. */
  removed: string[];
}

/**
 * One place sandboxes run (this host, later Kubernetes). Every method that names a sandbox
 * answers `not_found` for an id it does not know.
 */
export interface SandboxDriver {
  readonly name: string;
  /** Whether `checkpoint` can move memory to disk (gVisor); else pause only freezes. */
  readonly canCheckpoint?: boolean;
  /** Creates and starts a sandbox; on failure nothing of it is left. */
  create(spec: SandboxSpec): Promise<SandboxInfo>;
  get(id: string): Promise<SandboxInfo>;
  list(): Promise<SandboxInfo[]>;
  /** Runs a command from the host, bypassing the agent (tests, diagnostics). */
  exec(id: string, argv: readonly string[], options?: SandboxExecOptions): Promise<HostCommandResult>;
  stats(id: string): Promise<SandboxStats>;
  /** Opens or closes the sandbox's way out to the internet (host and other sandboxes stay closed). */
  setInternetAccess(id: string, allow: boolean): Promise<void>;
  /** Freezes every process; memory stays in RAM. */
  pause(id: string): Promise<void>;
  /** Thaws a paused sandbox. */
  resume(id: string): Promise<void>;
  /**
   * Saves memory and processes to disk and frees them (gVisor only). A paused sandbox is
   * thawed for it and frozen again if the save is refused, so a refusal changes nothing.
   */
  checkpoint(id: string): Promise<void>;
  /**
   * Ends every process and frees the sandbox's memory, keeping its files (its writable layer)
   * and its address; a running or paused sandbox may be halted, on every runtime.
   */
  halt(id: string): Promise<void>;
  /**
   * Brings a checkpointed sandbox back under the same id and address, its processes as they
   * were; a halted one boots afresh on its kept files.
   */
  restore(id: string): Promise<SandboxInfo>;
  /** Stops the sandbox and removes every trace of it; unknown ids are fine. */
  remove(id: string): Promise<void>;
  /** Removes whatever belongs to a sandbox not in `keep` (after a crash). */
  janitor(keep: ReadonlySet<string>): Promise<JanitorReport>;
}
