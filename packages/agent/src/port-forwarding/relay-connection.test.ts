import assert from "node:assert/strict";
import { once } from "node:events";
import { type AddressInfo, connect, createServer, type Server, type Socket } from "node:net";
import { test } from "node:test";
import { abortSocket } from "./relay-connection.js";

/** A connected pair on 127.0.0.1: the client socket and the server's side of it. */
async function socketPair(): Promise<{ client: Socket; peer: Socket; server: Server }> {
  const server = createServer({ allowHalfOpen: true });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const accepted = once(server, "connection") as Promise<[Socket]>;
  const client = connect({
    port: (server.address() as AddressInfo).port,
    host: "127.0.0.1",
    allowHalfOpen: true,
  });
  await once(client, "connect");
  const [peer] = await accepted;
  return { client, peer, server };
}

const socketHandles = () => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;

test("abortSocket resets an open connection: the peer sees ECONNRESET", async () => {
  const { client, peer, server } = await socketPair();
  const peerError = once(peer, "error");
  abortSocket(client);
  assert.equal(((await peerError)[0] as NodeJS.ErrnoException).code, "ECONNRESET");
  server.close();
});

test("regression: abortSocket right after end() closes the handle instead of leaking it", async () => {
  // resetAndDestroy() while the shutdown of end() is in flight fails with EINVAL in libuv and
  // node drops the socket without closing its handle: a leaked descriptor, and a process that
  // never exits.
  const before = socketHandles();
  const { client, peer, server } = await socketPair();
  peer.on("error", () => undefined);
  const errors: unknown[] = [];
  client.on("error", (e) => errors.push(e));
  const clientClosed = once(client, "close");
  client.end();
  abortSocket(client);
  await clientClosed;
  assert.deepEqual(errors, []);
  peer.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.equal(socketHandles(), before);
});
