import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { processPb } from "@sandpit/protocol";
import type { AgentContext } from "../agent-context.js";
import { identityEnv } from "../agent-state.js";
import type { ProcessIo } from "./managed-process.js";
import { launchedIo } from "./pipe-process.js";
import { type Launch, prepareLaunch } from "./process-launch.js";
import type { LaunchedCommand, ProcessLauncher } from "./process-launcher.js";

// The SDKs run every command as `/bin/bash -l -c <command>`, and a login shell is most of what a
// command costs: measured in a sandbox, `bash -l -c true` takes 4.1 ms under runc and ~100 ms under
// gVisor against 1.7 / 47 ms for `bash -c true` (its profile runs `id` and sources more files). So
// the agent keeps one login shell started ahead, its profile already read, waiting on stdin for the
// command it is to run. It reads three NUL-terminated fields: a head (`1` when stdin stays open,
// else `0`; `1` when the command may be exec'd, else `0`; the command's first word), the sandbox's
// identity as shell exports, and the command. Then it runs the command in that same shell, as
// `bash -l -c` would, with SECONDS reset. bash -c execs a lone simple command in place of the shell (so
// its PID is the command's, and a kill shows as the command's signal, not as the shell's exit 137):
// a command the agent finds to be one, whose first word the shell does not take as a function or an
// alias and finds as a file, is exec'd the same way. Known differences: a syntax error reads
// "eval:" where bash -c says "-c:", a profile's own reads of stdin see the pipe, not /dev/null, and
// a profile of a shell the pool started sees no E2B_SANDBOX_ID or E2B_TEMPLATE_ID.
const shellPath = "/bin/bash";
const head = "__sandpit_head";
const command = "__sandpit_command";
const first = "__sandpit_first";
const exports = "__sandpit_exports";
const expand = (name: string, slice = "") => ["$", "{", name, slice, "}"].join("");
const waitingScript = [
  `IFS= read -r -d "" ${head} || exit 125`,
  `IFS= read -r -d "" ${exports} || exit 125`,
  `IFS= read -r -d "" ${command} || exit 125`,
  `[ "${expand(head, "::1")}" = 1 ] || exec </dev/null`,
  `eval "${expand(exports)}"`,
  "SECONDS=0",
  `${first}=${expand(head, ":2")}`,
  `if [ "${expand(head, ":1:1")}" = 1 ] && ! declare -F -- "$${first}" >/dev/null && [[ ! -v BASH_ALIASES[$${first}] ]] && ` +
    `{ if [[ $${first} == */* ]]; then [ -f "$${first}" ] && [ -x "$${first}" ]; else hash -- "$${first}" 2>/dev/null; fi; }; ` +
    `then eval "unset ${head} ${exports} ${command} ${first}; exec ${expand(command)}"; ` +
    `else eval "unset ${head} ${exports} ${command} ${first}; ${expand(command)}"; fi`,
].join("; ");

// A lone simple command of plain words and simply quoted strings (nothing the shell would
// expand, redirect or chain), which bash -c would exec: its first word is neither an assignment
// nor one of bash's builtins or keywords. One character per repetition: with runs (`[…]+`
// inside `(…)+`) a long word followed by a refused character backtracked exponentially.
const plainWord = String.raw`(?:[A-Za-z0-9_./:=+,@%^-]|'[^']*'|"[^"$\x60\\!]*")+`;
const simpleCommand = new RegExp(String.raw`^[ \t]*([A-Za-z0-9_./:+,@%^-]+)(?:[ \t]+${plainWord})*[ \t]*$`);
const notExecutable = new Set(
  (
    ". : [ alias bg bind break builtin caller cd command compgen complete compopt continue declare " +
    "dirs disown echo enable eval exec exit export false fc fg getopts hash help history jobs kill " +
    "let local logout mapfile popd printf pushd pwd read readarray readonly return set shift shopt " +
    "source suspend test times trap true type typeset ulimit umask unalias unset wait " +
    "if then else elif fi case esac for select while until do done in function time coproc"
  ).split(" "),
);

