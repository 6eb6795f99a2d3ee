// The scripts of examples/ run as a user runs them (a child process through tsx, configured only by
// SANDPIT_URL and SANDPIT_API_KEY) against a live server, and print what they promise.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { Sandbox } from "@sandpit/sdk";
import { type LiveServer, notRoot, startLiveServer } from "../compat/live-server.js";

const run = promisify(execFile);
const repo = new URL("../..", import.meta.url).pathname;

describe("examples/ against a live server", { skip: notRoot, timeout: 240_000 }, () => {
  let live: LiveServer;

  before(async () => {
    live = await startLiveServer({ runtime: "runc", prefix: "spexm", addressPool: "10.247.0.0/16" });
  });

  after(async () => {
    await live?.close();
  });

  async function example(name: string): Promise<string> {
    const env: Record<string, string | undefined> = { ...process.env };
    for (const key of Object.keys(env)) if (key.startsWith("E2B_")) delete env[key];
    env.SANDPIT_URL = live.url;
    env.SANDPIT_API_KEY = live.apiKey;
    const { stdout } = await run(process.execPath, ["--import", "tsx", join(repo, "examples", name)], {
      cwd: repo,
      env,
      timeout: 60_000,
    });
    return stdout;
  }

  test("run-python.ts runs Python and reads its output file", async () => {
    const out = await example("run-python.ts");
    assert.match(out, /python said: found 17 primes/);
    assert.match(out, /python 3\.\d+\.\d+ computed primes: 2 3 5 7 11 13 .* 53 59/);
  });

  test("stream-build.ts streams a build and cancels it", async () => {
    const out = await example("stream-build.ts");
    assert.match(out, /OUT \[build\] step 1\/100/);
    assert.match(out, /ERR \[warn\] step 4 is slow/);
    assert.match(out, /cancelling after 1\d steps/);
    assert.doesNotMatch(out, /step 100\/100/);
    assert.match(out, /build ended with exit code -1 \(signal: killed\)/);
  });

  test("pty-session.ts drives a terminal", async () => {
    const out = await example("pty-session.ts");
    assert.match(out, /ready-42/);
    assert.match(out, /hello from the terminal/);
    assert.match(out, /cols=132/);
    assert.match(out, /session closed/);
  });

  test("no sandbox is left behind", async () => {
    const left = await Sandbox.list({ apiUrl: live.url, apiKey: live.apiKey }).nextItems();
    assert.deepEqual(left, []);
  });
});
