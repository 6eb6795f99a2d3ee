import { constants, statSync } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, isAbsolute, join, posix } from "node:path";
import type { processPb } from "@sandpit/protocol";
import { SandpitError } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { globalEnv } from "../agent-state.js";
import type { SandboxUser } from "../users.js";

/** Who a process runs as; absent when the agent is not root and cannot switch users. */
export interface Credentials {
  uid: number;
  gid: number;
  /** Supplementary groups, the primary one included. */
  groups: number[];
}

/** Everything needed to spawn one process, resolved and checked. */
export interface Launch {
  cmd: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  user: SandboxUser;
  credentials: Credentials | undefined;
}

const fallbackPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Read once: the agent's own PATH is what processes get (spec §7), and nothing else of its env.
const agentPath = process.env.PATH || fallbackPath;

/** Resolves a path like envd (spec §5.2): `~` is the home, relative is joined to the home. */
export function resolveUserPath(path: string, home: string): string {
  let p = path;
  if (p === "~") p = home;
  else if (p.startsWith("~/")) p = join(home, p.slice(2));
  else if (p.startsWith("~")) throw new SandpitError("invalid_argument", `path '${path}' is not supported`);
  return isAbsolute(p) ? posix.normalize(p) : join(home, p);
}

function resolveCwd(ctx: AgentContext, requested: string | undefined, home: string): string {
  const raw = requested || ctx.state.defaultWorkdir || home;
  const cwd = resolveUserPath(raw, home);
  // Synchronous on purpose: one stat costs microseconds, a threadpool round trip far more,
  // and this sits on the path of every command.
  const info = statSync(cwd, { throwIfNoEntry: false });
  if (!info) throw new SandpitError("invalid_argument", `cwd '${cwd}' does not exist`);
  if (!info.isDirectory()) throw new SandpitError("invalid_argument", `cwd '${cwd}' is not a directory`);
  return cwd;
}

function buildEnv(
  ctx: AgentContext,
  user: SandboxUser,
  envs: Record<string, string>,
): Record<string, string> {
  return {
    PATH: agentPath,
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    ...globalEnv(ctx.state),
    ...envs,
  };
}

function credentialsOf(user: SandboxUser): Credentials | undefined {
  // Only root may switch users; otherwise processes run as the agent's own user.
  if (process.getuid?.() !== 0) return undefined;
  return { uid: user.uid, gid: user.gid, groups: user.groups };
}

/** Resolves the cwd, env and credentials of a process run as `user` (spec §7). */
export function prepareLaunch(
  ctx: AgentContext,
  user: SandboxUser,
  config: Pick<processPb.ProcessConfig, "cmd" | "args" | "cwd" | "envs">,
): Launch {
  if (!config.cmd) throw new SandpitError("invalid_argument", "process cmd is required");
  return {
    cmd: config.cmd,
    args: config.args,
    cwd: resolveCwd(ctx, config.cwd, user.home),
    env: buildEnv(ctx, user, config.envs),
    user,
    credentials: credentialsOf(user),
  };
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Checks that `cmd` names an executable the way execvp would find it. Only spawns whose exec
 * failure would otherwise surface as an exit code (PTY, group helper) need it.
 */
export async function assertExecutable(launch: Launch): Promise<void> {
  const { cmd } = launch;
  const candidates = cmd.includes("/")
    ? [isAbsolute(cmd) ? cmd : join(launch.cwd, cmd)]
    : (launch.env.PATH ?? agentPath)
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, cmd));
  for (const candidate of candidates) {
    if (await isExecutable(candidate)) return;
  }
  throw new SandpitError("invalid_argument", `error starting process '${cmd}': executable file not found`);
}
