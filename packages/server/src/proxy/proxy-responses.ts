import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { Duplex } from "node:stream";

/** An error body of the proxy: `code` and `message` as in spec §3.1, plus context fields of §4. */
export interface ProxyErrorBody {
  code: number;
  message: string;
  sandboxId?: string;
  port?: number;
}

/** Body of spec §4 for an unknown, killed, or paused (without auto-resume) sandbox. */
export function sandboxNotFound(sandboxId: string): ProxyErrorBody {
  return { sandboxId, message: "The sandbox was not found", code: 502 };
}

/** A sandbox whose ports are not public, asked without its traffic token (or with a wrong one). */
export function trafficRefused(sandboxId: string, port: number): ProxyErrorBody {
  return {
    sandboxId,
    message: "The sandbox's ports need its traffic access token (e2b-traffic-access-token header)",
    port,
    code: 403,
  };
}

/** Body of spec §4 for a running sandbox with nothing listening on the port. */
export function portNotOpen(sandboxId: string, port: number): ProxyErrorBody {
  return { sandboxId, message: "The sandbox is running but port is not open", port, code: 502 };
}

// The agent's CORS policy (any origin, any header, everything exposed), applied to answers
// the proxy gives itself so a browser can read a 502 and tell "sandbox gone" from a network
// failure. Requests without Origin (every non-browser SDK) get none of it.
function corsHeaders(req: IncomingMessage): Record<string, string> {
  return req.headers.origin === undefined
    ? {}
    : { "access-control-allow-origin": "*", "access-control-expose-headers": "*" };
}

/** Sends a JSON error, unless the response already started, in which case it drops the connection. */
export function sendError(req: IncomingMessage, res: ServerResponse, body: ProxyErrorBody): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(body.code, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...corsHeaders(req),
  });
  res.end(text);
}

/** Whether a request is a CORS preflight. */
export function isPreflight(req: IncomingMessage): boolean {
  return (
    req.method === "OPTIONS" &&
    req.headers.origin !== undefined &&
    req.headers["access-control-request-method"] !== undefined
  );
}

/**
 * Answers a CORS preflight for the agent port exactly as the agent would, without a round
 * trip, and even when the sandbox is gone so the browser gets to see the 502 that follows.
 * Requested headers are echoed because `*` does not cover `Authorization` (RPC user, §6.2).
 */
export function answerPreflight(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(204, {
    "access-control-allow-origin": "*",
    "access-control-expose-headers": "*",
    "access-control-allow-methods": "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS",
    "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "*",
    "access-control-max-age": "7200",
  });
  res.end();
}

/** Writes a JSON error straight to a socket (upgrade requests have no ServerResponse) and closes it. */
export function writeSocketError(socket: Duplex, body: ProxyErrorBody): void {
  if (socket.destroyed) return;
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${body.code} ${STATUS_CODES[body.code] ?? ""}\r\n` +
      "content-type: application/json\r\n" +
      `content-length: ${Buffer.byteLength(text)}\r\n` +
      "connection: close\r\n\r\n" +
      text,
  );
}
