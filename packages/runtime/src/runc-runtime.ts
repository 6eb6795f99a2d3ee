import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SandpitError } from "@sandpit/protocol";
import { detachedCommand } from "./detached-command.js";
import { hostCommand } from "./host-command.js";
import type { ExecOptions, OciContainer, OciRuntime } from "./oci-runtime.js";

/** runc: namespaces, cgroups and seccomp of the host kernel. No checkpoint (CRIU fails here). */
export function createRuncRuntime(stateRoot: string): OciRuntime {
  const runc = (args: string[], allowFailure = false) =>
    hostCommand("runc", ["--root", stateRoot, ...args], { allowFailure, timeoutMs: 60_000 });
  return {
    name: "runc",
    network: "after",
    flavour: "runc",
    async create(id, bundle, logFile) {
      const pidFile = join(bundle, "init.pid");
      await detachedCommand(
        "runc",
        ["--root", stateRoot, "create", "--bundle", bundle, "--pid-file", pidFile, id],
        logFile,
      );
      return Number(readFileSync(pidFile, "utf8"));
    },
    async start(id) {
      await runc(["start", id]);
    },
    exec(id, argv, options: ExecOptions = {}) {
      const args = ["exec", "--user", `${options.uid ?? 0}:${options.gid ?? 0}`];
      if (options.cwd) args.push("--cwd", options.cwd);
      for (const [k, v] of Object.entries(options.env ?? {})) args.push("--env", `${k}=${v}`);
      return hostCommand("runc", ["--root", stateRoot, ...args, id, ...argv], {
        allowFailure: true,
        timeoutMs: options.timeoutMs,
      });
    },
    async delete(id) {
      await runc(["delete", "--force", id], true);
    },
    async list() {
      const r = await runc(["list", "--format", "json"], true);
      if (r.code !== 0) return [];
      const parsed = JSON.parse(r.stdout || "null") as { id: string; pid: number; status: string }[] | null;
      return (parsed ?? []).map((c): OciContainer => ({ id: c.id, pid: c.pid, status: c.status }));
    },
    async pause(id) {
      await runc(["pause", id]);
    },
    async resume(id) {
      await runc(["resume", id]);
    },
    checkpoint() {
      return Promise.reject(
        new SandpitError(
          "unimplemented",
          "checkpoint needs gVisor (runsc); runc sandboxes pause by freezing",
        ),
      );
    },
    restore() {
      return Promise.reject(new SandpitError("unimplemented", "restore needs gVisor (runsc)"));
    },
  };
}
