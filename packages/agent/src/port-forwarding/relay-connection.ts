import { connect, type Socket } from "node:net";

/** Where a forwarded connection goes. */
export interface RelayTarget {
  readonly host: string;
  readonly port: number;
}

/**
 * Tears a socket down with a reset, so the peer cannot take a cut-off stream for a complete
 * one. A socket whose sending side was ended is only destroyed: while its shutdown is in
 * flight libuv refuses the reset (EINVAL) and node then never closes the handle.
 */
export function abortSocket(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded || socket.connecting) socket.destroy();
  else socket.resetAndDestroy();
}

/**
 * Connects an accepted socket to the target and pipes bytes both ways. Each direction's end
 * is passed on as a half-close (the accepting server must use `allowHalfOpen`), so a client
 * that shuts down its sending side still gets the whole answer. An error on either side
 * destroys both. Returns the outbound socket, already connecting.
 */
export function relayConnection(client: Socket, target: RelayTarget): Socket {
  const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true });
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  const abortBoth = () => {
    abortSocket(client);
    abortSocket(upstream);
  };
  client.on("error", abortBoth);
  upstream.on("error", abortBoth);
  // A socket destroyed without an error (the forwarder closing) takes its partner along, or
  // the partner would wait forever.
  client.on("close", (hadError) => {
    if (hadError || !client.readableEnded || !client.writableFinished) abortSocket(upstream);
  });
  upstream.on("close", (hadError) => {
    if (hadError || !upstream.readableEnded || !upstream.writableFinished) abortSocket(client);
  });
  client.pipe(upstream);
  upstream.pipe(client);
  return upstream;
}
