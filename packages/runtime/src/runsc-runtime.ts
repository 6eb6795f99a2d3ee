import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { SandpitError } from "@sandpit/protocol";
import { detachedCommand } from "./detached-command.js";
import { hostCommand } from "./host-command.js";
import type { ExecOptions, OciContainer, OciRuntime } from "./oci-runtime.js";

/** Options of {@link createRunscRuntime}. */
export interface RunscOptions {
  stateRoot: string;
  /** gVisor platform: `systrap` or `ptrace` (no KVM on these hosts). */
  platform: string;
}

// runsc refuses its own netstack when /proc/sys/net/core/rmem_default exists, which on these
// kernels it does in every namespace; hiding /proc/sys/net in a private mount namespace lets
// it take over the sandbox's namespace (fixed upstream after 2024-08).
export const NETSTACK_TRICK =
  'mount --make-rprivate / && mount -t tmpfs none /proc/sys/net && exec "$0" "$@"';

/** runsc (gVisor): a user-space kernel between the sandbox and the host, with checkpoint/restore. */
export function createRunscRuntime(options: RunscOptions): OciRuntime {
  const global = [
    "--root",
    options.stateRoot,
    `--platform=${options.platform}`,
    "--network=sandbox",
    "--overlay2=none",
    // A checkpoint resets the sandbox's TCP connections to the outside (their peers see a reset,
    // the sandbox's own end reads ECONNABORTED after the restore) instead of being refused by
    // any one of them: a dev server's kept-alive client, a download, a connection closing or in
    // TIME_WAIT. Connections within the sandbox (loopback) are saved whole either way.
    "--net-disconnect-ok",
  ];
  const runsc = (args: string[], allowFailure = false) =>
    hostCommand("runsc", [...global, ...args], { allowFailure, timeoutMs: 120_000 });
  const exec = (id: string, argv: readonly string[], o: ExecOptions = {}) => {
    const args = ["exec", "-user", `${o.uid ?? 0}:${o.gid ?? 0}`];
    if (o.cwd) args.push("-cwd", o.cwd);
    for (const [k, v] of Object.entries(o.env ?? {})) args.push("-env", `${k}=${v}`);
    return hostCommand("runsc", [...global, ...args, id, ...argv], {
      allowFailure: true,
      timeoutMs: o.timeoutMs,
    });
  };
  const underTrick = (args: string[], logFile: string) =>
    detachedCommand("unshare", ["-m", "sh", "-c", NETSTACK_TRICK, "runsc", ...global, ...args], logFile);
  return {
    name: "runsc",
    network: "before",
    flavour: "runsc",
    async create(id, bundle, logFile) {
      const pidFile = join(bundle, "init.pid");
      await underTrick(["run", "-detach", "-bundle", bundle, "-pid-file", pidFile, id], logFile);
      return Number(readFileSync(pidFile, "utf8"));
    },
    async start() {
      // `run -detach` already started it.
    },
    exec,
    async delete(id) {
      await runsc(["delete", "-force", id], true);
    },
    async list() {
      // Read from the state files, not `runsc list`: that asks each sandbox for its state and
      // waits 30 s for one whose processes are frozen (a warm-paused sandbox).
      let names: string[];
      try {
        names = readdirSync(options.stateRoot);
      } catch {
        return [];
      }
      const containers: OciContainer[] = [];
      for (const name of names) {
        if (!/^[^_]+_sandbox:[^/]+\.state$/.test(name)) continue;
        try {
          const state = readState(join(options.stateRoot, name));
          containers.push({ id: state.id, pid: state.sandbox?.pid ?? 0, status: state.status ?? "unknown" });
        } catch {
          // Written or removed right now by a runsc command: the next look sees it whole.
        }
      }
      return containers;
    },
    async pause(id) {
      await runsc(["pause", id]);
    },
    async resume(id) {
      await runsc(["resume", id]);
    },
    async checkpoint(id, imageDir) {
      // A connection still in its handshake is the one kind gVisor cannot drop at a save (this
      // release fails on it), and a sandbox booted before connections were dropped (adopted
      // after an upgrade) cannot save any; those with a socket are looked for first, since a
      // failed save leaves the sandbox's connections unable to take packets for a while.
      const sockets = await exec(id, ["cat", "/proc/net/tcp", "/proc/net/tcp6"]);
      const drops = bootedToDropConnections(options.stateRoot, id);
      const blocking = connectionsBlockingSave(sockets.stdout, drops);
      if (sockets.code !== 0) {
        throw new SandpitError(
          "failed_precondition",
          `cannot inspect sandbox '${id}' before a checkpoint: ${sockets.stderr.trim()}`,
        );
      }
      if (blocking > 0) {
        const which = drops ? "still opening" : "open";
        throw new SandpitError(
          "failed_precondition",
          `sandbox '${id}' has ${blocking} TCP connection(s) ${which}; gVisor cannot save them`,
        );
      }
      // One a listener is still accepting has no socket and is not listed, and a failed save
      // ends the sandbox unless it was asked to leave it running. Left running, a save that
      // worked would let the sandbox go on past its image (files written after it), so it is
      // paused first: then it stays stopped until deleted, and a failure leaves it paused and whole.
      await runsc(["pause", id]);
      try {
        // Uncompressed: a restore then reads pages instead of inflating them (measured on an
        // idle sandbox: restore 180 ms against 265–285, for an image of ~25 MiB against ~5).
        await runsc(["checkpoint", "-compression", "none", "-leave-running", "-image-path", imageDir, id]);
      } catch (e) {
        await runsc(["resume", id], true);
        const message = e instanceof Error ? e.message : String(e);
        const rejected = /save rejected[^:]*: ([^\n]*?):?\n/.exec(message);
        if (rejected) {
          throw new SandpitError(
            "failed_precondition",
            `sandbox '${id}' has a TCP connection gVisor cannot save: ${rejected[1]}`,
          );
        }
        // Dropping a connection in its handshake (one no socket lists: a listener's) crashes
        // this release's save; the sandbox goes on, and a later try finds the handshake over.
        if (/resetConnectionLocked/.test(message)) {
          throw new SandpitError(
            "failed_precondition",
            `sandbox '${id}' has a TCP connection still opening; gVisor cannot save it`,
          );
        }
        throw e;
      }
      await runsc(["delete", "-force", id], true);
    },
    async restore(id, bundle, imageDir, logFile) {
      const pidFile = join(bundle, "init.pid");
      await underTrick(
        ["restore", "-detach", "-image-path", imageDir, "-bundle", bundle, "-pid-file", pidFile, id],
        logFile,
      );
      return Number(readFileSync(pidFile, "utf8"));
    },
  };
}

