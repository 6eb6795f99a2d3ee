import { spawn } from "node:child_process";
import { SandpitError } from "@sandpit/protocol";

/** What a host command printed and how it ended. */
export interface HostCommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link hostCommand}. */
export interface HostCommandOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  /** Resolve with a non-zero exit code instead of throwing. */
  allowFailure?: boolean;
  /** Kill the command after this long. */
  timeoutMs?: number;
  /** Working directory (relative paths in mount options resolve against it). */
  cwd?: string;
}

/**
 * Runs a host tool (ip, iptables, mount, runc…) with an argument vector, never a shell.
 * A failure becomes a SandpitError whose message names the tool and what it printed.
 */
export function hostCommand(
  command: string,
  args: readonly string[],
  options: HostCommandOptions = {},
): Promise<HostCommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      timeout: options.timeoutMs,
      cwd: options.cwd,
      killSignal: "SIGKILL",
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    if (options.input !== undefined) child.stdin?.end(options.input);
    child.on("error", (e) =>
      reject(new SandpitError("internal", `cannot run ${command}: ${e.message}`, { cause: e })),
    );
    child.on("close", (code, signal) => {
      const result = {
        code: code ?? 128,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      };
      if (result.code === 0 || options.allowFailure) {
        resolve(result);
        return;
      }
      const why = signal ? `killed by ${signal}` : `exit code ${result.code}`;
      const detail = result.stderr.trim() || result.stdout.trim();
      reject(
        new SandpitError("internal", `${command} ${args.slice(0, 3).join(" ")} failed (${why}): ${detail}`),
      );
    });
  });
}
