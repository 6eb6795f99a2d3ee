import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FileNotFoundError, FilesystemEventType, Sandbox } from "e2b";
import { setAttribute } from "fs-xattr";

interface RunningAgent {
  child: ChildProcess;
  port: number;
  home: string;
}

/** Starts the agent in a child process (see fixtures/files-agent-main.ts). */
async function spawnAgent(): Promise<RunningAgent> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", new URL("./fixtures/files-agent-main.ts", import.meta.url).pathname],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const line = await new Promise<string>((resolve, reject) => {
    let buffer = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      if (buffer.includes("\n")) resolve(buffer.slice(0, buffer.indexOf("\n")));
    });
    child.once("exit", (code) => reject(new Error(`agent exited early with ${code}`)));
  });
  const { port, home } = JSON.parse(line) as { port: number; home: string };
  return { child, port, home };
}

/** Peak resident memory of a process so far, in bytes. */
function peakRss(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? 0) * 1024;
}

describe("the official e2b SDK against the agent's files API", () => {
  let agent: RunningAgent;
  let sandbox: Sandbox;

  before(async () => {
    agent = await spawnAgent();
    process.env.E2B_DEBUG = "true";
    process.env.E2B_SANDBOX_URL = `http://127.0.0.1:${agent.port}`;
    sandbox = await Sandbox.create();
  });

  after(async () => {
    agent.child.stdin?.end();
    await new Promise((resolve) => agent.child.once("exit", resolve));
    delete process.env.E2B_SANDBOX_URL;
    delete process.env.E2B_DEBUG;
  });

  it("writes and reads text, bytes and streams", async () => {
    const info = await sandbox.files.write("docs/hello.txt", "Hello, world");
    assert.deepEqual(info, {
      name: "hello.txt",
      path: join(agent.home, "docs/hello.txt"),
      type: "file",
      metadata: undefined,
    });
    assert.equal(await sandbox.files.read("docs/hello.txt"), "Hello, world");
    const bytes = await sandbox.files.read("docs/hello.txt", { format: "bytes" });
    assert.deepEqual(Buffer.from(bytes), Buffer.from("Hello, world"));
    const stream = await sandbox.files.read("docs/hello.txt", { format: "stream" });
    assert.equal(await new Response(stream).text(), "Hello, world");
    assert.equal(await sandbox.files.read("docs/hello.txt", { gzip: true }), "Hello, world");
    await sandbox.files.write("docs/zipped.txt", "zip", { gzip: true });
    assert.equal(readFileSync(join(agent.home, "docs/zipped.txt"), "utf8"), "zip");
    await sandbox.files.write("docs/raw.bin", new Uint8Array([0, 1, 2, 255]).buffer);
    assert.deepEqual([...readFileSync(join(agent.home, "docs/raw.bin"))], [0, 1, 2, 255]);
  });

  it("writes many files in one request", async () => {
    const infos = await sandbox.files.write([
      { path: "many/a.txt", data: "A" },
      { path: "many/sub/b.txt", data: "B" },
      { path: `${agent.home}/many/c.txt`, data: "C" },
    ]);
    assert.deepEqual(
      infos.map((i) => i.path),
      ["many/a.txt", "many/sub/b.txt", "many/c.txt"].map((p) => join(agent.home, p)),
    );
    assert.equal(await sandbox.files.read("many/sub/b.txt"), "B");
  });

  it("lists with depth, checks existence, describes and removes", async () => {
    await sandbox.files.makeDir("tree/sub1/sub1_1");
    await sandbox.files.write("tree/file1.txt", "1");
    assert.equal(await sandbox.files.makeDir("tree/sub1"), false);
    const shallow = await sandbox.files.list("tree");
    assert.deepEqual(
      shallow.map((e) => [e.name, e.type]),
      [
        ["file1.txt", "file"],
        ["sub1", "dir"],
      ],
    );
    const deep = await sandbox.files.list("tree", { depth: 2 });
    assert.deepEqual(
      deep.map((e) => e.path.slice(join(agent.home, "tree").length + 1)),
      ["file1.txt", "sub1", "sub1/sub1_1"],
    );

    assert.equal(await sandbox.files.exists("tree/file1.txt"), true);
    assert.equal(await sandbox.files.exists("tree/nope"), false);
    const info = await sandbox.files.getInfo("tree/file1.txt");
    assert.equal(info.type, "file");
    assert.equal(info.size, 1);
    assert.equal(info.permissions, "-rw-r--r--");
    assert.ok(info.modifiedTime instanceof Date);
    await assert.rejects(sandbox.files.getInfo("tree/nope"), FileNotFoundError);
    await assert.rejects(sandbox.files.read("tree/nope"), FileNotFoundError);

    const moved = await sandbox.files.rename("tree/file1.txt", "tree/renamed.txt");
    assert.equal(moved.path, join(agent.home, "tree/renamed.txt"));
    await sandbox.files.remove("tree");
    assert.equal(await sandbox.files.exists("tree"), false);
  });

  it("keeps metadata from write headers and from xattrs set out of band", async () => {
    const info = await sandbox.files.write("meta.txt", "m", { metadata: { author: "mish", Team: "core" } });
    assert.deepEqual(info.metadata, { author: "mish", team: "core" });
    await setAttribute(join(agent.home, "meta.txt"), "user.e2b.extra", "x");
    assert.deepEqual((await sandbox.files.getInfo("meta.txt")).metadata, {
      author: "mish",
      team: "core",
      extra: "x",
    });
    await sandbox.files.write("meta.txt", "again");
    assert.equal((await sandbox.files.getInfo("meta.txt")).metadata, undefined);
  });

  it("watches a directory recursively", async () => {
    await sandbox.files.makeDir("watched");
    const seen: string[] = [];
    let resolveWrite: () => void = () => {};
    const wrote = new Promise<void>((resolve) => {
      resolveWrite = resolve;
    });
    const handle = await sandbox.files.watchDir(
      "watched",
      (event) => {
        seen.push(`${event.type} ${event.name}`);
        if (event.type === FilesystemEventType.WRITE && event.name === "nested/file.txt") resolveWrite();
      },
      { recursive: true, includeEntry: true },
    );
    await sandbox.files.makeDir("watched/nested");
    await sandbox.files.write("watched/nested/file.txt", "w");
    await wrote;
    await handle.stop();
    assert.ok(seen.includes(`${FilesystemEventType.CREATE} nested`), seen.join(", "));
  });

  it("streams a 256 MiB upload and download with bounded agent memory", async () => {
    const block = createHash("sha512").update("seed").digest();
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < chunk.length; i += block.length) block.copy(chunk, i);
    const blocks = 256;
    const sent = createHash("sha256");
    let i = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i === blocks) {
          controller.close();
          return;
        }
        // A different 1 MiB each time, so nothing compresses away.
        const piece = Buffer.from(chunk);
        piece.writeUInt32BE(i++, 0);
        sent.update(piece);
        controller.enqueue(piece);
      },
    });
    const baseline = peakRss(agent.child.pid ?? 0);
    await sandbox.files.write("big.bin", source);
    const received = createHash("sha256");
    let size = 0;
    for await (const piece of (await sandbox.files.read("big.bin", {
      format: "stream",
    })) as unknown as AsyncIterable<Uint8Array>) {
      received.update(piece);
      size += piece.length;
    }
    assert.equal(size, blocks * chunk.length);
    assert.equal(received.digest("hex"), sent.digest("hex"));
    const grown = peakRss(agent.child.pid ?? 0) - baseline;
    assert.ok(grown < 96 * 1024 * 1024, `agent peak RSS grew by ${Math.round(grown / 1024 / 1024)} MiB`);
    writeFileSync(join(agent.home, "big.bin"), "");
  });
});
