import { Sandbox } from "@sandpit/sdk";
import type { Command } from "commander";
import { exitCodeOf } from "../exit-code.js";
import { collectPair, parseDurationSec, shellJoin } from "../parse-options.js";
import { UserError } from "../user-error.js";
import { clientCommand, clientOf } from "./sandboxes.js";

interface ExecFlags {
  interactive?: boolean;
  user?: string;
  cwd?: string;
  env?: Record<string, string>;
  timeout?: number;
}

/** Sends chunks in order: each waits for the one before it. */
function orderedSender(send: (chunk: Uint8Array) => Promise<void>) {
  let last: Promise<void> = Promise.resolve();
  return (chunk: Uint8Array) => {
    last = last.then(() => send(chunk));
    return last;
  };
}

async function exec(id: string, words: string[], flags: ExecFlags, cmd: Command): Promise<void> {
  // Options pass through to the command, and so does the `--` that ends ours.
  if (words[0] === "--") words = words.slice(1);
  if (words.length === 0) throw new UserError("no command given: sandpit exec ID -- CMD...", 2);
  const sandbox = await Sandbox.connect(id, clientOf(cmd));
  // One word is a shell line as typed (`exec ID 'ls | wc -l'`); several are quoted back into one.
  const line = words.length === 1 ? (words[0] ?? "") : shellJoin(words);
  const handle = await sandbox.commands.run(line, {
    background: true,
    stdin: flags.interactive === true,
    ...(flags.user ? { user: flags.user } : {}),
    ...(flags.cwd ? { cwd: flags.cwd } : {}),
    ...(flags.env ? { envs: flags.env } : {}),
    timeoutMs: (flags.timeout ?? 0) * 1000,
    onStdout: (data: string) => void process.stdout.write(data),
    onStderr: (data: string) => void process.stderr.write(data),
  });
  const interrupt = () => void handle.kill();
  process.once("SIGINT", interrupt);
  if (flags.interactive) {
    const send = orderedSender((chunk) => sandbox.commands.sendStdin(handle.pid, chunk));
    process.stdin.on("data", (chunk: Buffer) => void send(new Uint8Array(chunk)).catch(() => undefined));
    process.stdin.once(
      "end",
      () =>
        void send(new Uint8Array())
          .then(() => sandbox.commands.closeStdin(handle.pid))
          .catch(() => undefined),
    );
  }
  try {
    process.exitCode = await exitCodeOf(handle);
  } finally {
    process.off("SIGINT", interrupt);
    if (flags.interactive) process.stdin.destroy();
  }
}

/** `sandpit exec ID -- CMD…`: runs a command, streams its output, exits with its exit code. */
export function registerExec(program: Command): void {
  clientCommand(program, "exec <id> <command...>")
    .description("run a command in a sandbox; streams its output and exits with its exit code")
    .option("-i, --interactive", "forward standard input to the command")
    .option("-u, --user <name>", "run as this user (default: the template's, user)")
    .option("-w, --cwd <dir>", "working directory")
    .option("-e, --env <KEY=VALUE>", "environment variable (repeatable)", collectPair)
    .option("--timeout <duration>", "kill the command after this long (default: never)", parseDurationSec)
    .passThroughOptions()
    .action(exec);
}
