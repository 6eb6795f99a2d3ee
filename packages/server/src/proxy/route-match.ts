import type { IncomingHttpHeaders } from "node:http";

/** Which `/files` operation a URL signature grants (spec §5.6): GET reads, POST writes. */
export type FileOperation = "read" | "write";

/**
 * What a request addresses: a sandbox port, a signed `/files` URL that names no sandbox (the
 * signature says which), or a malformed routing attempt to refuse with 400.
 */
export type ProxyMatch =
  | { kind: "sandbox"; sandboxId: string; port: number }
  | { kind: "signed-file"; operation: FileOperation | "preflight" }
  | { kind: "invalid"; message: string };

/** The parts of a request that routing looks at. */
export interface RoutableRequest {
  headers: IncomingHttpHeaders;
  url?: string | undefined;
  method?: string | undefined;
}

const sandboxIdPattern = /^[a-z0-9]+$/;
const portPattern = /^[0-9]{1,5}$/;

/** Whether a string is a well-formed sandbox id (spec §1: `^[a-z0-9]+$`). */
export function isSandboxId(value: string): boolean {
  return sandboxIdPattern.test(value);
}

function parsePort(value: string): number | undefined {
  if (!portPattern.test(value)) return undefined;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : undefined;
}

// Echoed client input is cut short so an error body cannot be made arbitrarily large.
function quote(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

function target(idText: string, portText: string): ProxyMatch {
  const port = parsePort(portText);
  if (port === undefined) return { kind: "invalid", message: `invalid sandbox port ${quote(portText)}` };
  if (!isSandboxId(idText)) return { kind: "invalid", message: `invalid sandbox id ${quote(idText)}` };
  return { kind: "sandbox", sandboxId: idText, port };
}

/** The Host header's name without port, lowercased (DNS names are case-insensitive). */
export function hostnameOf(host: string | undefined): string {
  if (host === undefined || host === "") return "";
  if (host.charCodeAt(0) === 0x5b /* [ */) {
    const close = host.indexOf("]");
    return (close === -1 ? host : host.slice(0, close + 1)).toLowerCase();
  }
  const colon = host.indexOf(":");
  let name = colon === -1 ? host : host.slice(0, colon);
  if (name.endsWith(".")) name = name.slice(0, -1);
  return name.toLowerCase();
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  // Node joins repeated custom headers with ", ", which then fails validation like any junk.
  return Array.isArray(value) ? value.join(", ") : value;
}

function signedFileMatch(req: RoutableRequest): ProxyMatch | undefined {
  const url = req.url;
  if (url === undefined || !url.startsWith("/files?")) return undefined;
  if (!new URLSearchParams(url.slice(7)).has("signature")) return undefined;
  switch (req.method) {
    case "GET":
    case "HEAD":
      return { kind: "signed-file", operation: "read" };
    case "POST":
      return { kind: "signed-file", operation: "write" };
    case "OPTIONS":
      return { kind: "signed-file", operation: "preflight" };
    default:
      return undefined;
  }
}

/**
 * Builds the router of spec §1. A Host `<port>-<id>.<domain>` routes by Host and the routing
 * headers are ignored; on any other Host the headers `E2b-Sandbox-Id` + `E2b-Sandbox-Port`
 * route. That is the spec's localhost / IP / `sandbox.*` set and, deliberately, also the
 * server's own public name: Sandpit serves the API and sandboxes on one port, so
 * `E2B_SANDBOX_URL` pointing at the server must work. A signed `/files` URL with no routing
 * information matches too; everything else is API traffic (undefined).
 */
export function createRouteMatcher(domain: string): (req: RoutableRequest) => ProxyMatch | undefined {
  const suffix = `.${domain.toLowerCase().replace(/^\.+|\.+$/g, "")}`;

  function byHost(hostname: string): ProxyMatch | undefined {
    if (!hostname.endsWith(suffix)) return undefined;
    const label = hostname.slice(0, hostname.length - suffix.length);
    const dash = label.indexOf("-");
    // `api.<domain>`, `sandbox.<domain>` and deeper names are not sandbox hosts; a second
    // `-` lands in the id part, which the id check refuses.
    if (dash === -1 || label.includes(".")) return undefined;
    return target(label.slice(dash + 1), label.slice(0, dash));
  }

  return (req) => {
    const hostMatch = byHost(hostnameOf(req.headers.host));
    if (hostMatch !== undefined) return hostMatch;
    const id = header(req.headers, "e2b-sandbox-id");
    const port = header(req.headers, "e2b-sandbox-port");
    if (id === undefined && port === undefined) return signedFileMatch(req);
    if (id === undefined) return { kind: "invalid", message: "missing header E2b-Sandbox-Id" };
    if (port === undefined) return { kind: "invalid", message: "missing header E2b-Sandbox-Port" };
    return target(id, port);
  };
}
