import { type ErrorCode, SandpitError } from "@sandpit/protocol";

/** The SQLite result code of an error thrown by better-sqlite3 (e.g. `SQLITE_CONSTRAINT_UNIQUE`), if it is one. */
export function sqliteCodeOf(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code: unknown = (error as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : undefined;
}

// Extended codes first match on their primary code; see https://sqlite.org/rescode.html.
const codeByPrimary: Readonly<Record<string, ErrorCode>> = {
  SQLITE_BUSY: "unavailable",
  SQLITE_LOCKED: "unavailable",
  SQLITE_FULL: "resource_exhausted",
  SQLITE_CORRUPT: "data_loss",
  SQLITE_NOTADB: "data_loss",
  SQLITE_CONSTRAINT: "failed_precondition",
};

/**
 * Converts whatever a store operation threw into a SandpitError, at the point it leaves the
 * store. SQL and file paths stay in `cause`: the message may reach a client.
 */
export function sandpitErrorFromSqlite(error: unknown): SandpitError {
  if (error instanceof SandpitError) return error;
  const sqliteCode = sqliteCodeOf(error);
  if (sqliteCode === undefined)
    return new SandpitError("internal", "store operation failed", { cause: error });
  const primary = sqliteCode.split("_", 2).join("_");
  const code = codeByPrimary[primary] ?? "internal";
  return new SandpitError(code, `store operation failed (${sqliteCode})`, { cause: error });
}
