import type { Socket } from "node:net";
import type { HttpRequest, HttpResponse } from "./http-types.js";

/** Options of {@link drainRefusedBody}; the defaults suit every route. */
export interface DrainRefusedBodyOptions {
  /** Bytes read and thrown away before the connection is given up instead. */
  limitBytes?: number;
  /** How long the rest of the body may take to arrive before the connection is given up. */
  timeoutMs?: number;
  /** How long a given-up connection stays half-closed so the client can read the answer. */
  lingerMs?: number;
}

const defaultLimitBytes = 8 * 1024 * 1024;
const defaultTimeoutMs = 10_000;
const defaultLingerMs = 2_000;

/**
 * Gets a request whose answer is already decided (an error before or while its body was read)
 * out of the way of the next request on the same connection. Call it before writing the answer.
 *
 * On HTTP/1.1 unread body bytes would be parsed as the next request, so the rest of the body is
 * read and discarded, up to a bound; then the connection stays reusable. A larger or slower body
 * gets `Connection: close` instead, and the socket is half-closed after the answer and closed only
 * a little later: closing at once, with the client still sending, resets the connection and
 * its TCP stack may drop the answer before anyone reads it (a proxy then reports 502).
 */
export async function drainRefusedBody(
  req: HttpRequest,
  res: HttpResponse,
  options: DrainRefusedBodyOptions = {},
): Promise<void> {
  // Complete: the whole body is off the wire already, whether or not anyone read it.
  if (req.complete || req.readableEnded) return;
  // Whatever still consumes the body (a multipart parser, a gunzip) would pause it under us.
  req.unpipe();
  if (req.httpVersionMajor !== 1) {
    // HTTP/2 ends the stream on its own once the answer is sent; the connection is unaffected.
    req.resume();
    return;
  }
  const limit = options.limitBytes ?? defaultLimitBytes;
  // A destroyed request reads nothing more: only closing the connection is left.
  const ended = await new Promise<boolean>((resolve) => {
    if (req.destroyed) {
      resolve(false);
      return;
    }
    let seen = 0;
    const finish = (value: boolean) => {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("close", onGone);
      req.off("error", onGone);
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) finish(false);
    };
    const onEnd = () => finish(true);
    const onGone = () => finish(false);
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? defaultTimeoutMs);
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("close", onGone);
    req.once("error", onGone);
    // A pipe that pushed back paused it, and a data listener alone does not undo that.
    req.resume();
  });
  if (ended || res.headersSent) return;
  res.setHeader("Connection", "close");
  const socket = req.socket as Socket | null;
  if (socket) {
    const linger = options.lingerMs ?? defaultLingerMs;
    // node calls destroySoon() once a `Connection: close` answer is written.
    socket.destroySoon = () => {
      socket.end(() => setTimeout(() => socket.destroy(), linger).unref());
    };
  }
  // Keep discarding so the client can finish sending and get to the answer.
  req.resume();
}
