import { SandpitError } from "@sandpit/protocol";

/** A mistake of the user's (bad arguments, unknown sandbox): printed as one line, no stack. */
export class UserError extends Error {
  override readonly name = "UserError";
  /** Exit code the command ends with. */
  readonly exitCode: number;

  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** The one line a failed command prints, and its exit code. */
export function describeFailure(error: unknown): { message: string; exitCode: number } {
  if (error instanceof UserError) return { message: error.message, exitCode: error.exitCode };
  const text = error instanceof Error ? error.message : String(error);
  if (/ECONNREFUSED|fetch failed/.test(text)) {
    return {
      message: `cannot reach the server: ${text} (is it running? set SANDPIT_URL or pass --url)`,
      exitCode: 1,
    };
  }
  if (error instanceof SandpitError) {
    const hint =
      error.code === "unauthenticated" ? " (set SANDPIT_API_KEY or E2B_API_KEY, or pass --api-key)" : "";
    return { message: `${error.message}${hint}`, exitCode: 1 };
  }
  const message = error instanceof Error ? error.message : String(error);
  const refused = /ECONNREFUSED|fetch failed/.test(message);
  return {
    message: refused
      ? `cannot reach the server: ${message} (is it running? set SANDPIT_URL or pass --url)`
      : message,
    exitCode: 1,
  };
}
