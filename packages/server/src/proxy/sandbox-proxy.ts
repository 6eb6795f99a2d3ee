import { timingSafeEqual } from "node:crypto";
import * as http from "node:http";
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { AGENT_PORT, TRAFFIC_TOKEN_HEADER } from "@sandpit/protocol";
import type { Logger } from "pino";
import { isControlPath } from "./control-paths.js";
import { clientResponseHeaders, headerLines, upstreamRequestHeaders } from "./forward-headers.js";
import {
  answerPreflight,
  isPreflight,
  type ProxyErrorBody,
  portNotOpen,
  sandboxNotFound,
  sendError,
  trafficRefused,
  writeSocketError,
} from "./proxy-responses.js";
import { createRouteMatcher, type FileOperation, type ProxyMatch } from "./route-match.js";

/** Where a sandbox can be reached right now, as the lifecycle sees it; `address` is IPv4, so no DNS. */
export type SandboxRoute =
  | { state: "running"; address: string; trafficToken?: string }
  | { state: "paused"; autoResume: boolean; trafficToken?: string }
  | { state: "gone" };

/** Options of {@link createSandboxProxy}. */
export interface SandboxProxyOptions {
  /** Sandbox domain: Host `<port>-<id>.<domain>` routes to sandbox `<id>`, port `<port>`. */
  domain: string;
  /** Looks a sandbox up; called once per proxied request, so keep it cheap (sync is fine). */
  resolve(sandboxId: string): SandboxRoute | Promise<SandboxRoute>;
  /** Resumes a paused sandbox that has auto-resume and returns its address. */
  resume?(sandboxId: string): Promise<string>;
  /** The sandbox whose access token signed this `/files` URL, which names no sandbox (spec §1). */
  findSignedFileTarget?(url: URL, operation: FileOperation): string | undefined | Promise<string | undefined>;
  /** Port of the in-sandbox agent; default 49983. */
  agentPort?: number;
  /** Errors and severs only: nothing is logged per request on the hot path. */
  logger?: Logger;
}

/** The sandbox half of the server's one port: routing, forwarding, and teardown on kill. */
export interface SandboxProxy {
  /**
   * What a request addresses, or undefined when it is API traffic. A malformed routing
   * attempt gives `{kind: "invalid"}`, which `handle` answers with 400.
   */
  match(req: http.IncomingMessage): ProxyMatch | undefined;
  /** Answers a matched request; never throws and leaves no promise behind. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, match: ProxyMatch): void;
  /** Takes an Upgrade request (WebSocket, HMR) if it is sandbox traffic; false leaves it to the caller. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Abruptly destroys every connection proxied to this sandbox, client side and upstream. */
  sever(sandboxId: string): void;
  /** Destroys every proxied connection and the upstream connection pool. */
  close(): Promise<void>;
}

/** Default port of the in-sandbox agent (envd's). */

// One request (or upgraded connection) in flight to a sandbox; what sever() destroys.
interface Exchange {
  readonly sandboxId: string;
  readonly client: Duplex;
  upstream: http.ClientRequest | Duplex | undefined;
  /** The client side has closed or was severed: nothing more may be sent or started. */
  done: boolean;
}

// Errors of reaching the port, as opposed to the connection failing once established.
const unreachable = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "EADDRNOTAVAIL"]);

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return (
    typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function"
  );
}

// How much of a request body is kept to send again when its connection turns out dead.
const replayLimitBytes = 1024 * 1024;

