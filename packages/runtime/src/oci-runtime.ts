import type { HostCommandResult } from "./host-command.js";

/** How to run a command inside a running sandbox from the host. */
export interface ExecOptions {
  uid?: number;
  gid?: number;
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  timeoutMs?: number;
}

/** A container the runtime's own state knows. */
export interface OciContainer {
  id: string;
  pid: number;
  status: string;
}

/** The OCI runtime under a sandbox: runc or runsc (gVisor). */
export interface OciRuntime {
  readonly name: "runc" | "runsc";
  /**
   * `before`: the runtime joins a network namespace prepared by the host (runsc).
   * `after`: the runtime makes the namespace inside the sandbox's user namespace and the host
   * wires it between create and start (runc cannot otherwise exec into the sandbox).
   */
  readonly network: "before" | "after";
  /** Whether the flavour of config.json is runc's (seccomp, no sysfs) or gVisor's. */
  readonly flavour: "runc" | "runsc";
  /** Creates the container; returns the host pid of its init. runsc also starts it. */
  create(id: string, bundle: string, logFile: string): Promise<number>;
  /** Starts a created container (no-op where create already started it). */
  start(id: string): Promise<void>;
  exec(id: string, argv: readonly string[], options?: ExecOptions): Promise<HostCommandResult>;
  /** Stops and removes the container; an unknown id is not an error. */
  delete(id: string): Promise<void>;
  list(): Promise<OciContainer[]>;
  /** Freezes every process of the sandbox; memory stays where it is. */
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Saves memory and process state to `imageDir` and stops the container. */
  checkpoint(id: string, imageDir: string): Promise<void>;
  /** Starts the container again from `imageDir`; returns the host pid. */
  restore(id: string, bundle: string, imageDir: string, logFile: string): Promise<number>;
}
