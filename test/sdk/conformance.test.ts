// Conformance: @sandpit/sdk and the official e2b SDK (2.45.0) make the same calls against a local
// capture server, which records every request; the two recordings must be byte-for-byte equal after
// the normalisation below, so any drift of our SDK from the protocol shows up here.
//
// Normalisation (the only differences allowed):
// 1. Headers that name the client, not the request, are dropped: `user-agent` and the e2b SDK's
//    informational headers `browser`, `lang`, `lang_version`, `package_version`, `publisher`,
//    `sdk_runtime`, `system` (spec §2: "informational").
// 2. Header order is not compared (HTTP gives it no meaning); names are lowercased.
// 3. HTTP/1.1 framing is not compared: `content-length` and `transfer-encoding` are dropped and the
//    de-framed body bytes are compared instead. (e2b hands fetch a Request object, so even its small
//    JSON bodies go out chunked; ours carry a Content-Length. HTTP/2 has neither header.)
// 4. A multipart body's random boundary is replaced by `BOUNDARY` in the body and in Content-Type.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Sandbox } from "@sandpit/sdk";
import { Sandbox as E2bSandbox } from "e2b";
import { CANNED, type CapturedRequest, type CaptureServer, startCaptureServer } from "./capture-server.js";

const DROPPED_HEADERS = new Set([
  "content-length",
  "transfer-encoding",
  "user-agent",
  "browser",
  "lang",
  "lang_version",
  "package_version",
  "publisher",
  "sdk_runtime",
  "system",
]);

