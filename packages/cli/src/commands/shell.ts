import { Sandbox } from "@sandpit/sdk";
import type { Command } from "commander";
import { exitCodeOf } from "../exit-code.js";
import { clientCommand, clientOf } from "./sandboxes.js";

interface ShellFlags {
  user?: string;
  cwd?: string;
}

async function shell(id: string, flags: ShellFlags, cmd: Command): Promise<void> {
  const sandbox = await Sandbox.connect(id, clientOf(cmd));
  const size = () => ({ cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 });
  const terminal = await sandbox.pty.create({
    ...size(),
    onData: (data: Uint8Array) => void process.stdout.write(data),
    envs: { TERM: process.env.TERM ?? "xterm-256color" },
    // A shell lives as long as its user wants it, not the SDK's default minute.
    timeoutMs: 0,
    ...(flags.user ? { user: flags.user } : {}),
    ...(flags.cwd ? { cwd: flags.cwd } : {}),
  });
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  // Raw mode hands every key (Ctrl-C, Ctrl-D, arrows) to the remote shell instead of this process.
  if (raw) stdin.setRawMode(true);
  let last: Promise<void> = Promise.resolve();
  const onInput = (chunk: Buffer) => {
    const bytes = new Uint8Array(chunk);
    last = last.then(() => sandbox.pty.sendInput(terminal.pid, bytes)).catch(() => undefined);
  };
  const onResize = () => void sandbox.pty.resize(terminal.pid, size()).catch(() => undefined);
  stdin.on("data", onInput);
  stdin.resume();
  process.stdout.on("resize", onResize);
  try {
    process.exitCode = await exitCodeOf(terminal);
  } finally {
    process.stdout.off("resize", onResize);
    stdin.off("data", onInput);
    if (raw) stdin.setRawMode(false);
    stdin.pause();
  }
}

/** `sandpit shell ID`: an interactive terminal in a sandbox (raw mode, follows resizes, Ctrl-D ends). */
export function registerShell(program: Command): void {
  clientCommand(program, "shell <id>")
    .description("open an interactive shell in a sandbox (Ctrl-D or exit ends it)")
    .option("-u, --user <name>", "log in as this user (default: user)")
    .option("-w, --cwd <dir>", "start in this directory")
    .action(shell);
}
