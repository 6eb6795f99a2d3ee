import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

/** A request from node's HTTP/1.1 server or its HTTP/2 compatibility API. */
export type HttpRequest = IncomingMessage | Http2ServerRequest;

/** The response that goes with an HttpRequest. */
export type HttpResponse = ServerResponse | Http2ServerResponse;

/** The first value of a request header, if present. */
export function headerOf(req: HttpRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