interface Normalised {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

function normalise(r: CapturedRequest): Normalised {
  const headers: Record<string, string> = {};
  for (const name of Object.keys(r.headers).sort()) {
    if (!DROPPED_HEADERS.has(name)) headers[name] = r.headers[name] ?? "";
  }
  // latin1 keeps every byte as one character: the comparison stays byte-exact.
  let body = r.body.toString("latin1");
  const boundary = /boundary=([^;\s]+)/.exec(headers["content-type"] ?? "")?.[1];
  if (boundary) {
    body = body.split(boundary).join("BOUNDARY");
    headers["content-type"] = (headers["content-type"] ?? "").replace(boundary, "BOUNDARY");
  }
  return { method: r.method, url: r.url, headers, body };
}

describe("requests of @sandpit/sdk equal those of e2b@2.45.0", () => {
  let capture: CaptureServer;
  let e2b: E2bSandbox;
  let ours: Sandbox;
  let conn: { apiKey: string; apiUrl: string; sandboxUrl: string; domain: string };

  /** Runs the same call through both SDKs and compares what reached the server. */
  async function same(e2bCall: () => Promise<unknown>, ourCall: () => Promise<unknown>): Promise<number> {
    capture.take();
    await e2bCall();
    const theirs = capture.take().map(normalise);
    await ourCall();
    const mine = capture.take().map(normalise);
    assert.ok(theirs.length > 0, "the e2b SDK made no request");
    assert.deepEqual(mine, theirs);
    return mine.length;
  }

  before(async () => {
    capture = await startCaptureServer();
    conn = {
      apiKey: "e2b_0123456789abcdef0123456789abcdef01234567",
      apiUrl: capture.url,
      sandboxUrl: capture.url,
      domain: "capture.test",
    };
  });

  after(async () => {
    await capture?.close();
  });

  test("create", async () => {
    const options = { metadata: { a: "1", b: "two" }, envs: { X: "y" }, timeoutMs: 120_500 };
    await same(
      async () => {
        e2b = await E2bSandbox.create("base", { ...conn, ...options });
      },
      async () => {
        ours = await Sandbox.create("base", { ...conn, ...options });
      },
    );
    assert.equal(ours.sandboxId, CANNED.sandboxId);
    await same(
      () =>
        E2bSandbox.create({
          ...conn,
          secure: false,
          allowInternetAccess: false,
          lifecycle: { onTimeout: "pause" },
        }),
      () => Sandbox.create({ ...conn, secure: false, allowInternetAccess: false, autoPause: true }),
    );
  });

  test("list", async () => {
    const query = { metadata: { a: "1", "k y": "v&w=x/é" }, state: ["running" as const, "paused" as const] };
    await same(
      () => E2bSandbox.list({ ...conn, query, limit: 5, nextToken: "tok=/+" }).nextItems(),
      () => Sandbox.list({ ...conn, query, limit: 5, nextToken: "tok=/+" }).nextItems(),
    );
    await same(
      () => E2bSandbox.list(conn).nextItems(),
      () => Sandbox.list(conn).nextItems(),
    );
  });

  test("getInfo, setTimeout, connect, kill, pause, getMetrics", async () => {
    await same(
      () => e2b.getInfo(),
      () => ours.getInfo(),
    );
    await same(
      () => E2bSandbox.getInfo(CANNED.sandboxId, conn),
      () => Sandbox.getInfo(CANNED.sandboxId, conn),
    );
    await same(
      () => e2b.setTimeout(30_001),
      () => ours.setTimeout(30_001),
    );
    await same(
      () => E2bSandbox.connect(CANNED.sandboxId, { ...conn, timeoutMs: 60_000 }),
      () => Sandbox.connect(CANNED.sandboxId, { ...conn, timeoutMs: 60_000 }),
    );
    await same(
      () => e2b.connect(),
      () => ours.connect(),
    );
    await same(
      () => e2b.pause(),
      () => ours.pause(),
    );
    const window = { start: new Date(1_700_000_000_000), end: new Date(1_700_000_060_400) };
    await same(
      () => e2b.getMetrics(window),
      () => ours.getMetrics(window),
    );
    await same(
      () => E2bSandbox.kill(CANNED.sandboxId, conn),
      () => Sandbox.kill(CANNED.sandboxId, conn),
    );
    await same(
      () => e2b.kill(),
      () => ours.kill(),
    );
  });

  test("isRunning", async () => {
    await same(
      () => e2b.isRunning(),
      () => ours.isRunning(),
    );
  });

  test("commands: run (Process/Start stream), connect, list, sendStdin, closeStdin, kill", async () => {
    await same(
      () => e2b.commands.run("echo hi"),
      () => ours.commands.run("echo hi"),
    );
    const opts = { envs: { A: "b" }, cwd: "/tmp", user: "root", timeoutMs: 5000 };
    await same(
      () => e2b.commands.run("echo 'quoted' \"x\"", opts),
      () => ours.commands.run("echo 'quoted' \"x\"", opts),
    );
    await same(
      async () => (await e2b.commands.run("cat", { background: true, stdin: true })).wait(),
      async () => (await ours.commands.run("cat", { background: true, stdin: true })).wait(),
    );
    await same(
      async () => (await e2b.commands.connect(CANNED.pid)).wait(),
      async () => (await ours.commands.connect(CANNED.pid)).wait(),
    );
    await same(
      () => e2b.commands.list(),
      () => ours.commands.list(),
    );
    await same(
      () => e2b.commands.sendStdin(CANNED.pid, "data\n"),
      () => ours.commands.sendStdin(CANNED.pid, "data\n"),
    );
    await same(
      () => e2b.commands.closeStdin(CANNED.pid),
      () => ours.commands.closeStdin(CANNED.pid),
    );
    await same(
      () => e2b.commands.kill(CANNED.pid),
      () => ours.commands.kill(CANNED.pid),
    );
  });

  test("pty: create, sendInput, resize, kill", async () => {
    const onData = () => {};
    await same(
      async () =>
        (await e2b.pty.create({ cols: 80, rows: 24, onData, envs: { Q: "r" }, cwd: "/home" })).wait(),
      async () =>
        (await ours.pty.create({ cols: 80, rows: 24, onData, envs: { Q: "r" }, cwd: "/home" })).wait(),
    );
    const input = new TextEncoder().encode("ls\n");
    await same(
      () => e2b.pty.sendInput(CANNED.pid, input),
      () => ours.pty.sendInput(CANNED.pid, input),
    );
    await same(
      () => e2b.pty.resize(CANNED.pid, { cols: 100, rows: 30 }),
      () => ours.pty.resize(CANNED.pid, { cols: 100, rows: 30 }),
    );
    await same(
      () => e2b.pty.kill(CANNED.pid),
      () => ours.pty.kill(CANNED.pid),
    );
  });

  test("files: read, write (one, many, a stream), list, makeDir, remove, rename, exists, getInfo", async () => {
    await same(
      () => e2b.files.read("/home/user/a b.txt"),
      () => ours.files.read("/home/user/a b.txt"),
    );
    await same(
      () => e2b.files.read("rel/a.txt", { format: "bytes", user: "root" }),
      () => ours.files.read("rel/a.txt", { format: "bytes", user: "root" }),
    );
    await same(
      () => e2b.files.write("/home/user/a.txt", "content é"),
      () => ours.files.write("/home/user/a.txt", "content é"),
    );
    const many = [
      { path: "/home/user/m1.txt", data: "one" },
      { path: "sub/m2.bin", data: new Uint8Array([0, 1, 2, 255]).buffer },
    ];
    await same(
      () => e2b.files.write(many, { user: "root" }),
      () => ours.files.write(many, { user: "root" }),
    );
    const streamOf = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("streamed "));
          controller.enqueue(new TextEncoder().encode("content"));
          controller.close();
        },
      });
    await same(
      () => e2b.files.write("/home/user/s.txt", streamOf()),
      () => ours.files.write("/home/user/s.txt", streamOf()),
    );
    await same(
      () => e2b.files.write("/home/user/z.txt", "zipped ".repeat(50), { gzip: true }),
      () => ours.files.write("/home/user/z.txt", "zipped ".repeat(50), { gzip: true }),
    );
    await same(
      () => e2b.files.write("/home/user/o.txt", "raw", { useOctetStream: true, metadata: { Owner: "me" } }),
      () => ours.files.write("/home/user/o.txt", "raw", { useOctetStream: true, metadata: { Owner: "me" } }),
    );
    await same(
      () => e2b.files.read("/home/user/a.txt", { gzip: true, format: "blob" }),
      () => ours.files.read("/home/user/a.txt", { gzip: true, format: "blob" }),
    );
    await same(
      async () => (await e2b.files.read("/home/user/a.txt", { format: "stream" })).cancel(),
      async () => (await ours.files.read("/home/user/a.txt", { format: "stream" })).cancel(),
    );
    await same(
      () => e2b.files.list("/home/user", { depth: 2 }),
      () => ours.files.list("/home/user", { depth: 2 }),
    );
    await same(
      () => e2b.files.makeDir("/home/user/d"),
      () => ours.files.makeDir("/home/user/d"),
    );
    await same(
      () => e2b.files.remove("/home/user/d", { user: "root" }),
      () => ours.files.remove("/home/user/d", { user: "root" }),
    );
    await same(
      () => e2b.files.rename("/home/user/d", "/home/user/e"),
      () => ours.files.rename("/home/user/d", "/home/user/e"),
    );
    await same(
      () => e2b.files.exists("/home/user/d"),
      () => ours.files.exists("/home/user/d"),
    );
    await same(
      () => e2b.files.getInfo("/home/user/d"),
      () => ours.files.getInfo("/home/user/d"),
    );
  });

  test("files.watchDir (WatchDir stream)", async () => {
    const watchOf = async (watch: Promise<{ stop(): Promise<void> }>) => {
      const handle = await watch;
      await new Promise((r) => setTimeout(r, 50));
      await handle.stop();
    };
    await same(
      () => watchOf(e2b.files.watchDir("/home/user", () => {}, { recursive: true })),
      () => watchOf(ours.files.watchDir("/home/user", () => {}, { recursive: true })),
    );
    await same(
      () => watchOf(e2b.files.watchDir("/tmp", () => {})),
      () => watchOf(ours.files.watchDir("/tmp", () => {})),
    );
  });

  test("downloadUrl and uploadUrl are the same strings", async () => {
    assert.equal(await ours.downloadUrl("/home/user/a.txt"), await e2b.downloadUrl("/home/user/a.txt"));
    assert.equal(
      await ours.uploadUrl("x y.txt", { user: "root" }),
      await e2b.uploadUrl("x y.txt", { user: "root" }),
    );
    assert.equal(await ours.uploadUrl(), await e2b.uploadUrl());
    assert.equal(ours.getHost(3000), e2b.getHost(3000));
  });
});
