import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";

/** A parser-level error of node's HTTP server, before any route sees the request. */
type ClientError = Error & { code?: string; rawPacket?: unknown };

const STATUS_OF: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
  HPE_URI_OVERFLOW: 414,
};

/**
 * Answers a request the HTTP parser refused (huge headers, a broken request line) with the API's
 * `{code, message}` body and closes the connection: the rest of its bytes cannot be trusted.
 */
export function answerClientError(error: ClientError, socket: Socket): void {
  // A reset or an already half-closed socket has no one left to answer.
  if (error.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = STATUS_OF[error.code ?? ""] ?? 400;
  const message =
    status === 431
      ? "request headers are too large"
      : status === 408
        ? "request timed out"
        : "malformed HTTP request";
  // A HEAD answer has no body, or the client reads the next response from the middle of it.
  const head =
    Buffer.isBuffer(error.rawPacket) && error.rawPacket.subarray(0, 5).toString("latin1") === "HEAD ";
  const body = head ? "" : JSON.stringify({ code: status, message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n` +
      "Content-Type: application/json\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      "Connection: close\r\n\r\n" +
      body,
  );
}
