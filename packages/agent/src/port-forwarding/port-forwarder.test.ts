import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, connect, createServer, isIPv4, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { createPortForwarder, type PortForwarder, planForwards } from "./port-forwarder.js";
import type { TcpListener } from "./tcp-listeners.js";

// 127.0.0.2 stands in for the sandbox's eth0 address: on Linux the whole of 127/8 is local, so
// the forwarder can bind it beside a server on 127.0.0.1:PORT without touching real interfaces.
const external = "127.0.0.2";
const never = 3_600_000;

/** Hex of an address the way a little-endian kernel prints it in /proc/net/tcp{,6}. */
function procHex(address: string): string {
  const word = (bytes: number[]) =>
    bytes
      .reverse()
      .map((b) => b.toString(16).padStart(2, "0").toUpperCase())
      .join("");
  if (isIPv4(address)) return word(address.split(".").map(Number));
  assert.ok(address === "::1" || address === "::", "the fixture writes only ::1 and :: for IPv6");
  return `${"0".repeat(24)}${word([0, 0, 0, address === "::1" ? 1 : 0])}`;
}

/** Throwaway /proc/net/tcp and tcp6 files whose LISTEN rows the test sets. */
class ProcFixture {
  readonly dir = mkdtempSync(join(tmpdir(), "port-forwarder-"));
  readonly paths = [join(this.dir, "tcp"), join(this.dir, "tcp6")];

  constructor() {
    this.set([]);
  }

  set(listeners: TcpListener[]): void {
    const header =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    const rows = (v6: boolean) =>
      listeners
        .filter((l) => isIPv4(l.address) !== v6)
        .map((l, i) => {
          const port = l.port.toString(16).toUpperCase().padStart(4, "0");
          const zero = "0".repeat(v6 ? 32 : 8);
          return `   ${i}: ${procHex(l.address)}:${port} ${zero}:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 ${4000 + i} 1\n`;
        })
        .join("");
    writeFileSync(this.paths[0] as string, header + rows(false));
    writeFileSync(this.paths[1] as string, header + rows(true));
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A server on a real port that remembers its connections, so closing it ends them too. */
type TestServer = Server & { port: number; sockets: Set<Socket> };

async function startServer(
  host: string,
  port: number,
  onSocket: (socket: Socket) => void,
): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    onSocket(socket);
  });
  server.listen(port, host);
  await once(server, "listening");
  return Object.assign(server, { port: (server.address() as AddressInfo).port, sockets });
}

/** An echo server that honours half-close: it answers until the client ends, then ends too. */
function startEchoServer(host: string, port = 0): Promise<TestServer> {
  return startServer(host, port, (socket) => socket.pipe(socket));
}

