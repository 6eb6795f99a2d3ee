import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error: a plain ES module script without types
import { buildLauncher } from "../scripts/build-launcher.mjs";
import { type AgentServer, type AgentServerOptions, createAgentServer } from "../src/agent-server.js";

const launcherOut = new URL("../dist/test-launcher/sandpit-launcher", import.meta.url).pathname;
let launcherBuilt: string | false | undefined;

/**
 * The launcher compiled for tests (once per test process), or false when no C compiler is
 * here; tests that need it skip with that reason.
 */
export function testLauncherPath(): string | false {
  if (launcherBuilt === undefined) {
    try {
      launcherBuilt = (buildLauncher as (out: string) => string)(launcherOut);
    } catch {
      launcherBuilt = existsSync(launcherOut) ? launcherOut : false;
    }
  }
  return launcherBuilt;
}

/** An agent listening on a random local port, for tests. */
export interface TestAgent {
  server: AgentServer;
  baseUrl: string;
  close(): Promise<void>;
}

/** Starts an in-process agent on 127.0.0.1 and a free port, with the test launcher by default. */
export async function startTestAgent(options: AgentServerOptions = {}): Promise<TestAgent> {
  const server = createAgentServer({
    launcherPath: testLauncherPath(),
    ...options,
    port: 0,
    host: "127.0.0.1",
  });
  const { port } = await server.listen();
  return { server, baseUrl: `http://127.0.0.1:${port}`, close: () => server.close() };
}

/** A throwaway `/etc` with passwd and group files, and the homes it names. */
export interface TestEtc {
  dir: string;
  home: string;
  remove(): void;
}

/**
 * Writes an `/etc` with root and `tester` (uid/gid 65534, also in group 4242), so user
 * switching is tested without touching the host's users.
 */
export function createTestEtc(): TestEtc {
  const dir = mkdtempSync(join(tmpdir(), "agent-etc-"));
  const home = mkdtempSync(join(tmpdir(), "agent-home-"));
  if (process.getuid?.() === 0) chownSync(home, 65534, 65534);
  writeFileSync(
    join(dir, "passwd"),
    `root:x:0:0:root:/root:/bin/bash\ntester:x:65534:65534:tester:${home}:/bin/sh\n`,
  );
  writeFileSync(join(dir, "group"), "root:x:0:\nnogroup:x:65534:\nextra:x:4242:tester\n");
  return {
    dir,
    home,
    remove() {
      rmSync(dir, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Basic auth header selecting a user (spec §6.2). */
export function basicAuth(user: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:`).toString("base64")}` };
}

/** Whether a PID still names a live (non-zombie) process. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return true;
}

function statOf(pid: number | string): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return "";
  }
}

// The fields after the command name, which may itself hold spaces and parentheses.
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** Whether a PID names a process that has not ended: alive and not a zombie left to be reaped. */
export function isRunning(pid: number): boolean {
  const state = statFields(statOf(pid))[0];
  return state !== undefined && state !== "" && state !== "Z";
}

/** The PIDs whose parent is `pid`. */
export function childPids(pid: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry) && Number(statFields(statOf(entry))[1]) === pid)
    .map(Number);
}
