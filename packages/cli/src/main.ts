import { Command, CommanderError } from "commander";
import { registerCopy } from "./commands/copy.js";
import { registerExec } from "./commands/exec.js";
import { registerKeys } from "./commands/keys.js";
import { registerSandboxCommands } from "./commands/sandboxes.js";
import { registerServe } from "./commands/serve.js";
import { registerShell } from "./commands/shell.js";
import { registerTemplate } from "./commands/template.js";
import { describeFailure } from "./user-error.js";

function buildProgram(): Command {
  const program = new Command("sandpit")
    .description("Self-hosted secure sandboxes that speak E2B's protocol")
    .option("--url <url>", "server URL (env SANDPIT_URL or E2B_API_URL; default http://localhost:3000)")
    .option("--api-key <key>", "API key (env SANDPIT_API_KEY or E2B_API_KEY)")
    .enablePositionalOptions()
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();
  registerServe(program);
  registerSandboxCommands(program);
  registerExec(program);
  registerShell(program);
  registerCopy(program);
  registerTemplate(program);
  registerKeys(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** Runs the `sandpit` command; returns its exit code. */
export async function main(argv: string[]): Promise<number> {
  process.exitCode = undefined;
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version end "with an error" in commander's terms; they are successes here.
      if (
        e.code === "commander.helpDisplayed" ||
        e.code === "commander.help" ||
        e.code === "commander.version"
      )
        return 0;
      return e.exitCode === 1 ? 2 : e.exitCode;
    }
    const { message, exitCode } = describeFailure(e);
    process.stderr.write(`sandpit: ${message}\n`);
    if (process.env.SANDPIT_DEBUG) process.stderr.write(`${(e as Error).stack ?? ""}\n`);
    return exitCode;
  }
}
