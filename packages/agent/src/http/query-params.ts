import { SandpitError } from "@sandpit/protocol";

/**
 * The query parameters of a request URL, first occurrence wins. Unlike URLSearchParams it
 * rejects malformed percent-escapes (invalid_argument) instead of passing them through, so a
 * mangled path never reaches the filesystem.
 */
export function parseQuery(url: string | undefined): Map<string, string> {
  const params = new Map<string, string>();
  const raw = url?.includes("?") ? url.slice(url.indexOf("?") + 1) : "";
  for (const pair of raw.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = decodeComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? "" : decodeComponent(pair.slice(eq + 1));
    if (!params.has(key)) params.set(key, value);
  }
  return params;
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    throw new SandpitError("invalid_argument", `invalid query string: bad escape in '${text}'`);
  }
}

/** The pathname of a request URL without its query. */
export function pathnameOf(url: string | undefined): string {
  const path = url ?? "/";
  const q = path.indexOf("?");
  return q === -1 ? path : path.slice(0, q);
}
