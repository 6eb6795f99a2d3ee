import { execFileSync } from "node:child_process";
import { join } from "node:path";
import type { LocalRuntime, SandboxInfo } from "@sandpit/runtime";

const repo = new URL("../..", import.meta.url).pathname;
/** The self-contained agent directory: agent.mjs, its addons, node and the libraries node links. */
export const agentBundleDir = join(repo, "packages/agent/dist/bundle");
const MOUNT = "/opt/sandpit/agent";

import { AGENT_PORT } from "@sandpit/protocol";

export { AGENT_PORT };

/** Builds the agent bundle (esbuild; a second or two). */
export function buildAgentBundle(): void {
  execFileSync("npm", ["run", "build:bundle", "-w", "@sandpit/agent"], { cwd: repo, stdio: "ignore" });
}

/** Options of {@link createAgentSandbox}. */
export interface AgentSandboxOptions {
  /** Env of the agent process, e.g. `SANDPIT_AGENT_LAUNCHER: "off"`. */
  env?: Record<string, string>;
}

/** Starts a sandbox whose main process is the agent, started through the bundle's own loader. */
export async function createAgentSandbox(
  rt: LocalRuntime,
  id: string,
  options: AgentSandboxOptions = {},
): Promise<SandboxInfo> {
  const info = await rt.create({
    id,
    template: "base",
    env: options.env,
    binds: [{ source: agentBundleDir, target: MOUNT }],
    command: [
      `${MOUNT}/lib/ld-linux-x86-64.so.2`,
      "--library-path",
      `${MOUNT}/lib`,
      `${MOUNT}/bin/node`,
      `${MOUNT}/agent.mjs`,
    ],
  });
  await waitForAgent(info);
  return info;
}

/** Resolves once the sandbox's agent answers /health (after a create or a restore). */
export async function waitForAgent(info: SandboxInfo): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`http://${info.address}:${AGENT_PORT}/health`).then(
      (r) => r.status === 204,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`agent in ${info.id} did not become healthy`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** What the control plane's `/init` does for the base template. */
export async function initAgent(info: SandboxInfo, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`http://${info.address}:${AGENT_PORT}/init`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ defaultUser: "user", defaultWorkdir: "/home/user", ...body }),
  });
  if (res.status !== 204) throw new Error(`/init answered ${res.status}: ${await res.text()}`);
}
