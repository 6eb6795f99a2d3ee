import { SandpitError } from "@sandpit/protocol";
import type { ListedState } from "../store/index.js";

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new SandpitError("invalid_argument", `${what} is not valid percent-encoding`);
  }
}

/**
 * Decodes the `metadata` list filter (spec §3.3): the SDK percent-encodes each key and value,
 * joins them as a query string and the HTTP layer encodes that once more. The HTTP stack has
 * undone the outer layer; this undoes the query string and then each key and value.
 */
export function parseMetadataFilter(raw: string | undefined): Record<string, string> | undefined {
  if (raw === undefined || raw === "") return undefined;
  const filter: Record<string, string> = {};
  for (const pair of decode(raw, "metadata").split("&")) {
    if (pair === "") continue;
    const parts = pair.split("=");
    if (parts.length !== 2)
      throw new SandpitError("invalid_argument", `metadata pair '${pair}' is not key=value`);
    filter[decode(parts[0] ?? "", "metadata key")] = decode(parts[1] ?? "", "metadata value");
  }
  return filter;
}

/** Decodes `state`: comma-separated, and leniently also repeated. */
export function parseStateFilter(raw: string | string[] | undefined): ListedState[] | undefined {
  if (raw === undefined) return undefined;
  const states = (Array.isArray(raw) ? raw : [raw]).flatMap((s) => s.split(",")).filter(Boolean);
  for (const s of states) {
    if (s !== "running" && s !== "paused") {
      throw new SandpitError("invalid_argument", `state '${s}' is not running or paused`);
    }
  }
  return states as ListedState[];
}

/** Parses `startedAfter` (RFC 3339, any offset) to epoch milliseconds with the fraction kept. */
export function parseStartedAfter(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.exec(raw);
  const whole = m ? Date.parse(`${m[1]}${m[3]}`) : Number.NaN;
  if (!m || !Number.isFinite(whole)) {
    throw new SandpitError("invalid_argument", `startedAfter '${raw}' is not an RFC 3339 date-time`);
  }
  // Keep sub-millisecond digits: a sandbox's own startedAt fed back must compare equal.
  const fraction = m[2] ? Number(`0${m[2]}`) * 1000 : 0;
  return whole + fraction;
}
