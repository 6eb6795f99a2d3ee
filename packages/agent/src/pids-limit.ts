import { readFileSync, writeFileSync } from "node:fs";
import { INSIDE_LIMIT_ENV } from "@sandpit/protocol";

/** The env var through which the runtime hands the sandbox's process limit to the agent. */
export const PIDS_LIMIT_ENV = INSIDE_LIMIT_ENV.pids;

/**
 * Applies the sandbox's process limit inside it, where the host's pids cgroup cannot: under
 * gVisor every sandbox process is a thread of the sentry, so only the sentry's own (virtual)
 * pids controller can refuse a fork. Without it a fork bomb grows until the host's memory
 * limit takes the whole sandbox down. Root inside may raise it again, and then only harms
 * its own sandbox, as on any host. The variable is removed so commands do not inherit it.
 */
export function applyPidsLimit(env: NodeJS.ProcessEnv, file = "/sys/fs/cgroup/pids/pids.max"): boolean {
  const wanted = env[PIDS_LIMIT_ENV];
  delete env[PIDS_LIMIT_ENV];
  if (!wanted || !/^[1-9][0-9]*$/.test(wanted)) return false;
  try {
    if (readFileSync(file, "utf8").trim() !== "max") return false;
    writeFileSync(file, wanted);
    return true;
  } catch {
    // No pids controller here (runc bounds the sandbox from the host instead).
    return false;
  }
}
