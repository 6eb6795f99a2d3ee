import { createServer, isIPv4, type Server, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import { type AgentLog, logJson } from "../agent-log.js";
import { abortSocket, type RelayTarget, relayConnection } from "./relay-connection.js";
import {
  createTcpListenerReader,
  isLoopbackAddress,
  isWildcardAddress,
  type TcpListener,
} from "./tcp-listeners.js";

/** Options of {@link createPortForwarder}; every one has the in-sandbox default. */
export interface PortForwarderOptions {
  /** Tables of TCP sockets to scan; default /proc/net/tcp and /proc/net/tcp6. */
  procNetTcpPaths?: readonly string[];
  /** Time between scans; default 250 ms. */
  intervalMs?: number;
  /** Time between scans while boosted; default 100 ms. */
  boostIntervalMs?: number;
  /** How long {@link PortForwarder.boost} lasts; default 10 s. */
  boostDurationMs?: number;
  /** Addresses to listen on; default the non-internal IPv4 addresses of the interfaces. */
  externalAddresses?: () => readonly string[];
  /** Ports never forwarded, such as the agent's own. */
  excludedPorts?: readonly number[];
  /** Where forwards opening and closing are logged; default JSON lines on stdout. */
  log?: AgentLog;
}

/** Makes servers listening only on loopback reachable on the sandbox's external addresses. */
export interface PortForwarder {
  /** Scans once now and brings the forwards in line with what listens; never rejects. */
  scan(): Promise<void>;
  /** Scans more often for a while, because a process just started and may soon listen. */
  boost(): void;
  /** Stops scanning, closes every forward and drops its connections. */
  close(): Promise<void>;
}

/** The default time between scans: a new dev server is reachable within about this long. */
export const defaultScanIntervalMs = 250;

/** A forward the scan says should exist. */
interface PlannedForward {
  readonly address: string;
  readonly port: number;
  readonly target: RelayTarget;
}

/** One listening socket on one external address, relaying to one loopback listener. */
interface Forward {
  readonly planned: PlannedForward;
  readonly server: Server;
  /** Both sides of every relayed connection, to drop them with the forward. */
  readonly sockets: Set<Socket>;
}

const keyOf = (address: string, port: number) => `${address} ${port}`;

/**
 * The non-internal IPv4 addresses of this machine's interfaces (in a sandbox: eth0's). They
 * rarely change and asking costs ~0.4 ms under gVisor, so an answer is reused for 5 s.
 */
function cachedInterfaceAddresses(): () => readonly string[] {
  let addresses: readonly string[] = [];
  let askedAt = Number.NEGATIVE_INFINITY;
  return () => {
    if (Date.now() - askedAt > 5000) {
      addresses = Object.values(networkInterfaces())
        .flatMap((list) => list ?? [])
        .filter((a) => a.family === "IPv4" && !a.internal)
        .map((a) => a.address);
      askedAt = Date.now();
    }
    return addresses;
  };
}

/**
 * Decides which (external address, port) pairs to forward where. Sockets the forwarder owns
 * are left out, or each forward would look like a reason to drop itself. A port with a
 * wildcard listener is reachable already; an external address someone else listens on is
 * theirs. IPv4 loopback targets win over ::1, which fewer servers bind alone.
 */
export function planForwards(
  listeners: readonly TcpListener[],
  owned: ReadonlySet<string>,
  excludedPorts: ReadonlySet<number>,
  externalAddresses: () => readonly string[],
): Map<string, PlannedForward> {
  const boundByPort = new Map<number, string[]>();
  const wildcardPorts = new Set<number>();
  for (const { address, port } of listeners) {
    if (excludedPorts.has(port) || owned.has(keyOf(address, port))) continue;
    if (isWildcardAddress(address)) wildcardPorts.add(port);
    const bound = boundByPort.get(port) ?? [];
    bound.push(address);
    boundByPort.set(port, bound);
  }
  const plan = new Map<string, PlannedForward>();
  const candidates = [...boundByPort].filter(
    ([port, bound]) => !wildcardPorts.has(port) && bound.some(isLoopbackAddress),
  );
  // Most scans find nothing to forward; only then is it worth asking for the interfaces.
  if (candidates.length === 0) return plan;
  const external = externalAddresses();
  for (const [port, bound] of candidates) {
    const loopback = bound.filter((a) => isLoopbackAddress(a) && !external.includes(a));
    const host = loopback.find((a) => isIPv4(a)) ?? loopback[0];
    if (host === undefined) continue;
    for (const address of external) {
      if (bound.includes(address)) continue;
      plan.set(keyOf(address, port), { address, port, target: { host, port } });
    }
  }
  return plan;
}

/**
 * Starts watching for TCP servers that listen only on a loopback address and forwards each
 * one's port from the external addresses to it, for as long as it listens (ARCHITECTURE:
 * users expect `getHost(port)` to reach a dev server bound to 127.0.0.1). Polls the socket
 * tables: the kernel offers no event for "someone started listening" that node can read.
 */
export function createPortForwarder(options: PortForwarderOptions = {}): PortForwarder {
  const reader = createTcpListenerReader(options.procNetTcpPaths);
  const intervalMs = options.intervalMs ?? defaultScanIntervalMs;
  const boostIntervalMs = options.boostIntervalMs ?? 100;
  const boostDurationMs = options.boostDurationMs ?? 10_000;
  const externalAddresses = options.externalAddresses ?? cachedInterfaceAddresses();
  const excludedPorts = new Set(options.excludedPorts ?? []);
  const log = options.log ?? logJson;

  const forwards = new Map<string, Forward>();
  // Failures other than a lost race are logged once per forward (and once for reading the
  // tables), not at every scan.
  const reported = new Set<string>();
  let queue: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let boostedUntil = 0;
  let closed = false;

  function closeForward(key: string): Promise<void> {
    const forward = forwards.get(key);
    if (forward === undefined) return Promise.resolve();
    forwards.delete(key);
    for (const socket of forward.sockets) abortSocket(socket);
    return new Promise((resolve) => forward.server.close(() => resolve()));
  }

  function openForward(key: string, planned: PlannedForward): Promise<void> {
    const sockets = new Set<Socket>();
    const track = (socket: Socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    };
    const server = createServer({ allowHalfOpen: true }, (client) => {
      track(client);
      track(relayConnection(client, planned.target));
    });
    return new Promise((resolve) => {
      const onListenError = (error: NodeJS.ErrnoException) => {
        // EADDRINUSE: a wildcard listener won the race; EADDRNOTAVAIL: the address went away.
        // Either way the next scan decides again.
        if (error.code !== "EADDRINUSE" && error.code !== "EADDRNOTAVAIL" && !reported.has(key)) {
          reported.add(key);
          log({
            msg: "port forward failed",
            address: planned.address,
            port: planned.port,
            error: error.message,
          });
        }
        resolve();
      };
      server.once("error", onListenError);
      server.listen({ host: planned.address, port: planned.port, exclusive: true }, () => {
        server.off("error", onListenError);
        server.on("error", (error) => {
          log({
            msg: "port forward failed",
            address: planned.address,
            port: planned.port,
            error: error.message,
          });
          void closeForward(key);
        });
        forwards.set(key, { planned, server, sockets });
        reported.delete(key);
        log({
          msg: "port forward opened",
          address: planned.address,
          port: planned.port,
          target: planned.target.host,
        });
        resolve();
      });
    });
  }

  async function runScan(): Promise<void> {
    if (closed) return;
    let listeners: TcpListener[];
    try {
      listeners = reader.read();
    } catch (error) {
      // Keep the forwards as they are: an unreadable table says nothing about who listens.
      if (!reported.has("scan")) log({ msg: "port scan failed", error: (error as Error).message });
      reported.add("scan");
      return;
    }
    reported.delete("scan");
    const plan = planForwards(listeners, new Set(forwards.keys()), excludedPorts, externalAddresses);
    const changes: Promise<void>[] = [];
    for (const [key, { planned }] of forwards) {
      if (plan.get(key)?.target.host === planned.target.host) continue;
      log({ msg: "port forward closed", address: planned.address, port: planned.port });
      changes.push(closeForward(key));
    }
    await Promise.all(changes);
    if (closed) return;
    await Promise.all(
      [...plan].filter(([key]) => !forwards.has(key)).map(([key, planned]) => openForward(key, planned)),
    );
  }

  function scan(): Promise<void> {
    // One scan at a time: two overlapping ones would both try to open the same forward.
    queue = queue.then(runScan).catch((error: unknown) => {
      log({ msg: "port scan failed", error: String(error) });
    });
    return queue;
  }

  function schedule(): void {
    if (closed) return;
    const delay = Date.now() < boostedUntil ? boostIntervalMs : intervalMs;
    timer = setTimeout(() => {
      timer = undefined;
      void scan().then(schedule);
    }, delay);
    // The agent's own server keeps the process alive; a forgotten forwarder must not.
    timer.unref();
  }

  schedule();

  return {
    scan,
    boost() {
      boostedUntil = Date.now() + boostDurationMs;
      // Pull a far-off next scan closer; while a scan runs, the next schedule() sees the boost.
      if (timer !== undefined) {
        clearTimeout(timer);
        schedule();
      }
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      await queue;
      reader.close();
      await Promise.all([...forwards.keys()].map(closeForward));
    },
  };
}
