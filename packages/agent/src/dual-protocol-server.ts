import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { peerClosed } from "./peer-closed.js";

/** A request listener that serves both HTTP/1.1 and HTTP/2 requests. */
export type DualRequestListener = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** One plaintext listener that speaks HTTP/1.1 and HTTP/2 with prior knowledge (h2c). */
export interface DualProtocolServer {
  /** The TCP listener; listen/close/address go through it. */
  readonly server: net.Server;
  /** Ends every connection, idle or busy, so `close()` does not wait for long streams. */
  destroyConnections(): void;
}

const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

// Streams (process output, directory watches) live as long as the client wants, so nothing
// may time out on its own; idle keep-alive connections live long like envd's (640 s) so the
// server never closes one under a client that is just about to reuse it.
const keepAliveTimeoutMs = 640_000;

/** Creates the listener; h2c connections are recognised by the HTTP/2 connection preface. */
export function createDualProtocolServer(listener: DualRequestListener): DualProtocolServer {
  const sockets = new Set<net.Socket>();
  const h1 = http.createServer({ requestTimeout: 0, keepAliveTimeout: keepAliveTimeoutMs }, (req, res) => {
    // An end of input before the answer started: the request read so far is still answered,
    // then the connection closes, and the answer says so, so the client does not send its next
    // request on it. After: a stream (output, a watch) whose client went away, ended at once;
    // one whose client is still there (gVisor's spurious end, see below) goes on, and node
    // closes the connection after it.
    const inputEnded = () => {
      if (!res.headersSent) res.shouldKeepAlive = false;
      else if (peerClosed(req.socket)) req.socket.destroy();
    };
    if (req.socket.readableEnded) inputEnded();
    else {
      req.socket.once("end", inputEnded);
      res.once("close", () => req.socket.off("end", inputEnded));
    }
    listener(req, res);
  });
  h1.timeout = 0;
  // gVisor, restored from a checkpoint, at times reports a hang-up on a fresh connection that
  // is still open, and libuv takes it for an end of input right after the request arrived
  // (measured: the first request after ~half of the restores got a FIN and no answer). Half-open,
  // the request is answered all the same instead of dropped; a client that really half-closes
  // after its request is served too.
  (h1 as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  const h2 = http2.createServer({}, listener);
  h2.on("session", (session) => {
    session.on("error", () => session.destroy());
  });

  const sniff = (socket: net.Socket) => {
    let seen = Buffer.alloc(0);
    const onReadable = () => {
      let chunk: Buffer | null;
      // biome-ignore lint/suspicious/noAssignInExpressions: the usual drain loop of a paused stream
      while ((chunk = socket.read() as Buffer | null) !== null) seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, preface.length);
      const looksH2 = seen.subarray(0, n).equals(preface.subarray(0, n));
      if (looksH2 && seen.length < preface.length) return;
      socket.off("readable", onReadable);
      socket.off("end", onEnd);
      socket.unshift(seen);
      // The HTTP/1.1 server closes a connection itself once its last answer is out.
      if (!looksH2) socket.allowHalfOpen = true;
      // Dropping the readable listener takes effect on the next tick; handing the socket over
      // before then leaves it flowing, so the HTTP server could not pause a fast uploader and
      // would buffer the whole body.
      process.nextTick(() => (looksH2 ? h2 : h1).emit("connection", socket));
    };
    const onEnd = () => socket.destroy();
    socket.on("readable", onReadable);
    socket.once("end", onEnd);
  };

  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    sniff(socket);
  });

  return {
    server,
    destroyConnections() {
      for (const socket of sockets) socket.destroy();
    },
  };
}
