// Runs docs/quickstart.md: every ```sh/```bash block and every ```js/```ts block, in document
// order, so the quickstart cannot drift from what Sandpit does.
//
// How blocks run
// - Shell blocks run with bash (`set -eo pipefail`) in the repository's root, one after the
//   other, like commands typed into one terminal: what a block exports is in the environment of
//   every later block. The environment starts as this process's, without any E2B_* variable
//   (the doc has to say which ones to set) and with the server overrides below.
// - JS blocks are written to `<line>.mjs` (TypeScript blocks: `<line>.mts`, run through tsx) in a
//   scratch directory whose node_modules is the repository's, and run with `node` in the
//   environment the shell blocks left. They must exit 0.
// - Python and other blocks are not run (there is no PyPI on these machines).
// - Before running, the text of a block gets the values this test overrides: `localhost:3000`
//   becomes `localhost:<free port>` and `/var/lib/sandpit` the test's own data directory.
//
// Directives: an HTML comment on the line(s) right above a block, invisible when rendered:
//   <!-- doc-test: background -->          start the block and leave it running: it must start
//                                          the server (ready = GET /health answers 200 and the
//                                          banner is printed); it is stopped with SIGINT to its
//                                          process group (Ctrl-C) at the end, and the host is
//                                          checked for leftovers.
//   <!-- doc-test: skip "reason" -->       do not run the block; the reason shows as the skip.
//   <!-- doc-test: needs-export MODULE NAME -->
//                                          run the block only once MODULE exports NAME; until
//                                          then it is skipped with that reason.
//   <!-- doc-test: node-args "ARGS" -->    extra `node` arguments for a JS block.
//   <!-- doc-test: expect "TEXT" -->       the block's standard output must contain TEXT.
// Several directives go in one comment, separated by `;`.
//
// Server overrides (set for every shell block, so `npm start` runs on them):
// SANDPIT_PORT=<free port>, SANDPIT_DATA_DIR=<temp dir>, SANDPIT_PREFIX=spdocs,
// SANDPIT_ADDRESS_POOL=10.253.0.0/16, SANDPIT_RUNTIME=runc (fast), and the shared template cache.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLocalRuntime } from "@sandpit/runtime";
import { hostLeftovers, sharedMounts, sharedRules } from "../../packages/runtime/test/host-leftovers.js";
import { notRoot, TEMPLATES_DIR } from "../compat/live-server.js";
import { type DocBlock, directive, extractDocBlocks } from "./doc-blocks.js";

const repo = new URL("../..", import.meta.url).pathname;
const DOC = join(repo, "docs/quickstart.md");
const PREFIX = "spdocs";
const POOL = "10.253.0.0/16";
const BLOCK_TIMEOUT_MS = 180_000;

const blocks = extractDocBlocks(readFileSync(DOC, "utf8"));

/** Why a block is not run, or undefined when it is. */
async function skipReason(block: DocBlock): Promise<string | undefined> {
  const skip = directive(block, "skip");
  if (skip) return skip[0] ?? "skipped";
  const needs = directive(block, "needs-export");
  if (needs) {
    const [specifier, name] = needs;
    if (!specifier || !name) throw new Error(`line ${block.line}: needs-export MODULE NAME`);
    const mod = (await import(specifier)) as Record<string, unknown>;
    if (mod[name] === undefined) return `${specifier} does not export ${name} yet`;
  }
  if (block.kind === "other") return `${block.lang || "plain"} blocks are not run`;
  return undefined;
}

const reasons = new Map<DocBlock, string | undefined>();
for (const b of blocks) reasons.set(b, await skipReason(b));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject()));
    });
  });
}

