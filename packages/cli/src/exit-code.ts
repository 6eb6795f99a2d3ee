import { CommandExitError, type CommandHandle } from "@sandpit/sdk";

/** Waits for a remote command and returns the exit code this process should end with. */
export async function exitCodeOf(handle: CommandHandle): Promise<number> {
  try {
    return (await handle.wait()).exitCode;
  } catch (e) {
    if (!(e instanceof CommandExitError)) throw e;
    // A signal death has no code in 1..255 here; any failure must still read as one.
    return e.exitCode > 0 && e.exitCode < 256 ? e.exitCode : 1;
  }
}
