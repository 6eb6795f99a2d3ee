import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import * as http from "node:http";
import * as net from "node:net";
import { Duplex } from "node:stream";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { createSandboxProxy, type SandboxProxy, type SandboxRoute } from "./sandbox-proxy.js";
import { findSignedSandbox, signFileUrl } from "./url-signature.js";

// Real servers on loopback stand in for sandboxes: sandbox "abc123" lives at 127.0.0.1 and
// "other" at 127.0.0.2, each with an "agent" on the same port; user app A and B listen on
// 127.0.0.1 only. A front server on the proxy's one port does what the real server does.

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function listen(server: net.Server, host: string, port = 0): Promise<number> {
  server.listen(port, host);
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

function connections(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) =>
    server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await delay(10);
  }
  assert.fail(`timed out waiting for ${what}`);
}

const token = "0tQG31xiMp0IOQfaz9dcwi72L1CPo8e0";
const otherToken = "other-token-0123456789";
const knownSignature = "v1_gUtH/s9YCJWgCizjfUxuWfhFE4QSydOWEIIvfLwDr6E";

/** Hooks of the app servers that tests drive. */
const app = {
  releaseStream: deferred(),
  hangClosed: deferred(),
  hangStarted: deferred(),
};

function appHandler(name: string): http.RequestListener {
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    switch (path) {
      case "/who":
        res.end(name);
        return;
      case "/init":
        res.end(`${name} user /init`);
        return;
      case "/headers":
        res.writeHead(200, {
          "content-type": "application/json",
          "x-custom": "kept",
          "x-hop": "dropped",
          connection: "keep-alive, x-hop",
        });
        res.end(JSON.stringify({ headers: req.headers, url: req.url, method: req.method }));
        return;
      case "/stream":
        // Flushes the first chunk, then holds the rest until the test has seen that chunk: a
        // proxy that buffers would deadlock here.
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("first\n");
        void app.releaseStream.promise.then(() => {
          res.write("second\n");
          res.end("third\n");
        });
        return;
      case "/echo":
        res.writeHead(200, { "content-type": "application/octet-stream" });
        req.pipe(res);
        return;
      case "/hash": {
        const hash = createHash("sha256");
        req.on("data", (chunk: Buffer) => hash.update(chunk));
        req.on("end", () => res.end(hash.digest("hex")));
        return;
      }
      case "/hang":
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("started\n");
        res.on("close", () => app.hangClosed.resolve());
        app.hangStarted.resolve();
        return;
      case "/die":
        res.writeHead(200, { "content-type": "text/plain" });
        res.write("partial\n");
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      default:
        if (req.method === "OPTIONS") {
          res.writeHead(204, { "access-control-allow-origin": "https://app.example", "x-app": name });
          res.end();
          return;
        }
        res.writeHead(404);
        res.end(`${name}: no ${path}`);
    }
  };
}

const agentSeen: string[] = [];
const agentHandler: http.RequestListener = (req, res) => {
  agentSeen.push(`${req.socket.localAddress} ${req.method} ${req.url}`);
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/health") {
    res.writeHead(204);
    res.end();
  } else if (path === "/files") {
    res.end(`file@${req.socket.localAddress}`);
  } else {
    res.end(`agent ${path}`);
  }
};