/** Output of a finished command. */
interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), BLOCK_TIMEOUT_MS);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function describeRun(r: Ran): string {
  return `exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

describe("docs/quickstart.md runs as written", { skip: notRoot, timeout: 900_000 }, () => {
  let port = 0;
  let dataDir = "";
  let workDir = "";
  let env: NodeJS.ProcessEnv = {};
  let server: ChildProcess | undefined;
  let serverOutput = "";
  let serverExit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;

  function substitute(code: string): string {
    return code.replaceAll("localhost:3000", `localhost:${port}`).replaceAll("/var/lib/sandpit", dataDir);
  }

  before(async () => {
    port = await freePort();
    dataDir = mkdtempSync(join(tmpdir(), `sandpit-${PREFIX}-`));
    workDir = mkdtempSync(join(tmpdir(), "sandpit-docs-work-"));
    symlinkSync(join(repo, "node_modules"), join(workDir, "node_modules"));
    env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(E2B|SANDPIT)_/.test(k)));
    Object.assign(env, {
      SANDPIT_PORT: String(port),
      SANDPIT_DATA_DIR: dataDir,
      SANDPIT_TEMPLATES_DIR: TEMPLATES_DIR,
      SANDPIT_PREFIX: PREFIX,
      SANDPIT_ADDRESS_POOL: POOL,
      SANDPIT_RUNTIME: "runc",
    });
  });

  function groupAlive(pgid: number): boolean {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** Ctrl-C in the terminal: SIGINT to every process of the block's group; waits for all of them. */
  async function stopServer(): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    const child = server;
    const pgid = child?.pid;
    if (!pgid || !serverExit) return undefined;
    server = undefined;
    if (groupAlive(pgid)) process.kill(-pgid, "SIGINT");
    const exit = await serverExit;
    const deadline = Date.now() + 60_000;
    while (groupAlive(pgid)) {
      if (Date.now() > deadline) process.kill(-pgid, "SIGKILL");
      await new Promise((r) => setTimeout(r, 100));
    }
    return exit;
  }

  after(async () => {
    await stopServer();
    if (!dataDir) return;
    // Whatever a failed run left: the janitor of the test's own prefix removes it.
    const rt = createLocalRuntime({
      runtime: "runc",
      dataDir,
      templatesDir: TEMPLATES_DIR,
      prefix: PREFIX,
      addressPool: POOL,
    });
    await rt.janitor(new Set());
    await rt.close();
    assert.deepEqual(hostLeftovers(PREFIX, dataDir), []);
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  });

  async function startBackground(block: DocBlock): Promise<void> {
    assert.equal(server, undefined, "one background block at a time");
    const child = spawn("bash", ["-c", substitute(block.code)], {
      cwd: repo,
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    server = child;
    child.stdout.on("data", (d: Buffer) => {
      serverOutput += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      serverOutput += d.toString();
    });
    serverExit = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    const deadline = Date.now() + BLOCK_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        assert.fail(`the server block exited before it was ready:\n${serverOutput}`);
      }
      const healthy = await fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (healthy && /export E2B_API_KEY=/.test(serverOutput)) return;
      if (Date.now() > deadline) assert.fail(`the server was not ready in time:\n${serverOutput}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async function runShell(block: DocBlock): Promise<Ran> {
    const envFile = join(workDir, `env-${block.line}`);
    const script = `set -eo pipefail\n${substitute(block.code)}\nenv -0 > ${JSON.stringify(envFile)}\n`;
    const result = await run("bash", ["-c", script], repo, env);
    assert.equal(result.code, 0, describeRun(result));
    // What the block exported stays for the next ones, as in one terminal.
    const next: NodeJS.ProcessEnv = {};
    for (const entry of readFileSync(envFile, "utf8").split("\0")) {
      const eq = entry.indexOf("=");
      if (eq > 0) next[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    delete next._;
    delete next.SHLVL;
    delete next.PWD;
    env = next;
    return result;
  }

  async function runJs(block: DocBlock): Promise<Ran> {
    const typescript = block.lang === "ts" || block.lang === "typescript";
    const file = join(workDir, `${block.line}.${typescript ? "mts" : "mjs"}`);
    writeFileSync(file, substitute(block.code));
    const extra = directive(block, "node-args")?.flatMap((a) => a.split(/\s+/).filter(Boolean)) ?? [];
    if (typescript && !extra.includes("tsx")) extra.push("--import", "tsx");
    const result = await run(process.execPath, [...extra, file], workDir, env);
    assert.equal(result.code, 0, describeRun(result));
    return result;
  }

  for (const block of blocks) {
    const reason = reasons.get(block);
    const name = `line ${block.line}: ${block.lang} block${directive(block, "background") ? " (background)" : ""}`;
    test(name, reason ? { skip: reason } : {}, async () => {
      if (directive(block, "background")) {
        assert.equal(block.kind, "shell", "only shell blocks run in the background");
        await startBackground(block);
        return;
      }
      const result = block.kind === "shell" ? await runShell(block) : await runJs(block);
      for (const text of directive(block, "expect") ?? []) {
        assert.ok(result.stdout.includes(text), `expected '${text}' in the output:\n${describeRun(result)}`);
      }
    });
  }

  test("the variables the doc exports are the ones the server prints", () => {
    const printed = [...serverOutput.matchAll(/export (E2B_[A-Z_]+)=(\S+)/g)];
    assert.ok(printed.length > 0, `the server printed no exports:\n${serverOutput}`);
    for (const [, name, value] of printed) {
      if (!name) continue;
      assert.equal(env[name], value, `${name} as the doc sets it vs as the server printed it`);
    }
  });

  // Ctrl-C reaches every process of the terminal's group: npm, start.mjs and the server, which
  // start.mjs also forwards the signal to. The server must stop cleanly all the same.
  test("Ctrl-C stops the server cleanly", async () => {
    const exit = await stopServer();
    assert.ok(exit, "the server block never ran");
    // npm itself ends by the signal, as a Ctrl-C'd program does; the server must not.
    assert.match(serverOutput, /stopping; running sandboxes stay/, serverOutput);
    // The last step of a clean stop removes the prefix's shared firewall chains.
    assert.deepEqual(sharedRules(PREFIX), [], "the server was killed before its close() ended");
  });

  test("nothing the quickstart made is left on the host", async () => {
    await stopServer();
    // A sandbox's mounts, namespace, veth, rules, cgroups, containers and processes.
    assert.deepEqual(hostLeftovers(PREFIX, dataDir), []);
    assert.deepEqual(sharedMounts(dataDir), []);
  });
});
