import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import { decodeAddress, procNetTcpPaths } from "./port-forwarding/tcp-listeners.js";

// A connection whose peer sent its FIN while this side is still open.
const closeWait = "08";

/** The state (two hex digits) of the connection between two endpoints in a /proc/net/tcp table. */
export function connectionState(
  table: string,
  local: { address: string; port: number },
  remote: { address: string; port: number },
): string | undefined {
  const endpoint = (text: string | undefined) => {
    const colon = text?.indexOf(":") ?? -1;
    if (text === undefined || colon < 0) return undefined;
    return { address: decodeAddress(text.slice(0, colon)), port: Number.parseInt(text.slice(colon + 1), 16) };
  };
  for (const line of table.split("\n")) {
    const fields = line.trim().split(/\s+/);
    const l = endpoint(fields[1]);
    const r = endpoint(fields[2]);
    if (l?.port !== local.port || r?.port !== remote.port) continue;
    if (l.address === local.address && r.address === remote.address) return fields[3];
  }
  return undefined;
}

/**
 * Whether the peer of `socket` has really ended its side: the socket tables say CLOSE_WAIT, or
 * the connection cannot be found there. gVisor, restored from a checkpoint, at times reports
 * an end of input on a connection that is still open (its state stays ESTABLISHED); a stream
 * on it must go on.
 */
export function peerClosed(socket: Socket): boolean {
  const { localAddress, localPort, remoteAddress, remotePort } = socket;
  if (!localAddress || !localPort || !remoteAddress || !remotePort) return true;
  const unmapped = (a: string) => a.replace(/^::ffff:/, "");
  const local = { address: unmapped(localAddress), port: localPort };
  const remote = { address: unmapped(remoteAddress), port: remotePort };
  for (const path of procNetTcpPaths) {
    let table: string;
    try {
      table = readFileSync(path, "latin1");
    } catch {
      continue;
    }
    const state = connectionState(table, local, remote);
    if (state !== undefined) return state === closeWait;
  }
  return true;
}
