import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import { TRAFFIC_TOKEN_HEADER } from "@sandpit/protocol";

// Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection, not the message. `expect` is
// answered by the front server already; the X-Forwarded-* headers are rebuilt below. The
// traffic token is the proxy's to check: the sandbox's own code never sees it.
// `transfer-encoding` stays: node decodes chunking on the way in and, seeing the header,
// re-chunks on the way out, so the body's framing survives.
const droppedRequestHeaders = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "te",
  "trailer",
  "upgrade",
  "expect",
  "http2-settings",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  TRAFFIC_TOKEN_HEADER,
]);

// Node frames the response to the client itself (chunked or by Content-Length), and trailers
// are not relayed, so the upstream's framing headers must not pass.
const droppedResponseHeaders = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "transfer-encoding",
  "trailer",
  "upgrade",
]);

/** Extra hop-by-hop names a `Connection` header lists; undefined when it lists only the usual. */
function connectionTokens(value: string | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  let tokens: Set<string> | undefined;
  for (const part of value.split(",")) {
    const token = part.trim().toLowerCase();
    if (token === "" || token === "keep-alive" || token === "close" || token === "upgrade") continue;
    tokens ??= new Set();
    tokens.add(token);
  }
  return tokens;
}

/**
 * Headers for the upstream request in node's raw-array form: the client's headers in their
 * order and case minus hop-by-hop ones, the original Host (dev servers check it), plus
 * X-Forwarded-For/Proto/Host. An upgrade keeps `Connection: Upgrade` and `Upgrade`.
 */
export function upstreamRequestHeaders(req: IncomingMessage, upgrade: boolean): string[] {
  const raw = req.rawHeaders;
  const extra = connectionTokens(req.headers.connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (droppedRequestHeaders.has(lower) || extra?.has(lower)) continue;
    out.push(name, raw[i + 1] as string);
  }
  if (upgrade) out.push("Connection", "Upgrade", "Upgrade", req.headers.upgrade ?? "");
  const client = req.socket.remoteAddress ?? "";
  const prior = req.headers["x-forwarded-for"];
  out.push("X-Forwarded-For", prior === undefined ? client : `${prior}, ${client}`);
  const encrypted = (req.socket as Partial<TLSSocket>).encrypted === true;
  out.push(
    "X-Forwarded-Proto",
    firstValue(req.headers["x-forwarded-proto"]) ?? (encrypted ? "https" : "http"),
  );
  out.push("X-Forwarded-Host", firstValue(req.headers["x-forwarded-host"]) ?? req.headers.host ?? "");
  return out;
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The upstream response's raw headers for the client, hop-by-hop ones (and `alsoDrop`) removed. */
export function clientResponseHeaders(upstream: IncomingMessage, alsoDrop: readonly string[] = []): string[] {
  const raw = upstream.rawHeaders;
  const extra = connectionTokens(upstream.headers.connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (droppedResponseHeaders.has(lower) || extra?.has(lower) || alsoDrop.includes(lower)) continue;
    out.push(name, raw[i + 1] as string);
  }
  return out;
}

/** Raw header pairs as `Name: value\r\n` lines, for responses written straight to a socket. */
export function headerLines(raw: readonly string[]): string {
  let text = "";
  for (let i = 0; i + 1 < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return text;
}