async function closeServer(server: TestServer): Promise<void> {
  for (const socket of server.sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function connectTo(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/** Sends `payload`, half-closes, and collects everything until the other side ends. */
async function roundTrip(host: string, port: number, payload: Buffer): Promise<Buffer> {
  const socket = await connectTo(host, port);
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.end(payload);
  await once(socket, "close");
  return Buffer.concat(chunks);
}

/** Resolves when the socket closes, however it ends (a reset is expected here, not a failure). */
function closed(socket: Socket): Promise<void> {
  socket.on("error", () => undefined);
  return new Promise((resolve) => socket.once("close", () => resolve()));
}

async function assertRefused(host: string, port: number, message: string): Promise<void> {
  await assert.rejects(connectTo(host, port), { code: "ECONNREFUSED" }, message);
}

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A forwarder over a fixture, scanned only when the test says so unless told otherwise. */
function startForwarder(
  proc: ProcFixture,
  options: Parameters<typeof createPortForwarder>[0] = {},
): PortForwarder & { logged: Record<string, unknown>[] } {
  const logged: Record<string, unknown>[] = [];
  const forwarder = createPortForwarder({
    procNetTcpPaths: proc.paths,
    intervalMs: never,
    externalAddresses: () => [external],
    log: (event) => logged.push(event),
    ...options,
  });
  return Object.assign(forwarder, { logged });
}

describe("createPortForwarder over real sockets", () => {
  test("forwards a loopback-only server, bytes both ways with half-close, then closes when it goes", async () => {
    const proc = new ProcFixture();
    const target = await startEchoServer("127.0.0.1");
    const forwarder = startForwarder(proc);
    try {
      await forwarder.scan();
      await assertRefused(external, target.port, "nothing forwarded before the server shows up");

      proc.set([{ address: "127.0.0.1", port: target.port }]);
      await forwarder.scan();
      const payload = randomBytes(1 << 20);
      const echoed = await roundTrip(external, target.port, payload);
      assert.equal(echoed.length, payload.length);
      assert.ok(echoed.equals(payload), "the echo came back intact through the forward");
      await until(async () => target.sockets.size === 0, 2000);
      assert.deepEqual(forwarder.logged, [
        { msg: "port forward opened", address: external, port: target.port, target: "127.0.0.1" },
      ]);

      // A scan that finds the same server again changes nothing, and keeps live connections.
      const live = await connectTo(external, target.port);
      live.setEncoding("utf8");
      live.write("ping");
      assert.equal((await once(live, "data"))[0], "ping");
      await forwarder.scan();
      live.write("again");
      assert.equal((await once(live, "data"))[0], "again");

      // The server stops listening: the forward closes and takes its connections with it.
      proc.set([]);
      const liveClosed = closed(live);
      await forwarder.scan();
      await liveClosed;
      await assertRefused(external, target.port, "the forward is gone");
      assert.deepEqual(forwarder.logged.at(-1), {
        msg: "port forward closed",
        address: external,
        port: target.port,
      });
    } finally {
      await forwarder.close();
      await closeServer(target);
      proc.remove();
    }
  });

  test("a port with a wildcard listener, or an excluded port, is never forwarded", async () => {
    const proc = new ProcFixture();
    const target = await startEchoServer("127.0.0.1");
    const excluded = await startEchoServer("127.0.0.1");
    const forwarder = startForwarder(proc, { excludedPorts: [excluded.port] });
    try {
      for (const wildcard of ["0.0.0.0", "::"]) {
        proc.set([
          { address: "127.0.0.1", port: target.port },
          { address: wildcard, port: target.port },
          { address: "127.0.0.1", port: excluded.port },
        ]);
        await forwarder.scan();
        await assertRefused(external, target.port, `${wildcard} makes it reachable already`);
        await assertRefused(external, excluded.port, "excluded");
      }
      assert.deepEqual(forwarder.logged, []);
    } finally {
      await forwarder.close();
      await closeServer(target);
      await closeServer(excluded);
      proc.remove();
    }
  });

  test("a lost race for the external address (EADDRINUSE) is skipped quietly and retried", async () => {
    const proc = new ProcFixture();
    const target = await startEchoServer("127.0.0.1");
    // Someone grabbed the external address after the scan read the table.
    const squatter = await startEchoServer(external, target.port);
    const forwarder = startForwarder(proc);
    try {
      proc.set([{ address: "127.0.0.1", port: target.port }]);
      await forwarder.scan();
      assert.deepEqual(forwarder.logged, [], "no noise about a race");
      await closeServer(squatter);
      await forwarder.scan();
      assert.equal((await roundTrip(external, target.port, Buffer.from("hi"))).toString(), "hi");
    } finally {
      await forwarder.close();
      await closeServer(target);
      proc.remove();
    }
  });

  test("a server on ::1 alone is reached over IPv6", async (t) => {
    let target: TestServer;
    try {
      target = await startEchoServer("::1");
    } catch {
      t.skip("this machine has no ::1");
      return;
    }
    const proc = new ProcFixture();
    const forwarder = startForwarder(proc);
    try {
      proc.set([{ address: "::1", port: target.port }]);
      await forwarder.scan();
      assert.equal((await roundTrip(external, target.port, Buffer.from("six"))).toString(), "six");
      assert.equal(forwarder.logged[0]?.target, "::1");
    } finally {
      await forwarder.close();
      await closeServer(target);
      proc.remove();
    }
  });

  test("an error on either side destroys the other", async () => {
    const proc = new ProcFixture();
    const target = await startServer("127.0.0.1", 0, () => undefined);
    const forwarder = startForwarder(proc);
    try {
      proc.set([{ address: "127.0.0.1", port: target.port }]);
      await forwarder.scan();

      // The server resets the connection: the client's side is torn down too.
      let accepted = once(target, "connection") as Promise<[Socket]>;
      const client = await connectTo(external, target.port);
      const clientClosed = closed(client);
      (await accepted)[0].resetAndDestroy();
      await clientClosed;

      // The client resets: the server's side is torn down too.
      accepted = once(target, "connection") as Promise<[Socket]>;
      const second = await connectTo(external, target.port);
      const serverClosed = closed((await accepted)[0]);
      second.resetAndDestroy();
      await serverClosed;
    } finally {
      await forwarder.close();
      await closeServer(target);
      proc.remove();
    }
  });

  test("a listener that refuses (gone between scans) closes the client's connection", async () => {
    const proc = new ProcFixture();
    const target = await startEchoServer("127.0.0.1");
    const forwarder = startForwarder(proc);
    try {
      proc.set([{ address: "127.0.0.1", port: target.port }]);
      await forwarder.scan();
      await closeServer(target);
      await closed(await connectTo(external, target.port));
    } finally {
      await forwarder.close();
      proc.remove();
    }
  });

  test("scans on its own timer, and boost() brings a slow timer forward", async () => {
    const proc = new ProcFixture();
    const target = await startEchoServer("127.0.0.1");
    const reachable = async () =>
      connectTo(external, target.port).then(
        (s) => {
          s.destroy();
          return true;
        },
        () => false,
      );
    proc.set([{ address: "127.0.0.1", port: target.port }]);
    const timed = startForwarder(proc, { intervalMs: 20 });
    try {
      await until(reachable, 2000);
    } finally {
      await timed.close();
    }
    await assertRefused(external, target.port, "close() takes the forward down");

    const boosted = startForwarder(proc, { boostIntervalMs: 20, boostDurationMs: 5000 });
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await reachable(), false, "the slow timer has not fired");
      boosted.boost();
      await until(reachable, 2000);
    } finally {
      await boosted.close();
      await closeServer(target);
      proc.remove();
    }
  });

  test("closing a forward after the client's FIN leaves no socket handle behind", async () => {
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;
    const before = sockets();
    const proc = new ProcFixture();
    const target = await startServer("127.0.0.1", 0, () => undefined);
    const forwarder = startForwarder(proc);
    try {
      proc.set([{ address: "127.0.0.1", port: target.port }]);
      await forwarder.scan();
      const accepted = once(target, "connection") as Promise<[Socket]>;
      const client = await connectTo(external, target.port);
      const clientClosed = closed(client);
      client.end();
      await once((await accepted)[0], "end");
      proc.set([]);
      await forwarder.scan();
      await clientClosed;
    } finally {
      await forwarder.close();
      await closeServer(target);
      proc.remove();
    }
    await until(async () => sockets() <= before, 2000);
  });

  test("close() drops live connections", async () => {
    const proc = new ProcFixture();
    const target = await startEchoServer("127.0.0.1");
    const forwarder = startForwarder(proc);
    try {
      proc.set([{ address: "127.0.0.1", port: target.port }]);
      await forwarder.scan();
      const liveClosed = closed(await connectTo(external, target.port));
      await forwarder.close();
      await liveClosed;
      await forwarder.scan();
      await assertRefused(external, target.port, "a closed forwarder no longer scans");
    } finally {
      await forwarder.close();
      await closeServer(target);
      proc.remove();
    }
  });
});

describe("planForwards", () => {
  const externals = () => ["10.233.0.2"];
  const plan = (listeners: TcpListener[], owned: string[] = [], excluded: number[] = []) =>
    [...planForwards(listeners, new Set(owned), new Set(excluded), externals).values()].map(
      (p) => `${p.address}:${p.port}->${p.target.host}`,
    );

  test("forwards loopback-only ports, preferring an IPv4 target", () => {
    assert.deepEqual(
      plan([
        { address: "::1", port: 3000 },
        { address: "127.0.0.1", port: 3000 },
        { address: "::1", port: 3001 },
        { address: "127.0.0.53", port: 53 },
      ]),
      ["10.233.0.2:3000->127.0.0.1", "10.233.0.2:3001->::1", "10.233.0.2:53->127.0.0.53"],
    );
  });

  test("skips wildcard ports, excluded ports and addresses someone else already listens on", () => {
    assert.deepEqual(
      plan(
        [
          { address: "127.0.0.1", port: 1 },
          { address: "0.0.0.0", port: 1 },
          { address: "127.0.0.1", port: 2 },
          { address: "::", port: 2 },
          { address: "127.0.0.1", port: 3 },
          { address: "10.233.0.2", port: 3 },
          { address: "127.0.0.1", port: 49983 },
        ],
        [],
        [49983],
      ),
      [],
    );
  });

  test("its own sockets are not mistaken for someone else's", () => {
    const listeners = [
      { address: "127.0.0.1", port: 8000 },
      { address: "10.233.0.2", port: 8000 },
    ];
    assert.deepEqual(plan(listeners, ["10.233.0.2 8000"]), ["10.233.0.2:8000->127.0.0.1"]);
  });

  test("asks for the interfaces only when something needs forwarding", () => {
    let asked = 0;
    const count = () => {
      asked++;
      return ["10.233.0.2"];
    };
    planForwards([{ address: "0.0.0.0", port: 22 }], new Set(), new Set(), count);
    assert.equal(asked, 0);
    planForwards([{ address: "127.0.0.1", port: 22 }], new Set(), new Set(), count);
    assert.equal(asked, 1);
  });
});
