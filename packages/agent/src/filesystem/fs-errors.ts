import { SandpitError } from "@sandpit/protocol";

/** The errno of a caught filesystem error, if it has one. */
export function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Whether a filesystem error means "no such entry" (a missing component counts too). */
export function isMissing(error: unknown): boolean {
  const code = errnoOf(error);
  return code === "ENOENT" || code === "ENOTDIR";
}

/** Wraps a filesystem error as internal unless it already is a SandpitError. */
export function internalError(context: string, error: unknown): SandpitError {
  if (error instanceof SandpitError) return error;
  return new SandpitError("internal", `${context}: ${(error as Error).message}`, { cause: error });
}