// Given to a sandbox at its create, after its pool started the shell that will run its first
// command: the shell exports them just before the command, and they do not make it stale. Its
// profile did not see them; nothing of a login shell's own files reads them.
const identityVars: readonly string[] = Object.values(identityEnv);

/** The exports field: the identity vars as the command's environment has them. */
function exportsOf(env: Record<string, string>): string {
  return identityVars
    .map((name) => {
      const value = env[name];
      return value === undefined ? `unset ${name}` : `export ${name}='${value.replaceAll("'", "'\\''")}'`;
    })
    .join("; ");
}

/** The head field for `text`: stdin, whether it may be exec'd, and its first word. */
function headOf(text: string, stdin: boolean): string {
  const word = simpleCommand.exec(text)?.[1];
  const exec = word !== undefined && !notExecutable.has(word);
  return `${stdin ? "1" : "0"}${exec ? "1" : "0"}${exec ? word : ""}`;
}

// Commands longer than this take the usual path: bash reads a pipe one byte per system call.
const maxCommandBytes = 64 * 1024;
// Users, directories and environments with a waiting shell; the least recently used goes first.
const maxShells = 4;
// How long a command runs before the shell for the next one starts anyway.
const nextShellDelayMs = 50;

// What bash reads as a login shell, of which a change makes a waiting shell stale.
function profilePaths(home: string): string[] {
  let profileD: string[] = [];
  try {
    profileD = readdirSync("/etc/profile.d").map((name) => join("/etc/profile.d", name));
  } catch {
    // No such directory: nothing to read there.
  }
  return [
    "/etc/profile",
    "/etc/bash.bashrc",
    "/etc/profile.d",
    ...profileD,
    ...[".bash_profile", ".bash_login", ".profile", ".bashrc"].map((name) => join(home, name)),
  ];
}

// Size and times of each file: the shell read the same files as a new one would when nothing
// here changed since before it started. A file replaced by another has a new change time; the
// inode number is left out because gVisor gives every file a new one on restore, which made
// each resume from disk throw the waiting shell away and start another (~100 ms of CPU, taken
// from the first calls after the resume).
function fingerprint(paths: string[]): string {
  return paths
    .map((path) => {
      const s = statSync(path, { bigint: true, throwIfNoEntry: false });
      return s ? `${s.size}:${s.mtimeNs}:${s.ctimeNs}` : "-";
    })
    .join("|");
}

/** What a login shell started now would read: its env and the state of its profile files. */
interface ShellInputs {
  readonly env: string;
  readonly profile: string;
}

interface WaitingShell extends ShellInputs {
  readonly key: string;
  readonly started: Promise<LaunchedCommand | undefined>;
  /** Gone: ended, or told to end, without running a command. */
  state: "waiting" | "taken" | "gone";
}

/** Login shells started ahead of the commands that will run in them. */
export interface ReadyShells {
  /**
   * Starts `config` in a waiting shell, when it is the SDK's `/bin/bash -l -c <command>` with no
   * env vars of its own and a shell waits for its user, cwd and environment with its profile
   * files unchanged; undefined otherwise, and the caller starts it the usual way. Either way a
   * shell for the next such command is started.
   */
  take(launch: Launch, config: processPb.ProcessConfig, stdin: boolean): Promise<ProcessIo | undefined>;
  /** Starts a shell for the default user's commands (after `/init` changed what they get). */
  prepareDefault(): void;
  /** Tells every waiting shell to end. */
  close(): void;
}

function keyOf(launch: Launch): string {
  const c = launch.credentials;
  return JSON.stringify([launch.user.name, launch.user.home, c?.uid, c?.gid, c?.groups, launch.cwd]);
}

function commandOf(config: processPb.ProcessConfig): string | undefined {
  const [login, dashC, command] = config.args;
  if (config.cmd !== shellPath || config.args.length !== 3 || login !== "-l" || dashC !== "-c")
    return undefined;
  if (Object.keys(config.envs).length > 0 || command === undefined) return undefined;
  if (command.includes("\0") || Buffer.byteLength(command) > maxCommandBytes) return undefined;
  return command;
}

