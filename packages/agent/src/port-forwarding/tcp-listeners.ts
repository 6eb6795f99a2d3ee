import { closeSync, openSync, readSync } from "node:fs";
import { isIPv4 } from "node:net";
import { endianness } from "node:os";

/** A TCP socket in LISTEN state: its local address (IPv4 or IPv6 text form) and port. */
export interface TcpListener {
  readonly address: string;
  readonly port: number;
}

/** The kernel's (and gVisor's) tables of TCP sockets, IPv4 then IPv6. */
export const procNetTcpPaths: readonly string[] = ["/proc/net/tcp", "/proc/net/tcp6"];

const listenState = "0A";
const littleEndian = endianness() === "LE";

// The kernel prints each 32-bit word of the address as a number in host byte order, so on a
// little-endian machine 127.0.0.1 reads "0100007F": each word's bytes must be turned around.
function wordBytes(hex: string): number[] {
  const bytes = [0, 2, 4, 6].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  return littleEndian ? bytes.reverse() : bytes;
}

/** The text form of an address as /proc/net/tcp{,6} prints it; undefined when malformed. */
export function decodeAddress(hex: string): string | undefined {
  if (!/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  if (hex.length === 8) return wordBytes(hex).join(".");
  if (hex.length !== 32) return undefined;
  const bytes = [0, 8, 16, 24].flatMap((i) => wordBytes(hex.slice(i, i + 8)));
  // A v4-mapped address (::ffff:a.b.c.d) is an IPv4 socket as far as anyone connecting is concerned.
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return bytes.slice(12).join(".");
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return compressIPv6(groups);
}

// Canonical text form (RFC 5952): the longest run of two or more zero groups becomes "::".
function compressIPv6(groups: string[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === "0") j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(":");
  const head = groups.slice(0, bestStart).join(":");
  const tail = groups.slice(bestStart + bestLength).join(":");
  return `${head}::${tail}`;
}

/** Parses the text of /proc/net/tcp or /proc/net/tcp6 into its listening sockets. */
export function parseTcpListeners(text: string): TcpListener[] {
  const listeners: TcpListener[] = [];
  for (const line of text.split("\n")) {
    // "  sl  local_address rem_address   st ...": fields 1 and 3 are the ones we need.
    const fields = line.trim().split(/\s+/);
    if (fields[3] !== listenState) continue;
    const local = fields[1] ?? "";
    const colon = local.indexOf(":");
    if (colon < 0) continue;
    const address = decodeAddress(local.slice(0, colon));
    const port = Number.parseInt(local.slice(colon + 1), 16);
    if (address === undefined || !Number.isInteger(port) || port <= 0 || port > 65535) continue;
    listeners.push({ address, port });
  }
  return listeners;
}

/** Reads the socket tables again and again through descriptors it keeps open. */
export interface TcpListenerReader {
  /** Every listening socket now. A missing table (no IPv6) counts as empty; other errors throw. */
  read(): TcpListener[];
  /** Closes the descriptors. */
  close(): void;
}

/**
 * Creates a reader of the given tables. Reads are synchronous and positional on descriptors
 * opened once: /proc never waits for a disk, and under gVisor this costs ~0.1 ms of CPU a
 * scan where fs.promises.readFile of both tables costs 3–6 ms (thread-pool hops, open and
 * close each time). Reading from offset 0 makes the kernel (and gVisor) render the table anew.
 */
export function createTcpListenerReader(paths: readonly string[] = procNetTcpPaths): TcpListenerReader {
  const fds: (number | undefined)[] = paths.map(() => undefined);
  let buffer = Buffer.alloc(64 * 1024);

  function readTable(index: number): string {
    let fd = fds[index];
    if (fd === undefined) {
      try {
        fd = openSync(paths[index] as string, "r");
      } catch (error) {
        if ((error as { code?: string }).code === "ENOENT") return "";
        throw error;
      }
      fds[index] = fd;
    }
    try {
      let length = 0;
      for (;;) {
        if (length === buffer.length) buffer = Buffer.concat([buffer, Buffer.alloc(buffer.length)]);
        const n = readSync(fd, buffer, length, buffer.length - length, length);
        if (n === 0) break;
        length += n;
      }
      return buffer.toString("latin1", 0, length);
    } catch (error) {
      // Reopen on the next read, in case the descriptor went bad (after a restore, say).
      closeSync(fd);
      fds[index] = undefined;
      throw error;
    }
  }

  return {
    read: () => paths.flatMap((_, i) => parseTcpListeners(readTable(i))),
    close() {
      for (const fd of fds) if (fd !== undefined) closeSync(fd);
      fds.fill(undefined);
    },
  };
}

/** Whether an address is a loopback one: 127.0.0.0/8 or ::1. */
export function isLoopbackAddress(address: string): boolean {
  return isIPv4(address) ? address.startsWith("127.") : address === "::1";
}

/** Whether an address is the IPv4 or IPv6 wildcard, which makes a port reachable from outside. */
export function isWildcardAddress(address: string): boolean {
  return address === "0.0.0.0" || address === "::";
}
