import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { createAgentServer } from "./agent-server.js";

/** A /proc/net/tcp row of a socket listening on 127.0.0.1:port, as a little-endian kernel prints it. */
function loopbackRow(port: number): string {
  return `   0: 0100007F:${port.toString(16).toUpperCase().padStart(4, "0")} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n`;
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

test("the agent forwards loopback servers while it runs, scans sooner after a Start, never its own port", async () => {
  const dir = mkdtempSync(join(tmpdir(), "agent-forwarding-"));
  const table = join(dir, "tcp");
  writeFileSync(table, "");
  const target = createServer((socket) => {
    // The probes below hang up at once, so the forwarder resets its side.
    socket.on("error", () => undefined);
    socket.end("hello");
  });
  target.listen(0, "127.0.0.1");
  await once(target, "listening");
  const targetPort = (target.address() as AddressInfo).port;
  const agent = createAgentServer({
    port: 0,
    host: "127.0.0.1",
    portForwarding: {
      procNetTcpPaths: [table],
      intervalMs: 3_600_000,
      boostIntervalMs: 20,
      externalAddresses: () => ["127.0.0.2"],
      log: () => undefined,
    },
  });
  try {
    const { port } = await agent.listen();
    writeFileSync(table, loopbackRow(targetPort) + loopbackRow(port));
    // Any Start request, even a malformed one, means a process may be about to listen.
    const res = await fetch(`http://127.0.0.1:${port}/process.Process/Start`, {
      method: "POST",
      headers: { "content-type": "application/connect+json" },
      body: "",
    });
    await res.arrayBuffer();
    const deadline = Date.now() + 2000;
    while (!(await reachable("127.0.0.2", targetPort))) {
      assert.ok(Date.now() < deadline, "the boosted scan did not forward the loopback server");
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await reachable("127.0.0.2", port), false, "the agent's own port is never forwarded");
  } finally {
    await agent.close();
    target.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(await reachable("127.0.0.2", targetPort), false, "close() stops forwarding");
});