/** Creates the agent's ready shells, started through `launcher` (none without one). */
export function createReadyShells(
  ctx: AgentContext,
  launcher: () => ProcessLauncher | undefined,
): ReadyShells {
  const shells = new Map<string, WaitingShell>();
  let closed = false;

  function discard(shell: WaitingShell): void {
    if (shell.state !== "waiting") return;
    shell.state = "gone";
    if (shells.get(shell.key) === shell) shells.delete(shell.key);
    // Not killed: its profile may be running, and a profile cut short can leave a lock or a
    // half-written file behind (pyenv's rehash lock made every later login shell wait 60 s).
    // End of input makes it exit once its profile is done; its output is read and dropped.
    void shell.started.then((command) => {
      if (!command) return;
      for (const pipe of [command.stdin, command.stdout, command.stderr]) pipe?.on("error", () => {});
      command.stdin?.end();
      command.stdout.resume();
      command.stderr.resume();
    });
  }

  // Read once per command: they tell whether the waiting shell fits, and they are those of the
  // shell started next. Read before that shell starts, so a later change shows at its take.
  function inputsOf(launch: Launch): ShellInputs {
    const env = Object.entries(launch.env).filter(([name]) => !identityVars.includes(name));
    return { env: JSON.stringify(env), profile: fingerprint(profilePaths(launch.user.home)) };
  }

  // Whether `shell` would run a command as a shell started with `now` would.
  function fits(shell: WaitingShell, now: ShellInputs): boolean {
    return shell.state === "waiting" && shell.env === now.env && shell.profile === now.profile;
  }

  function spawn(launch: Launch, key: string, inputs: ShellInputs): void {
    const l = launcher();
    if (closed || !l?.available) return;
    for (const [, oldest] of shells) {
      if (shells.size < maxShells) break;
      discard(oldest);
    }
    const shell: WaitingShell = {
      key,
      ...inputs,
      state: "waiting",
      started: l
        .start({
          cmd: shellPath,
          args: ["-l", "-c", waitingScript],
          cwd: launch.cwd,
          env: launch.env,
          credentials: launch.credentials,
          stdin: true,
        })
        .then(
          (command) => {
            command.onExit(() => discard(shell));
            return command;
          },
          () => {
            discard(shell);
            return undefined;
          },
        ),
    };
    shells.set(key, shell);
  }

  return {
    async take(launch, config, stdin) {
      const text = commandOf(config);
      const l = launcher();
      if (text === undefined || !l?.available) return undefined;
      const key = keyOf(launch);
      const shell = shells.get(key);
      if (shell) shells.delete(key);
      const now = inputsOf(launch);
      // Whatever becomes of this one, the next command of its kind should find a shell ready.
      const prepareNext = () => {
        if (!shells.has(key)) spawn(launch, key, now);
      };
      if (!shell || !fits(shell, now)) {
        if (shell) discard(shell);
        prepareNext();
        return undefined;
      }
      const started = await shell.started;
      if (!started || shell.state !== "waiting") {
        prepareNext();
        return undefined;
      }
      // From here the shell is the command's: its end is the command's end.
      shell.state = "taken";
      started.stdin?.write(`${headOf(text, stdin)}\0${exportsOf(launch.env)}\0${text}\0`);
      if (!stdin) started.stdin?.end();
      // The next shell starts once this command ends, or a moment after it began if it runs on:
      // a login shell reading its profile meanwhile takes the CPU a short command needs (measured
      // under gVisor: ~80 ms of it, and `true` ended 10 to 24 ms after its start instead of ~3).
      const next = setTimeout(prepareNext, nextShellDelayMs);
      started.onExit(() => {
        clearTimeout(next);
        prepareNext();
      });
      return launchedIo(started, l, stdin);
    },
    prepareDefault() {
      void ctx.users
        .lookup(ctx.state.defaultUser)
        .then((user) => {
          const launch = prepareLaunch(ctx, user, { cmd: shellPath, args: [], envs: {}, cwd: "" });
          const key = keyOf(launch);
          const current = shells.get(key);
          const now = inputsOf(launch);
          if (current && fits(current, now)) return;
          if (current) discard(current);
          spawn(launch, key, now);
        })
        .catch(() => undefined);
    },
    close() {
      closed = true;
      for (const shell of [...shells.values()]) discard(shell);
    },
  };
}
