import { UserError } from "./user-error.js";

/** Collects a repeatable `k=v` option into a record. */
export function collectPair(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = value.indexOf("=");
  if (at <= 0) throw new UserError(`'${value}' is not of the form key=value`, 2);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

/** Parses a duration: plain seconds, or a number with s, m or h. Returns seconds. */
export function parseDurationSec(value: string): number {
  const m = /^(\d+)(s|m|h)?$/.exec(value.trim());
  if (!m?.[1]) throw new UserError(`'${value}' is not a duration (e.g. 300, 90s, 10m, 1h)`, 2);
  const n = Number(m[1]);
  const scale = m[2] === "h" ? 3600 : m[2] === "m" ? 60 : 1;
  return n * scale;
}

/** Parses a positive integer option. */
export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UserError(`'${value}' is not a positive integer`, 2);
  return n;
}

/** Quotes words for a POSIX shell, so `exec ID -- ls "a b"` runs what was typed. */
export function shellJoin(words: readonly string[]): string {
  return words
    .map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}
