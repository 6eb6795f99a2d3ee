import { httpStatusOf, SandpitError } from "@sandpit/protocol";
import type { HttpResponse } from "./http-types.js";

/** Writes a JSON body with envd's content type. */
export function sendJson(res: HttpResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  res.setHeader("Content-Length", Buffer.byteLength(text));
  res.end(text);
}

/** Writes envd's error body `{"code": <status>, "message": "..."}`. */
export function sendError(res: HttpResponse, status: number, message: string): void {
  if (res.headersSent) {
    // Too late for a status: cutting the stream is the only honest signal left.
    res.destroy();
    return;
  }
  sendJson(res, status, { code: status, message });
}

/** Sends a caught error: a SandpitError with its own status, anything else as a 500. */
export function sendCaught(res: HttpResponse, error: unknown, status?: number): void {
  const wrapped = SandpitError.from(error);
  sendError(res, status ?? httpStatusOf(wrapped.code), wrapped.message);
}