function echoUpgrades(server: http.Server, name: string): void {
  server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on("error", () => socket.destroy());
    if (req.url === "/refuse") {
      socket.end("HTTP/1.1 426 Upgrade Required\r\ncontent-length: 4\r\n\r\nnope");
      return;
    }
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\nX-App: ${name}\r\nX-Seen-Host: ${req.headers.host}\r\n\r\n`,
    );
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

describe("sandbox proxy over real sockets", { timeout: 60_000 }, () => {
  const upstreams: http.Server[] = [];
  let appA: http.Server;
  let appB: http.Server;
  let portA = 0;
  let portB = 0;
  let agentPort = 0;
  let closedPort = 0;
  let front: http.Server;
  let frontPort = 0;
  let proxy: SandboxProxy;
  const clientAgent = new http.Agent({ keepAlive: true });
  const resumeCalls: string[] = [];
  const routes = new Map<string, SandboxRoute>();

  function call(options: {
    path: string;
    host?: string;
    method?: string;
    headers?: Record<string, string>;
    body?: Buffer;
  }): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port: frontPort,
          method: options.method ?? (options.body ? "POST" : "GET"),
          path: options.path,
          agent: clientAgent,
          headers: { ...(options.host ? { host: options.host } : {}), ...options.headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
        },
      );
      req.on("error", reject);
      req.end(options.body);
    });
  }

  const json = (reply: Reply): unknown => JSON.parse(reply.body.toString());
  const routed = (id: string, port: number) => ({ "e2b-sandbox-id": id, "e2b-sandbox-port": String(port) });

  before(async () => {
    appA = http.createServer(appHandler("A"));
    echoUpgrades(appA, "A");
    appB = http.createServer(appHandler("B"));
    portA = await listen(appA, "127.0.0.1");
    portB = await listen(appB, "127.0.0.1");
    const agent1 = http.createServer(agentHandler);
    agentPort = await listen(agent1, "127.0.0.1");
    const agent2 = http.createServer(agentHandler);
    await listen(agent2, "127.0.0.2", agentPort);
    const probe = net.createServer();
    closedPort = await listen(probe, "127.0.0.1");
    probe.close();
    upstreams.push(appA, appB, agent1, agent2);

    routes.set("abc123", { state: "running", address: "127.0.0.1" });
    routes.set("other", { state: "running", address: "127.0.0.2" });
    routes.set("gone1", { state: "gone" });
    routes.set("paused1", { state: "paused", autoResume: false });
    routes.set("sleepy", { state: "paused", autoResume: true });
    routes.set("broken", { state: "paused", autoResume: true });
    routes.set("private", { state: "running", address: "127.0.0.1", trafficToken: "tok-private" });
    routes.set("privsleepy", { state: "paused", autoResume: true, trafficToken: "tok-sleepy" });

    proxy = createSandboxProxy({
      domain: "example.test",
      agentPort,
      // "slow…" ids answer asynchronously, as a store-backed lookup would.
      resolve: (id) => {
        if (id.startsWith("slow")) return delay(5).then(() => routes.get(id.slice(4)) ?? { state: "gone" });
        return routes.get(id) ?? { state: "gone" };
      },
      async resume(id) {
        if (id === "broken") throw new Error("restore failed");
        resumeCalls.push(id);
        await delay(30);
        routes.set(id, { state: "running", address: "127.0.0.1" });
        return "127.0.0.1";
      },
      findSignedFileTarget: (url, operation) =>
        findSignedSandbox(url, operation, [
          ["abc123", token],
          ["other", otherToken],
        ]),
    });
    front = http.createServer({ requestTimeout: 0 }, (req, res) => {
      const match = proxy.match(req);
      if (match) proxy.handle(req, res, match);
      else res.end("api");
    });
    front.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      if (!proxy.handleUpgrade(req, socket, head)) socket.destroy();
    });
    frontPort = await listen(front, "127.0.0.1");
  });

  after(async () => {
    clientAgent.destroy();
    await proxy.close();
    front.closeAllConnections();
    for (const server of [front, ...upstreams]) {
      server.closeAllConnections();
      server.close();
    }
  });

  test("routes by the E2b-Sandbox-Id/Port headers on an IP-literal Host", async () => {
    const reply = await call({ path: "/who", headers: routed("abc123", portA) });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), "A");
    const health = await call({ path: "/health", host: "localhost", headers: routed("other", agentPort) });
    assert.equal(health.status, 204);
    assert.equal(agentSeen.at(-1), "127.0.0.2 GET /health");
  });

  test("routes by Host <port>-<id>.<domain>, including after an async resolve", async () => {
    const reply = await call({ path: "/who", host: `${portB}-abc123.example.test` });
    assert.equal(reply.body.toString(), "B");
    const slow = await call({ path: "/who", host: `${portA}-slowabc123.example.test:443` });
    assert.equal(slow.body.toString(), "A");
  });

  test("on a sandbox Host the routing headers are ignored (spec §1)", async () => {
    const reply = await call({
      path: "/who",
      host: `${portA}-abc123.example.test`,
      headers: routed("other", portB),
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.toString(), "A");
  });

  test("API traffic is left to the caller", async () => {
    const reply = await call({ path: "/sandboxes", host: "api.example.test" });
    assert.equal(reply.body.toString(), "api");
  });

  test("one routing header alone is a 400 missing header; a bad id or port is a 400", async () => {
    const missing = await call({ path: "/health", headers: { "e2b-sandbox-id": "abc123" } });
    assert.equal(missing.status, 400);
    assert.match(String(missing.headers["content-type"]), /^application\/json/);
    assert.deepEqual(json(missing), { code: 400, message: "missing header E2b-Sandbox-Port" });
    const badId = await call({ path: "/health", headers: routed("ABC", 49983) });
    assert.equal(badId.status, 400);
    assert.equal((json(badId) as { code: number }).code, 400);
    const badPort = await call({
      path: "/health",
      headers: { "e2b-sandbox-id": "abc123", "e2b-sandbox-port": "70000" },
    });
    assert.equal(badPort.status, 400);
    const badHost = await call({ path: "/", host: "http-abc123.example.test" });
    assert.equal(badHost.status, 400);
  });

  test("gone, unknown and paused-without-auto-resume sandboxes answer 502 with sandboxId, message, code", async () => {
    for (const id of ["gone1", "nosuch", "paused1", "slowgone1"]) {
      const reply = await call({ path: "/health", headers: routed(id, agentPort) });
      assert.equal(reply.status, 502, id);
      assert.equal(reply.headers["content-type"], "application/json");
      assert.deepEqual(json(reply), { sandboxId: id, message: "The sandbox was not found", code: 502 });
    }
  });

  test("a paused sandbox with auto-resume is resumed once, then every waiting request is forwarded", async () => {
    const [one, two] = await Promise.all([
      call({ path: "/who", host: `${portA}-sleepy.example.test` }),
      call({ path: "/who", headers: routed("sleepy", portA) }),
    ]);
    assert.equal(one.body.toString(), "A");
    assert.equal(two.body.toString(), "A");
    assert.deepEqual(resumeCalls, ["sleepy"]);
  });

  test("ports that are not public need the traffic token, checked before an auto-resume; the agent's port does not", async () => {
    const refused = {
      sandboxId: "private",
      message: "The sandbox's ports need its traffic access token (e2b-traffic-access-token header)",
      port: portA,
      code: 403,
    };
    for (const headers of [
      {} as Record<string, string>,
      { "e2b-traffic-access-token": "tok-privatf" },
      { "e2b-traffic-access-token": "tok" },
      { "e2b-traffic-access-token": "" },
    ]) {
      const reply = await call({ path: "/who", host: `${portA}-private.example.test`, headers });
      assert.equal(reply.status, 403, JSON.stringify(headers));
      assert.deepEqual(json(reply), refused);
    }
    const ok = await call({
      path: "/headers",
      host: `${portA}-private.example.test`,
      headers: { "e2b-traffic-access-token": "tok-private" },
    });
    assert.equal(ok.status, 200);
    // The token is the proxy's business: the sandbox's own server never sees it.
    assert.equal(
      (json(ok) as { headers: Record<string, string> }).headers["e2b-traffic-access-token"],
      undefined,
    );
    const agent = await call({ path: "/health", headers: routed("private", agentPort) });
    assert.equal(agent.status, 204);
    // A refused request wakes nothing; one with the token resumes the sandbox as usual.
    const before = resumeCalls.length;
    const asleep = await call({ path: "/who", host: `${portA}-privsleepy.example.test` });
    assert.equal(asleep.status, 403);
    assert.equal(resumeCalls.length, before);
    const woken = await call({
      path: "/who",
      host: `${portA}-privsleepy.example.test`,
      headers: { "e2b-traffic-access-token": "tok-sleepy" },
    });
    assert.equal(woken.body.toString(), "A");
    assert.deepEqual(resumeCalls.slice(before), ["privsleepy"]);
    // Upgrades follow the same rule.
    const socket = net.connect(frontPort, "127.0.0.1");
    socket.write(
      `GET /echo HTTP/1.1\r\nHost: ${portA}-private.example.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`,
    );
    const head = await new Promise<string>((resolve) =>
      socket.once("data", (d: Buffer) => resolve(d.toString())),
    );
    socket.destroy();
    assert.match(head, /^HTTP\/1\.1 403 /);
  });

  test("a failed auto-resume answers 502", async () => {
    const reply = await call({ path: "/who", headers: routed("broken", portA) });
    assert.equal(reply.status, 502);
    assert.deepEqual(json(reply), {
      sandboxId: "broken",
      message: "The sandbox could not be resumed",
      code: 502,
    });
  });

  test("a running sandbox with nothing on the port answers 502 with the port", async () => {
    const reply = await call({ path: "/", headers: routed("abc123", closedPort) });
    assert.equal(reply.status, 502);
    assert.deepEqual(json(reply), {
      sandboxId: "abc123",
      message: "The sandbox is running but port is not open",
      port: closedPort,
      code: 502,
    });
    // An upload still in flight is drained, so the 502 arrives instead of a stalled request.
    const upload = await call({
      path: "/",
      headers: routed("abc123", closedPort),
      body: randomBytes(4 << 20),
    });
    assert.equal(upload.status, 502);
    const next = await call({ path: "/who", headers: routed("abc123", portA) });
    assert.equal(next.body.toString(), "A");
  });

  test("control-plane agent paths answer 404 and never reach the agent; user ports may use them", async () => {
    const before = agentSeen.length;
    for (const path of [
      "/init",
      "/init?x=1",
      "//init",
      "/%69nit",
      "/freeze",
      "/fsthaw",
      "/upgrade",
      "/init/",
    ]) {
      const reply = await call({
        path,
        method: "POST",
        headers: routed("abc123", agentPort),
        body: Buffer.from("{}"),
      });
      assert.equal(reply.status, 404, path);
      assert.equal((json(reply) as { code: number }).code, 404);
    }
    assert.equal(agentSeen.length, before);
    const user = await call({ path: "/init", host: `${portA}-abc123.example.test` });
    assert.equal(user.body.toString(), "A user /init");
  });

  test("a streamed response reaches the client chunk by chunk", { timeout: 5000 }, async () => {
    app.releaseStream = deferred();
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http
        .get(
          {
            host: "127.0.0.1",
            port: frontPort,
            path: "/stream",
            headers: routed("abc123", portA),
            agent: false,
          },
          resolve,
        )
        .on("error", reject);
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["content-length"], undefined);
    let text = "";
    res.setEncoding("utf8");
    for await (const chunk of res) {
      text += chunk as string;
      // The upstream has not finished: it waits for this very observation.
      if (text === "first\n") app.releaseStream.resolve();
    }
    assert.equal(text, "first\nsecond\nthird\n");
  });

  test("large bodies pass intact both ways", { timeout: 20_000 }, async () => {
    const payload = randomBytes(8 * 1024 * 1024 + 123);
    const digest = createHash("sha256").update(payload).digest("hex");
    const echoed = await call({ path: "/echo", headers: routed("abc123", portA), body: payload });
    assert.equal(echoed.status, 200);
    assert.equal(createHash("sha256").update(echoed.body).digest("hex"), digest);
    const hashed = await call({ path: "/hash", host: `${portA}-abc123.example.test`, body: payload });
    assert.equal(hashed.body.toString(), digest);
  });

  test("request and response headers: hop-by-hop dropped, Host kept, X-Forwarded-* set", async () => {
    const reply = await call({
      path: "/headers?q=1",
      host: `${portA}-abc123.example.test`,
      headers: {
        connection: "keep-alive, x-secret-hop",
        "x-secret-hop": "1",
        "proxy-authorization": "Basic eA==",
        "x-forwarded-for": "203.0.113.9",
        "x-access-token": "kept",
      },
    });
    const seen = json(reply) as { headers: Record<string, string>; url: string };
    assert.equal(seen.url, "/headers?q=1");
    assert.equal(seen.headers.host, `${portA}-abc123.example.test`);
    assert.equal(seen.headers["x-access-token"], "kept");
    assert.equal(seen.headers["x-secret-hop"], undefined);
    assert.equal(seen.headers["proxy-authorization"], undefined);
    assert.equal(seen.headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert.equal(seen.headers["x-forwarded-proto"], "http");
    assert.equal(seen.headers["x-forwarded-host"], `${portA}-abc123.example.test`);
    assert.equal(reply.headers["x-custom"], "kept");
    assert.equal(reply.headers["x-hop"], undefined);
  });

  test("CORS: agent-port preflights are answered even for a gone sandbox, whose 502 is then readable", async () => {
    const preflight = await call({
      path: "/process.Process/Start",
      method: "OPTIONS",
      headers: {
        ...routed("gone1", agentPort),
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, connect-protocol-version, x-access-token",
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers["access-control-allow-origin"], "*");
    assert.equal(
      preflight.headers["access-control-allow-headers"],
      "authorization, connect-protocol-version, x-access-token",
    );
    const gone = await call({
      path: "/health",
      headers: { ...routed("gone1", agentPort), origin: "https://app.example" },
    });
    assert.equal(gone.status, 502);
    assert.equal(gone.headers["access-control-allow-origin"], "*");
    // A user's own server decides its CORS policy: its preflights are forwarded.
    const user = await call({
      path: "/api",
      method: "OPTIONS",
      host: `${portA}-abc123.example.test`,
      headers: { origin: "https://app.example", "access-control-request-method": "PUT" },
    });
    assert.equal(user.headers["x-app"], "A");
    assert.equal(user.headers["access-control-allow-origin"], "https://app.example");
  });

  test("signed /files URLs without a sandbox id route by signature (spec §1, §5.6 vector)", async () => {
    const known = await call({
      path: `/files?username=user&path=hello.txt&signature=${encodeURIComponent(knownSignature)}`,
    });
    assert.equal(known.status, 200);
    assert.equal(known.body.toString(), "file@127.0.0.1");
    const signature = signFileUrl({
      path: "up.txt",
      operation: "write",
      username: "",
      accessToken: otherToken,
    });
    const upload = await call({
      path: `/files?path=up.txt&signature=${encodeURIComponent(signature)}`,
      body: Buffer.from("data"),
    });
    assert.equal(upload.body.toString(), "file@127.0.0.2");
    // Signed for reading, used for writing: no sandbox's token produced it.
    const misused = await call({
      path: `/files?username=user&path=hello.txt&signature=${encodeURIComponent(knownSignature)}`,
      body: Buffer.from("x"),
    });
    assert.equal(misused.status, 401);
    assert.deepEqual(json(misused), { code: 401, message: "invalid signature" });
  });

  test("a client that goes away mid-stream takes the upstream request down with it", async () => {
    app.hangClosed = deferred();
    app.hangStarted = deferred();
    const req = http.get({
      host: "127.0.0.1",
      port: frontPort,
      path: "/hang",
      headers: routed("abc123", portA),
      agent: false,
    });
    req.on("error", () => {});
    const [res] = (await once(req, "response")) as [http.IncomingMessage];
    await once(res, "data");
    req.destroy();
    await app.hangClosed.promise;
  });

  test("an upstream that dies mid-response makes the client see a dropped connection, not an end", async () => {
    const outcome = await new Promise<string>((resolve) => {
      http
        .get(
          {
            host: "127.0.0.1",
            port: frontPort,
            path: "/die",
            headers: routed("abc123", portA),
            agent: false,
          },
          (res) => {
            res.on("data", () => {});
            res.on("end", () => resolve("end"));
            res.on("error", (error: NodeJS.ErrnoException) => resolve(`error ${error.code}`));
          },
        )
        .on("error", (error: NodeJS.ErrnoException) => resolve(`error ${error.code}`));
    });
    assert.equal(outcome, "error ECONNRESET");
  });

  test("sever() mid-stream drops the connection (fetch sees 'terminated'); later requests follow resolve()", async () => {
    app.hangClosed = deferred();
    routes.set("victim", { state: "running", address: "127.0.0.1" });
    const response = await fetch(`http://127.0.0.1:${frontPort}/hang`, { headers: routed("victim", portA) });
    const reader = response.body?.getReader();
    assert.ok(reader);
    const first = await reader.read();
    assert.equal(Buffer.from(first.value ?? []).toString(), "started\n");
    // Another sandbox's stream on the same proxy must survive the sever.
    app.releaseStream = deferred();
    const bystander = await fetch(`http://127.0.0.1:${frontPort}/stream`, {
      headers: routed("abc123", portA),
    });
    routes.set("victim", { state: "gone" });
    proxy.sever("victim");
    await assert.rejects(reader.read(), (error: Error) => error.message === "terminated");
    await app.hangClosed.promise;
    app.releaseStream.resolve();
    assert.equal(await bystander.text(), "first\nsecond\nthird\n");
    const after = await call({ path: "/health", headers: routed("victim", agentPort) });
    assert.equal(after.status, 502);
  });

  test("sever() also drops idle pooled sockets to the sandbox's address", async () => {
    const agent2 = upstreams[3] as http.Server;
    await call({ path: "/health", headers: routed("other", agentPort) });
    assert.equal(await connections(agent2), 1);
    proxy.sever("other");
    await eventually(async () => (await connections(agent2)) === 0, "the idle socket to close");
    const again = await call({ path: "/health", headers: routed("other", agentPort) });
    assert.equal(again.status, 204);
  });

  test("Upgrade: a raw-socket echo round trip to a user port, refusals relayed, gone → 502", async () => {
    const open = async (host: string, path: string) => {
      const socket = net.connect(frontPort, "127.0.0.1");
      await once(socket, "connect");
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`);
      let received = Buffer.alloc(0);
      while (!received.includes("\r\n\r\n")) {
        const [chunk] = (await once(socket, "data")) as [Buffer];
        received = Buffer.concat([received, chunk]);
      }
      const end = received.indexOf("\r\n\r\n") + 4;
      return { socket, head: received.subarray(0, end).toString(), rest: received.subarray(end) };
    };
    const host = `${portA}-abc123.example.test`;
    const { socket, head } = await open(host, "/ws");
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, /X-App: A/);
    assert.match(head, new RegExp(`X-Seen-Host: ${host}`));
    socket.write("ping");
    const [echo] = (await once(socket, "data")) as [Buffer];
    assert.equal(echo.toString(), "ping");
    socket.end();
    await once(socket, "close");

    const refused = await open(host, "/refuse");
    assert.match(refused.head, /^HTTP\/1\.1 426 /);
    refused.socket.destroy();

    const gone = await open(`${portA}-gone1.example.test`, "/ws");
    assert.match(gone.head, /^HTTP\/1\.1 502 /);
    gone.socket.destroy();

    // sever() tears an upgraded connection down too.
    const live = await open(host, "/ws");
    const closed = once(live.socket, "close");
    proxy.sever("abc123");
    await closed;
  });

  test("an upstream that closes first gets a reset back: its end keeps no TIME_WAIT (gVisor cannot save one)", async () => {
    // An HTTP/1.0 server: the body ends with the connection, which the server closes.
    const http10 = net.createServer((socket) => {
      socket.once("data", () =>
        socket.end("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello, then close"),
      );
      socket.on("error", () => {});
    });
    const port = await listen(http10, "127.0.0.1");
    // TIME_WAIT (06) entries of /proc/net/tcp whose local end is the server's port.
    const timeWaits = async () => {
      const { readFile } = await import("node:fs/promises");
      const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
      return (await readFile("/proc/net/tcp", "utf8"))
        .split("\n")
        .filter((line) => line.trim().split(/\s+/)[1]?.endsWith(hex) && line.trim().split(/\s+/)[3] === "06")
        .length;
    };
    try {
      // The check can fail: a plain client answers the server's FIN with one and leaves a TIME_WAIT.
      await new Promise<void>((resolve, reject) => {
        const direct = net.connect(port, "127.0.0.1", () => direct.write("GET / HTTP/1.0\r\n\r\n"));
        direct.on("data", () => {});
        direct.once("error", reject);
        direct.once("close", () => resolve());
      });
      await eventually(async () => (await timeWaits()) === 1, "the direct connection's TIME_WAIT");
      for (let i = 0; i < 3; i++) {
        const reply = await call({ path: "/", headers: routed("abc123", port) });
        assert.equal(reply.status, 200);
        assert.equal(reply.body.toString(), "hello, then close");
      }
      await delay(50);
      assert.equal(await timeWaits(), 1, "only the direct connection's TIME_WAIT");
    } finally {
      http10.close();
    }
  });

  test("an answer that says Connection: close is followed by a reset, not a FIN crossing the upstream's own", async () => {
    // The upstream answers in full and says it will close, but keeps its end open a while: what
    // it sees next is the proxy's doing alone ("end" for a FIN, which would leave a TIME_WAIT).
    let seen: Deferred<string> = deferred();
    const closing = net.createServer((socket) => {
      socket.once("data", () =>
        socket.write("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"),
      );
      socket.once("end", () => seen.resolve("end"));
      socket.once("error", (error: NodeJS.ErrnoException) =>
        seen.resolve(error.code === "ECONNRESET" ? "reset" : String(error)),
      );
    });
    const port = await listen(closing, "127.0.0.1");
    try {
      for (let i = 0; i < 2; i++) {
        seen = deferred();
        const reply = await call({ path: "/", headers: routed("abc123", port) });
        assert.equal(reply.status, 200);
        assert.equal(reply.body.toString(), "hello");
        assert.equal(await seen.promise, "reset");
      }
    } finally {
      closing.close();
    }
  });

  test("a client that leaves before the answer resets the upstream connection, never ends it", async () => {
    // What the upstream's end of the connection sees: "reset", or "end" for a FIN.
    let seen: Deferred<string> = deferred();
    const slow = net.createServer((socket) => {
      socket.on("data", () => {});
      socket.once("end", () => seen.resolve("end"));
      socket.once("error", (error: NodeJS.ErrnoException) =>
        seen.resolve(error.code === "ECONNRESET" ? "reset" : String(error)),
      );
    });
    const port = await listen(slow, "127.0.0.1");
    try {
      for (const body of ["", "x".repeat(64)]) {
        seen = deferred();
        const client = net.connect(frontPort, "127.0.0.1", () =>
          client.write(
            `POST /slow HTTP/1.1\r\nHost: x\r\ne2b-sandbox-id: abc123\r\ne2b-sandbox-port: ${port}\r\n` +
              `Content-Length: ${body.length}\r\n\r\n${body}`,
          ),
        );
        client.on("error", () => {});
        await delay(100);
        client.destroy();
        assert.equal(await seen.promise, "reset");
      }
    } finally {
      slow.close();
    }
  });

  test("regression: a client gone after the answer completed upstream leaves the pooled connection alone", async () => {
    // A client that has stopped reading: the whole answer is in, its upstream socket back in
    // the pool, but not all of it reached the client when the client leaves. A reset of that
    // socket then would break whichever request the pool lends it to next.
    const served = new Map<net.Socket, string[]>();
    const resets: string[] = [];
    const last: Deferred<net.Socket> = deferred();
    const upstream = net.createServer((socket) => {
      const paths: string[] = [];
      served.set(socket, paths);
      socket.on("error", (error: NodeJS.ErrnoException) => resets.push(`${paths.join(",")}: ${error.code}`));
      let seen = "";
      socket.on("data", (chunk: Buffer) => {
        seen += chunk.toString("latin1");
        for (let end = seen.indexOf("\r\n\r\n"); end >= 0; end = seen.indexOf("\r\n\r\n")) {
          const path = seen.split(" ")[1] ?? "";
          seen = seen.slice(end + 4);
          paths.push(path);
          if (path === "/stream") {
            socket.write(
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nKeep-Alive: timeout=5\r\n\r\n5\r\nfirst\r\n",
            );
            last.resolve(socket);
          } else socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n\r\nok");
        }
      });
    });
    const port = await listen(upstream, "127.0.0.1");
    // The client's connection, handed to the front server: it takes the answer up to its first
    // chunk, then never acknowledges another write.
    let received = "";
    const client = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        const stalled = received.includes("first\r\n");
        received += chunk.toString("latin1");
        if (!stalled) callback();
      },
    });
    try {
      front.emit("connection", client);
      client.push(
        `GET /stream HTTP/1.1\r\nHost: x\r\ne2b-sandbox-id: abc123\r\ne2b-sandbox-port: ${port}\r\n\r\n`,
      );
      const socket = await last.promise;
      await eventually(async () => received.includes("first\r\n"), "the first chunk at the client");
      socket.write("0\r\n\r\n");
      await delay(50);
      client.destroy();
      await delay(50);
      const reply = await call({ path: "/next", headers: routed("abc123", port), body: Buffer.from("xy") });
      assert.equal(reply.status, 200);
      assert.deepEqual(resets, [], "the proxy reset a connection it had handed back to its pool");
      assert.deepEqual([...served.values()], [["/stream", "/next"]]);
    } finally {
      for (const socket of served.keys()) socket.destroy();
      upstream.close();
    }
  });

  test("a request on a kept-alive connection the upstream stopped reading goes again on a new one, body and all", async () => {
    // As the agent does after an end of input: it answers what it read, then reads nothing more
    // on that connection, and closes it.
    const served = new Map<net.Socket, number>();
    const bodies: string[] = [];
    const flaky = http.createServer((req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      if (n > 1) {
        req.socket.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        bodies.push(Buffer.concat(chunks).toString());
        res.end(Buffer.concat(chunks));
      });
    });
    const flakyPort = await listen(flaky, "127.0.0.1");
    upstreams.push(flaky);
    const first = await call({
      path: "/echo",
      headers: routed("abc123", flakyPort),
      body: Buffer.from("first"),
    });
    assert.equal(first.body.toString(), "first");
    const big = Buffer.alloc(200_000, "x");
    const second = await call({ path: "/echo", headers: routed("abc123", flakyPort), body: big });
    assert.equal(second.status, 200);
    assert.equal(second.body.length, big.length);
    const third = await call({ path: "/echo", headers: routed("abc123", flakyPort) });
    assert.equal(third.status, 200);
    assert.deepEqual(bodies, ["first", big.toString(), ""]);
  });

  test("upstream connections are kept alive and reused", async () => {
    const before = await connections(appB);
    for (let i = 0; i < 20; i++) {
      const reply = await call({ path: "/who", headers: routed("abc123", portB) });
      assert.equal(reply.body.toString(), "B");
    }
    assert.ok((await connections(appB)) <= Math.max(before, 1));
  });

  test("close() leaves no socket open, upstream or proxied", async () => {
    app.hangClosed = deferred();
    app.hangStarted = deferred();
    const req = http.get({
      host: "127.0.0.1",
      port: frontPort,
      path: "/hang",
      headers: routed("abc123", portA),
      agent: false,
    });
    const dropped = new Promise<void>((resolve) => {
      req.on("error", () => resolve());
      req.on("response", (res) => res.on("error", () => resolve()).on("close", () => resolve()));
    });
    await app.hangStarted.promise;
    clientAgent.destroy();
    await proxy.close();
    await dropped;
    await app.hangClosed.promise;
    for (const server of upstreams) {
      await eventually(async () => (await connections(server)) === 0, "upstream connections to close");
    }
    // Idle keep-alive sockets of other clients (fetch's pool) are not the proxy's to close.
    front.closeIdleConnections();
    await eventually(async () => (await connections(front)) === 0, "front connections to close");
    const late = await new Promise<number>((resolve) => {
      http.get(
        { host: "127.0.0.1", port: frontPort, path: "/who", headers: routed("abc123", portA), agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
    });
    assert.equal(late, 503);
  });
});
