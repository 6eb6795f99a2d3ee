// Every `sandpit` client command against a live server, run as a user runs it: a child process.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import xterm from "@xterm/headless";
import * as pty from "node-pty";
import { type LiveServer, notRoot, startLiveServer, TEMPLATES_DIR } from "../compat/live-server.js";

const bin = new URL("../../packages/cli/bin/sandpit.mjs", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe("sandpit CLI against a live server (runc)", { skip: notRoot, timeout: 600_000 }, () => {
  let live: LiveServer;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let id = "";

  function sandpit(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<Run> {
    return new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [bin, ...args],
        { env: options.env ?? env, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      if (options.input !== undefined) child.stdin?.end(options.input);
      else child.stdin?.end();
    });
  }

  async function ok(args: string[], options?: { env?: NodeJS.ProcessEnv; input?: string }): Promise<string> {
    const r = await sandpit(args, options);
    assert.equal(r.code, 0, `sandpit ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  before(async () => {
    live = await startLiveServer({ runtime: "runc", prefix: "spcli", addressPool: "10.254.0.0/16" });
    work = mkdtempSync(join(tmpdir(), "sandpit-cli-"));
    const { E2B_API_KEY: _k, E2B_API_URL: _u, E2B_SANDBOX_URL: _s, E2B_DOMAIN: _d, ...rest } = process.env;
    env = { ...rest, SANDPIT_URL: live.url, SANDPIT_API_KEY: live.apiKey, SANDPIT_DATA_DIR: live.dataDir };
  });

  after(async () => {
    rmSync(work, { recursive: true, force: true });
    await live?.close();
  });

  test("create prints an id; ls, info and --json show it with its metadata", async () => {
    id = (
      await ok([
        "create",
        "--timeout",
        "10m",
        "--metadata",
        "purpose=cli",
        "--metadata",
        "n=1",
        "--env",
        "GREETING=hi",
      ])
    ).trim();
    assert.match(id, /^[a-z0-9]{16,32}$/);
    const table = await ok(["ls"]);
    assert.match(table.split("\n")[0] ?? "", /^ID\s+TEMPLATE\s+STATE\s+STARTED\s+ENDS\s+METADATA$/);
    assert.match(table, new RegExp(`${id}\\s+base\\s+running.*purpose=cli`));
    const listed = JSON.parse(await ok(["ls", "--json", "--metadata", "purpose=cli"])) as {
      sandboxId: string;
    }[];
    assert.deepEqual(
      listed.map((s) => s.sandboxId),
      [id],
    );
    assert.deepEqual(JSON.parse(await ok(["ls", "--json", "--metadata", "purpose=other"])), []);
    assert.deepEqual(JSON.parse(await ok(["ls", "--json", "--state", "paused"])), []);
    const info = JSON.parse(await ok(["info", id, "--json"])) as {
      metadata: Record<string, string>;
      state: string;
    };
    assert.deepEqual(info.metadata, { purpose: "cli", n: "1" });
    assert.equal(info.state, "running");
  });

  test("exec streams both outputs, sees create's env and exits with the command's code", async () => {
    const r = await sandpit(["exec", id, "--", "sh", "-c", 'echo "out $GREETING"; echo err >&2; exit 3']);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, "out hi\n");
    assert.equal(r.stderr, "err\n");
    assert.equal((await ok(["exec", id, "--", "ls", "-d", "/home/user"])).trim(), "/home/user");
    assert.equal((await ok(["exec", id, "echo $((6*7)) | tr 4 x"])).trim(), "x2", "one word is a shell line");
    assert.equal(
      (await ok(["exec", "-u", "root", "-w", "/tmp", id, "--", "sh", "-c", "id -u; pwd"])).trim(),
      "0\n/tmp",
    );
    assert.equal(
      await ok(["exec", "-i", id, "--", "tr", "a-z", "A-Z"], { input: "piped in\n" }),
      "PIPED IN\n",
    );
  });

  test("cp streams a file in and out unchanged, with a progress bar when asked", async () => {
    const local = join(work, "blob.bin");
    const data = randomBytes(6 * 1024 * 1024 + 123);
    writeFileSync(local, data);
    const up = await sandpit(["cp", "--progress", local, `${id}:/tmp/blob.bin`]);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /upload \[.*\] 100%/);
    const remoteSum = (await ok(["exec", id, "--", "sha256sum", "/tmp/blob.bin"])).split(" ")[0];
    const sum = createHash("sha256").update(data).digest("hex");
    assert.equal(remoteSum, sum);
    await ok(["cp", `${id}:/tmp/blob.bin`, join(work, "back.bin")]);
    assert.equal(
      createHash("sha256")
        .update(readFileSync(join(work, "back.bin")))
        .digest("hex"),
      sum,
    );
    await ok(["cp", local, `${id}:/tmp`]);
    assert.equal(
      (await ok(["exec", id, "--", "stat", "-c", "%s", "/tmp/blob.bin"])).trim(),
      String(data.length),
    );
    const missing = await sandpit(["cp", `${id}:/nope/none`, work]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^sandpit: .*(not found|does not exist|no such)/i);
    assert.doesNotMatch(missing.stderr, /\n\s+at /, "no stack trace for a user mistake");
  });

  test("logs show the lifecycle; metrics show samples", async () => {
    assert.match(await ok(["logs", id]), /created from base/);
    const deadline = Date.now() + 20_000;
    let table = "";
    while (Date.now() < deadline) {
      table = await ok(["metrics", id]);
      if (/^TIME\s+CPU\s+MEMORY\s+DISK/.test(table)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.match(table, /^TIME\s+CPU\s+MEMORY\s+DISK/);
    assert.match(table, /% of \d+\s+[\d.]+ \w+ \/ [\d.]+ \w+/);
    const samples = JSON.parse(await ok(["metrics", id, "--json"])) as { memTotal: number }[];
    assert.ok(samples.length > 0 && (samples[0]?.memTotal ?? 0) > 0);
  });

  test("shell is an interactive terminal: typed input runs, resizes reach it, Ctrl-D ends it", async () => {
    const term = new xterm.Terminal({ cols: 100, rows: 30, allowProposedApi: true });
    const child = pty.spawn(process.execPath, [bin, "shell", id], {
      name: "xterm-256color",
      cols: 100,
      rows: 30,
      env: env as Record<string, string>,
    });
    child.onData((d) => term.write(d));
    const exited = new Promise<number>((resolve) => child.onExit((e) => resolve(e.exitCode)));
    const screen = () => {
      const lines: string[] = [];
      for (let i = 0; i < term.buffer.active.length; i++)
        lines.push(term.buffer.active.getLine(i)?.translateToString(true) ?? "");
      return lines.join("\n");
    };
    const waitFor = async (re: RegExp) => {
      const deadline = Date.now() + 20_000;
      while (!re.test(screen())) {
        if (Date.now() > deadline) throw new Error(`screen never matched ${re}:\n${screen()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await waitFor(/user@.*\$ $/m);
      child.write("echo sum=$((40+2)) && tty\r");
      await waitFor(/^sum=42$/m);
      await waitFor(/^\/dev\/pts\/\d+$/m);
      child.resize(120, 40);
      term.resize(120, 40);
      await new Promise((r) => setTimeout(r, 300));
      child.write("stty size\r");
      await waitFor(/^40 120$/m);
      child.write("\x04");
      assert.equal(await exited, 0);
    } finally {
      child.kill();
    }
  });

  test("pause and resume keep the sandbox; kill removes it and a second kill is an error", async () => {
    assert.match(await ok(["exec", id, "--", "sh", "-c", "echo kept > /tmp/kept"]), /^$/);
    assert.match(await ok(["pause", id]), new RegExp(`paused ${id}`));
    assert.match(await ok(["ls", "--state", "paused"]), new RegExp(`${id}\\s+base\\s+paused`));
    assert.match(await ok(["resume", id]), new RegExp(`resumed ${id}`));
    assert.equal((await ok(["exec", id, "--", "cat", "/tmp/kept"])).trim(), "kept");
    // Without memory: the files stay, the processes do not.
    await ok(["exec", id, "--", "sh", "-c", "sleep 600 >/dev/null 2>&1 &"]);
    assert.match(await ok(["pause", "--no-memory", id]), new RegExp(`paused ${id} \\(files only\\)`));
    assert.match(await ok(["resume", id]), new RegExp(`resumed ${id}`));
    assert.equal((await ok(["exec", id, "--", "cat", "/tmp/kept"])).trim(), "kept");
    assert.equal((await ok(["exec", id, "--", "sh", "-c", "pgrep -x sleep || echo none"])).trim(), "none");
    assert.match(await ok(["kill", id]), new RegExp(`killed ${id}`));
    assert.equal(await ok(["ls"]), "no sandboxes\n");
    const again = await sandpit(["kill", id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`^sandpit: not found: ${id}\\n$`));
  });

  test("user mistakes get one line and a non-zero code, never a stack", async () => {
    const { SANDPIT_API_KEY: _k, ...noKey } = env;
    const wrongKey = await sandpit(["ls"], { env: { ...noKey, SANDPIT_API_KEY: `e2b_${"0".repeat(40)}` } });
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /^sandpit: .*(invalid|unauthori[sz]ed|API key)/i);
    const down = await sandpit(["ls", "--url", "http://127.0.0.1:1"]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^sandpit: cannot reach the server/);
    const unknown = await sandpit(["frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    const badPair = await sandpit(["create", "--metadata", "novalue"]);
    assert.equal(badPair.code, 2);
    assert.match(badPair.stderr, /not of the form key=value/);
    const missing = await sandpit(["exec", "nosuchsandbox000000", "--", "true"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^sandpit: .*not found/i);
    for (const r of [wrongKey, down, unknown, badPair, missing]) assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  test("template ls shows the built base template", async () => {
    const rows = JSON.parse(await ok(["template", "ls", "--json", "--templates-dir", TEMPLATES_DIR])) as {
      name: string;
      built: boolean;
    }[];
    assert.equal(rows.find((r) => r.name === "base")?.built, true);
    assert.match(
      await ok(["template", "build", "base", "--templates-dir", TEMPLATES_DIR]),
      /^base: already built/,
    );
  });
});
