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

/** A server on 127.0.0.1 and an empty stand-in for /proc/net/tcp in a new temp dir. */
async function loopbackTarget(name: string) {
  const dir = mkdtempSync(join(tmpdir(), name));
  const table = join(dir, "tcp");
  writeFileSync(table, "");
  const target = createServer((socket) => {
    // The probes hang up at once, so the forwarder resets its side.
    socket.on("error", () => undefined);
    socket.end("hello");
  });
  target.listen(0, "127.0.0.1");
  await once(target, "listening");
  return { dir, table, target, targetPort: (target.address() as AddressInfo).port };
}

test("the agent forwards loopback servers while it runs, scans sooner after a Start, never its own port", async () => {
  const { dir, table, target, targetPort } = await loopbackTarget("agent-forwarding-");
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

test("a pooled agent watches nothing until an /init gives it an identity", async () => {
  const { dir, table, target, targetPort } = await loopbackTarget("agent-pooled-");
  let identified = 0;
  const agent = createAgentServer({
    port: 0,
    host: "127.0.0.1",
    pooled: true,
    onIdentity: () => identified++,
    portForwarding: {
      procNetTcpPaths: [table],
      intervalMs: 20,
      externalAddresses: () => ["127.0.0.3"],
      log: () => undefined,
    },
  });
  try {
    const { port } = await agent.listen();
    writeFileSync(table, loopbackRow(targetPort));
    const init = async (body: object) => {
      const res = await fetch(`http://127.0.0.1:${port}/init`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 204, await res.text());
    };
    // The pool's own warm-up: defaults, no identity.
    await init({ envVars: {}, defaultUser: "user" });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await reachable("127.0.0.3", targetPort), false, "forwarded before any identity");
    assert.equal(identified, 0);
    await init({ envVars: {}, sandboxId: "ipooled", templateId: "base" });
    const deadline = Date.now() + 2000;
    while (!(await reachable("127.0.0.3", targetPort))) {
      assert.ok(Date.now() < deadline, "the identity's /init did not start forwarding");
      await new Promise((r) => setTimeout(r, 10));
    }
    await init({ envVars: {}, sandboxId: "ipooled", templateId: "base" });
    assert.equal(identified, 1, "started once, not at every /init");
  } finally {
    await agent.close();
    target.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