/**
 * TCP sockets of /proc/net/tcp{,6} text that stop a save: those in a handshake, SYN_SENT (02)
 * or SYN_RECV (03); without `--net-disconnect-ok`, any but listening (0A) or closed (07).
 */
export function connectionsBlockingSave(procNetTcp: string, dropsConnections: boolean): number {
  let count = 0;
  for (const line of procNetTcp.split("\n")) {
    const state = line.trim().split(/\s+/)[3];
    if (!state || !/^[0-9A-F]{2}$/.test(state)) continue;
    if (state === "02" || state === "03" || (!dropsConnections && state !== "0A" && state !== "07")) count++;
  }
  return count;
}

/** Whether the sandbox's kernel runs with `--net-disconnect-ok` (its boot command says so). */
function bootedToDropConnections(stateRoot: string, id: string): boolean {
  try {
    const state = readState(join(stateRoot, `${id}_sandbox:${id}.state`));
    const argv = readFileSync(`/proc/${state.sandbox?.pid}/cmdline`, "utf8").split("\0");
    return argv.includes("--net-disconnect-ok=true");
  } catch {
    return false;
  }
}

/** What runsc's state file of a container says of it (the parts read here). */
function readState(path: string): { id: string; status?: string; sandbox?: { pid?: number } } {
  return JSON.parse(readFileSync(path, "utf8")) as {
    id: string;
    status?: string;
    sandbox?: { pid?: number };
  };
}
