import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { SandpitError } from "@sandpit/protocol";

/**
 * Runs a command whose children outlive it (`runc create`, `runsc run -detach`): their stdio
 * goes to a log file, because a pipe they inherit would never reach end-of-file.
 */
export function detachedCommand(command: string, args: readonly string[], logFile: string): Promise<void> {
  const fd = openSync(logFile, "a");
  return new Promise<void>((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", fd, fd] });
    child.on("error", (e) => reject(new SandpitError("internal", `cannot run ${command}: ${e.message}`)));
    child.on("exit", (code, signal) => {
      if (code === 0) {
        resolve();
        return;
      }
      let log = "";
      try {
        log = readFileSync(logFile, "utf8").trim().split("\n").slice(-5).join("\n");
      } catch {
        // no log to quote
      }
      reject(
        new SandpitError(
          "internal",
          `${command} ${args.slice(0, 4).join(" ")} failed (${signal ?? code}): ${log}`,
        ),
      );
    });
  }).finally(() => closeSync(fd));
}