/** Whether a request may reach a sandbox's port: always when it has no token, else with it. */
function trafficAllowed(expected: string | undefined, presented: string | string[] | undefined): boolean {
  if (expected === undefined) return true;
  if (typeof presented !== "string") return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Creates the sandbox proxy; the caller's server passes it what `match` claims. */
export function createSandboxProxy(options: SandboxProxyOptions): SandboxProxy {
  const agentPort = options.agentPort ?? AGENT_PORT;
  const logger = options.logger;
  const matcher = createRouteMatcher(options.domain);
  // Streams live as long as the client wants: no socket timeout; idle sockets are kept until
  // the upstream's Keep-Alive hint says they would be closed (node honours `timeout=`).
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: Number.POSITIVE_INFINITY,
    maxFreeSockets: 256,
    scheduling: "lifo",
  });
  const live = new Map<string, Set<Exchange>>();
  const addresses = new Map<string, string>();
  const resuming = new Map<string, Promise<string>>();
  let closed = false;

  function track(exchange: Exchange): void {
    let set = live.get(exchange.sandboxId);
    if (set === undefined) {
      set = new Set();
      live.set(exchange.sandboxId, set);
    }
    set.add(exchange);
  }

  function untrack(exchange: Exchange): void {
    const set = live.get(exchange.sandboxId);
    if (set === undefined) return;
    set.delete(exchange);
    if (set.size === 0) live.delete(exchange.sandboxId);
  }

  function destroy(exchange: Exchange): void {
    exchange.done = true;
    exchange.client.destroy();
    resetUpstream(exchange);
  }

  function resetUpstream(exchange: Exchange): void {
    const upstream = exchange.upstream;
    if (upstream instanceof http.ClientRequest) {
      // Destroyed already: failed, or answered in full and its socket handed back to the pool,
      // maybe lent to the next request by now; a reset would break that one.
      if (upstream.destroyed) return;
      if (upstream.socket) reset(upstream.socket);
      upstream.destroy();
    } else if (upstream) reset(upstream);
  }

  // A reset, not a FIN: the sandbox's end then keeps neither a half-closed connection nor a
  // TIME_WAIT, either of which gVisor refuses to checkpoint.
  function reset(socket: Duplex): void {
    if (socket instanceof Socket && !socket.destroyed && socket.readyState !== "opening") {
      socket.resetAndDestroy();
    } else socket.destroy();
  }

  // Idle kept-alive sockets to a dead sandbox's address would otherwise be reused for
  // whichever sandbox gets that address next.
  function forgetAddress(sandboxId: string): void {
    resetIdle(sandboxId);
    addresses.delete(sandboxId);
  }

  // Kept-alive sockets to a paused sandbox are open connections inside it; the address is
  // remembered, so a later sever (before a checkpoint) also finds one that went idle since.
  function resetIdle(sandboxId: string): void {
    const address = addresses.get(sandboxId);
    if (address === undefined) return;
    for (const sockets of Object.values(agent.freeSockets)) {
      for (const socket of sockets ?? []) if (socket.remoteAddress === address) reset(socket);
    }
  }

  function resumeOnce(sandboxId: string, resume: (id: string) => Promise<string>): Promise<string> {
    let pending = resuming.get(sandboxId);
    if (pending === undefined) {
      let started: Promise<string>;
      try {
        started = resume(sandboxId);
      } catch (error) {
        started = Promise.reject(error);
      }
      pending = started.finally(() => {
        if (resuming.get(sandboxId) === pending) resuming.delete(sandboxId);
      });
      resuming.set(sandboxId, pending);
    }
    return pending;
  }

  /**
   * Runs resolve() and, for a paused sandbox with auto-resume, resume(), then calls `proceed`
   * with the address; answers the 502 itself otherwise. Stays synchronous when resolve() is.
   */
  function withAddress(
    exchange: Exchange,
    port: number,
    presentedToken: string | string[] | undefined,
    fail: (body: ProxyErrorBody) => void,
    proceed: (address: string) => void,
  ): void {
    const { sandboxId } = exchange;
    // Failures after the lookup (a throwing proceed) must not become unhandled rejections.
    const safely = (step: () => void) => {
      try {
        step();
      } catch (error) {
        logger?.error({ sandboxId, port, err: error }, "proxy: forwarding failed");
        if (!exchange.done) fail({ sandboxId, message: "The sandbox could not be reached", port, code: 502 });
      }
    };
    const onRoute = (route: SandboxRoute) => {
      if (exchange.done) return;
      // Checked before anything else happens for the request, an auto-resume included.
      if (
        route.state !== "gone" &&
        port !== agentPort &&
        !trafficAllowed(route.trafficToken, presentedToken)
      ) {
        fail(trafficRefused(sandboxId, port));
        return;
      }
      if (route.state === "running") {
        proceed(route.address);
        return;
      }
      if (route.state === "gone") forgetAddress(sandboxId);
      const resume = options.resume;
      if (route.state !== "paused" || !route.autoResume || resume === undefined) {
        fail(sandboxNotFound(sandboxId));
        return;
      }
      resumeOnce(sandboxId, resume).then(
        (address) =>
          safely(() => {
            if (!exchange.done) proceed(address);
          }),
        (error: unknown) => {
          logger?.warn({ sandboxId, err: error }, "proxy: auto-resume failed");
          if (!exchange.done) fail({ sandboxId, message: "The sandbox could not be resumed", code: 502 });
        },
      );
    };
    const onError = (error: unknown) => {
      logger?.error({ sandboxId, port, err: error }, "proxy: looking up the sandbox failed");
      if (!exchange.done) fail({ sandboxId, message: "The sandbox could not be reached", code: 502 });
    };
    let route: SandboxRoute | Promise<SandboxRoute>;
    try {
      route = options.resolve(sandboxId);
    } catch (error) {
      onError(error);
      return;
    }
    if (isThenable(route)) route.then((resolved) => safely(() => onRoute(resolved)), onError);
    else {
      const ready = route;
      safely(() => onRoute(ready));
    }
  }

  function forward(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    exchange: Exchange,
    address: string,
    port: number,
    replay?: readonly Buffer[],
  ): void {
    addresses.set(exchange.sandboxId, address);
    const upstream = http.request({
      host: address,
      port,
      method: req.method,
      path: req.url,
      headers: upstreamRequestHeaders(req, false),
      agent,
    });
    exchange.upstream = upstream;
    let response: http.IncomingMessage | undefined;
    // What this attempt sent of the body, while it may still have to be sent again.
    let sent: Buffer[] | undefined = [];
    let sentBytes = 0;
    const keep = (chunk: Buffer) => {
      sentBytes += chunk.length;
      if (sentBytes > replayLimitBytes) sent = undefined;
      else sent?.push(chunk);
    };
    upstream.on("socket", (socket: Socket) => {
      socket.setNoDelay(true);
      // A reused socket got its listener with its first request.
      if (upstream.reusedSocket) return;
      // The sandbox closed first (an HTTP/1.0 server, `Connection: close`, an idle timeout): a
      // FIN back would leave its end in TIME_WAIT for a minute, for a move to disk to drop. A
      // reset instead; first in line, before the client's own end handling.
      socket.prependListener("end", () => reset(socket));
      // The pool ends a socket idle for as long as the agent's keep-alive hint allows; a reset
      // for the same reason (node's own handler, which would send a FIN, comes after).
      socket.prependListener("timeout", () => {
        if (Object.values(agent.freeSockets).some((free) => free?.includes(socket))) reset(socket);
      });
    });
    upstream.on("response", (upstreamRes) => {
      response = upstreamRes;
      // Answered: it will not be sent again.
      req.off("data", keep);
      sent = undefined;
      if (exchange.done) {
        upstreamRes.destroy();
        return;
      }
      // An answer that closes its connection (`Connection: close`: the agent's answer to the
      // hang-up gVisor reports on a fresh connection after a restore) has node end the socket
      // with a FIN once the body is in; that FIN crosses the sandbox's own and both ends sit in
      // TIME_WAIT for a minute (one a gVisor save without dropping connections refused). A reset
      // instead, before node's own end handling.
      const socket = upstream.socket;
      if (!upstream.shouldKeepAlive && socket) upstreamRes.prependListener("end", () => reset(socket));
      // Dropping the client's connection is how an upstream failure mid-body stays visible:
      // a clean end would read as a complete (truncated) response.
      const abort = () => {
        if (!upstreamRes.complete) res.destroy();
      };
      upstreamRes.on("error", abort);
      upstreamRes.on("close", abort);
      res.writeHead(
        upstreamRes.statusCode ?? 502,
        upstreamRes.statusMessage,
        clientResponseHeaders(upstreamRes),
      );
      // A streamed response (no length) may sit on headers alone for a while; the client must
      // see them now, not with the first message.
      if (upstreamRes.headers["content-length"] === undefined) res.flushHeaders();
      upstreamRes.pipe(res);
    });
    upstream.on("error", (error) => {
      if (exchange.done) return;
      if (response !== undefined) {
        // A complete response still reaches the client whole (an upstream may close on an
        // upload it did not want); an incomplete one must not look complete.
        if (!response.complete) res.destroy();
        return;
      }
      const code = errorCode(error);
      // A kept-alive connection the sandbox had closed (its end of input seen, an idle
      // timeout) fails before any answer: the request never reached it, so it goes again on
      // another connection with what was sent of its body, as long as that was kept.
      if (
        replay === undefined &&
        upstream.reusedSocket &&
        (code === "ECONNRESET" || code === "EPIPE") &&
        sent
      ) {
        req.unpipe(upstream);
        req.off("data", keep);
        req.pause();
        forward(req, res, exchange, address, port, sent);
        return;
      }
      const closedPort = code !== undefined && unreachable.has(code);
      // A closed port is the user's business (a dev server not up yet), not the server's.
      const level = closedPort ? "debug" : "warn";
      logger?.[level]({ sandboxId: exchange.sandboxId, port, err: error }, "proxy: upstream request failed");
      // The failed pipe left the rest of an upload unread; drain it so the 502 reaches a client
      // that is still sending, and its connection stays usable.
      if (!req.complete) req.resume();
      sendError(
        req,
        res,
        closedPort
          ? portNotOpen(exchange.sandboxId, port)
          : { sandboxId: exchange.sandboxId, message: "The sandbox closed the connection", port, code: 502 },
      );
    });
    if (replay === undefined) req.on("data", keep);
    else for (const chunk of replay) upstream.write(chunk);
    if (req.readableEnded) upstream.end();
    else req.pipe(upstream);
  }

  function proxyRequest(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    sandboxId: string,
    port: number,
  ): void {
    if (port === agentPort) {
      if (isControlPath(req.url)) {
        sendError(req, res, { code: 404, message: "path not found" });
        return;
      }
      if (isPreflight(req)) {
        answerPreflight(req, res);
        return;
      }
    }
    const exchange: Exchange = { sandboxId, client: req.socket, upstream: undefined, done: false };
    track(exchange);
    res.once("close", () => {
      untrack(exchange);
      if (exchange.done) return;
      exchange.done = true;
      // The client went away before the whole response reached it: stop the sandbox's side too,
      // with a reset (a FIN racing a pause can leave a closing connection in the sandbox).
      if (!res.writableFinished) resetUpstream(exchange);
    });
    withAddress(
      exchange,
      port,
      req.headers[TRAFFIC_TOKEN_HEADER],
      (body) => sendError(req, res, body),
      (address) => forward(req, res, exchange, address, port),
    );
  }

  function proxySignedFile(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    operation: FileOperation,
  ): void {
    const find = options.findSignedFileTarget;
    // 401 with the agent's own wording: to the caller it is simply a signature no sandbox accepts.
    const refuse = () => sendError(req, res, { code: 401, message: "invalid signature" });
    if (find === undefined) {
      refuse();
      return;
    }
    const onTarget = (sandboxId: string | undefined) => {
      if (res.destroyed) return;
      if (sandboxId === undefined) refuse();
      else proxyRequest(req, res, sandboxId, agentPort);
    };
    const onError = (error: unknown) => {
      logger?.error({ err: error }, "proxy: finding the sandbox of a signed URL failed");
      sendError(req, res, { code: 500, message: "internal error" });
    };
    try {
      const found = find(new URL(req.url ?? "/", "http://localhost"), operation);
      if (isThenable(found)) found.then(onTarget, onError);
      else onTarget(found);
    } catch (error) {
      onError(error);
    }
  }

  function upgrade(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    sandboxId: string,
    port: number,
  ): void {
    const exchange: Exchange = { sandboxId, client: socket, upstream: undefined, done: false };
    track(exchange);
    let upgraded = false;
    socket.once("close", () => {
      untrack(exchange);
      exchange.done = true;
      // Once upgraded, the pipes below end or reset the upstream side as the client did.
      if (!upgraded) resetUpstream(exchange);
    });
    withAddress(
      exchange,
      port,
      req.headers[TRAFFIC_TOKEN_HEADER],
      (body) => writeSocketError(socket, body),
      (address) => {
        addresses.set(sandboxId, address);
        const upstream = http.request({
          host: address,
          port,
          method: req.method,
          path: req.url,
          headers: upstreamRequestHeaders(req, true),
          agent,
        });
        exchange.upstream = upstream;
        let declined: http.IncomingMessage | undefined;
        upstream.on("upgrade", (upstreamRes, upstreamSocket, upstreamHead) => {
          upgraded = true;
          exchange.upstream = upstreamSocket;
          if (exchange.done) {
            upstreamSocket.destroy();
            return;
          }
          upstreamSocket.setNoDelay(true);
          (socket as Partial<Socket>).setNoDelay?.(true);
          socket.write(
            `HTTP/1.1 101 ${upstreamRes.statusMessage ?? "Switching Protocols"}\r\n${headerLines(upstreamRes.rawHeaders)}\r\n`,
          );
          if (upstreamHead.length > 0) socket.write(upstreamHead);
          if (head.length > 0) upstreamSocket.write(head);
          // An end passes through as an end; a reset or error on one side resets the other.
          upstreamSocket.on("error", () => socket.destroy());
          upstreamSocket.on("close", () => {
            if (!socket.writableEnded) socket.destroy();
          });
          socket.on("close", () => {
            if (!upstreamSocket.writableEnded) upstreamSocket.destroy();
          });
          upstreamSocket.pipe(socket);
          socket.pipe(upstreamSocket);
        });
        upstream.on("response", (upstreamRes) => {
          // The upstream declined to switch protocols; relay its answer and close.
          declined = upstreamRes;
          if (exchange.done) {
            upstreamRes.destroy();
            return;
          }
          // The body is relayed decoded and ends with the connection, so no length or chunking.
          const headers = headerLines(clientResponseHeaders(upstreamRes, ["content-length"]));
          socket.write(
            `HTTP/1.1 ${upstreamRes.statusCode} ${upstreamRes.statusMessage}\r\n${headers}connection: close\r\n\r\n`,
          );
          upstreamRes.on("error", () => socket.destroy());
          upstreamRes.on("close", () => {
            if (!upstreamRes.complete) socket.destroy();
          });
          upstreamRes.pipe(socket);
        });
        upstream.on("error", (error) => {
          if (exchange.done || upgraded) return;
          if (declined !== undefined) {
            if (!declined.complete) socket.destroy();
            return;
          }
          logger?.warn({ sandboxId, port, err: error }, "proxy: upstream upgrade failed");
          const code = errorCode(error);
          writeSocketError(
            socket,
            code !== undefined && unreachable.has(code)
              ? portNotOpen(sandboxId, port)
              : { sandboxId, message: "The sandbox closed the connection", port, code: 502 },
          );
        });
        upstream.end();
      },
    );
  }

  return {
    match(req) {
      return matcher(req);
    },

    handle(req, res, match) {
      try {
        if (closed) {
          sendError(req, res, { code: 503, message: "the server is shutting down" });
          return;
        }
        switch (match.kind) {
          case "invalid":
            sendError(req, res, { code: 400, message: match.message });
            return;
          case "signed-file":
            if (match.operation === "preflight") {
              if (isPreflight(req)) answerPreflight(req, res);
              else sendError(req, res, { code: 405, message: "method OPTIONS not allowed on /files" });
            } else {
              proxySignedFile(req, res, match.operation);
            }
            return;
          case "sandbox":
            proxyRequest(req, res, match.sandboxId, match.port);
            return;
        }
      } catch (error) {
        logger?.error({ err: error }, "proxy: handling a request failed");
        sendError(req, res, { code: 500, message: "internal error" });
      }
    },

    handleUpgrade(req, socket, head) {
      const match = matcher(req);
      if (match === undefined) return false;
      socket.on("error", () => socket.destroy());
      try {
        if (closed) writeSocketError(socket, { code: 503, message: "the server is shutting down" });
        else if (match.kind === "invalid") writeSocketError(socket, { code: 400, message: match.message });
        else if (match.kind === "signed-file") {
          writeSocketError(socket, { code: 400, message: "upgrade is not supported on /files" });
        } else if (match.port === agentPort && isControlPath(req.url)) {
          writeSocketError(socket, { code: 404, message: "path not found" });
        } else upgrade(req, socket, head, match.sandboxId, match.port);
      } catch (error) {
        logger?.error({ err: error }, "proxy: handling an upgrade failed");
        socket.destroy();
      }
      return true;
    },

    sever(sandboxId) {
      const exchanges = live.get(sandboxId);
      live.delete(sandboxId);
      resuming.delete(sandboxId);
      if (exchanges !== undefined) for (const exchange of exchanges) destroy(exchange);
      // A paused sandbox keeps its address; a dead one's is forgotten with its sockets.
      let route: SandboxRoute | Promise<SandboxRoute> | undefined;
      try {
        route = options.resolve(sandboxId);
      } catch {
        route = undefined;
      }
      if (route !== undefined && !isThenable(route) && route.state === "paused") resetIdle(sandboxId);
      else forgetAddress(sandboxId);
      if (exchanges !== undefined) logger?.info({ sandboxId, connections: exchanges.size }, "proxy: severed");
    },

    close() {
      closed = true;
      for (const exchanges of live.values()) for (const exchange of exchanges) destroy(exchange);
      live.clear();
      addresses.clear();
      resuming.clear();
      agent.destroy();
      // Destroyed sockets report 'close' on a later tick; let that settle before resolving.
      return new Promise((resolve) => setImmediate(resolve));
    },
  };
}
