// Agent endpoints only the control plane may call (spec §4, §5.7); the proxy never forwards them.
const controlPaths = new Set([
  "/init",
  "/freeze",
  "/unfreeze",
  "/collapse",
  "/fsfreeze",
  "/fsthaw",
  "/upgrade",
]);
const longestControlPath = 9;
const suspicious = /[%\\]|\/\/|\/\.|.\/$/;

function pathOf(url: string): string | undefined {
  const end = url.search(/[?#]/);
  const path = end === -1 ? url : url.slice(0, end);
  if (path.startsWith("/")) return path;
  try {
    return new URL(path).pathname;
  } catch {
    return undefined;
  }
}

// Spellings an HTTP stack might still route to the same handler: escapes, repeated or
// trailing slashes, dot segments, other case.
function normalise(path: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return undefined;
  }
  const segments: string[] = [];
  for (const segment of decoded.replaceAll("\\", "/").split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  return `/${segments.join("/")}`.toLowerCase();
}

/**
 * Whether a request target is a control-plane-only agent path, in any spelling. Errs towards
 * blocking: a target it cannot parse counts as one. Cheap for the long RPC paths of the hot path.
 */
export function isControlPath(url: string | undefined): boolean {
  const path = pathOf(url ?? "/");
  if (path === undefined) return true;
  if (controlPaths.has(path)) return true;
  if (path.length <= longestControlPath + 1 || suspicious.test(path)) {
    const normalised = normalise(path);
    return normalised === undefined || controlPaths.has(normalised);
  }
  return false;
}
