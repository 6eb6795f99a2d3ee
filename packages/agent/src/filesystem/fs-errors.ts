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

/**
 * Whether a filesystem error blames the path itself: longer than NAME_MAX or PATH_MAX, or
 * through too many symlinks. The client sent a path no file can have (spec's bad path → 400).
 */
export function isBadPath(error: unknown): boolean {
  const code = errnoOf(error);
  return code === "ENAMETOOLONG" || code === "ELOOP";
}

/**
 * Wraps a filesystem error as internal unless it already is a SandpitError; an unusable path
 * is the caller's mistake, so it becomes invalid_argument.
 */
export function internalError(context: string, error: unknown): SandpitError {
  if (error instanceof SandpitError) return error;
  const code = isBadPath(error) ? "invalid_argument" : "internal";
  return new SandpitError(code, `${context}: ${(error as Error).message}`, { cause: error });
}
