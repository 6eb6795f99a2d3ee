import { existsSync } from "node:fs";
import { Agent, request } from "node:http";
import type { Socket } from "node:net";
import { join } from "node:path";
import { AGENT_POOLED_ENV, AGENT_PORT, SandpitError } from "@sandpit/protocol";
import type { SandboxDriver, SandboxInfo, SandboxLimits } from "@sandpit/runtime";

const MOUNT = "/opt/sandpit/agent";

/** Who runs a sandbox's commands, and where, when a call names neither (every /init says so). */
export const SANDBOX_DEFAULTS = { defaultUser: "user", defaultWorkdir: "/home/user" } as const;

/** What a sandbox needs besides its id: its template, size and network policy. */
export interface AgentSandboxSpec {
  id: string;
  template: string;
  limits?: Partial<SandboxLimits>;
  allowInternetAccess: boolean;
  /** Started ahead for the warm pool: its agent watches nothing until a create's /init. */
  pooled?: boolean;
}

/** What the control plane tells a sandbox's agent on create and on every resume (spec §5.7). */
export interface AgentInit {
  envVars: Record<string, string>;
  accessToken?: string;
  defaultUser: string;
  defaultWorkdir: string;
  /** Who the sandbox is (`E2B_SANDBOX_ID`, `E2B_TEMPLATE_ID`); a pooled one has no identity yet. */
  sandboxId?: string;
  templateId?: string;
}

/** Starts sandboxes whose main process is the agent, and talks to that agent. */
export interface AgentSandboxes {
  /** Starts the sandbox and returns once its agent answers `/health`. */
  start(spec: AgentSandboxSpec): Promise<SandboxInfo>;
  /** Gives the agent its identity; `accessToken` must be the one the agent already has, if any. */
  init(address: string, init: AgentInit, currentToken?: string): Promise<void>;
  /**
   * Boots a halted sandbox afresh on its kept files and returns once its agent answers
   * `/health`; on failure it is halted again.
   */
  reboot(runtimeId: string): Promise<SandboxInfo>;
  /** Whether the agent answers `/health` now. */
  healthy(address: string): Promise<boolean>;
  /**
   * Gives the agent the defaults every sandbox gets, then runs one login shell through its own
   * process service, so a create's `/init` and first command find their code paths and caches
   * warm and, for a create without env vars, the agent's waiting shell still fitting.
   */
  warmUp(address: string): Promise<void>;
}

/**
 * One request to an agent on its own connection, which this side resets once the answer is
 * in: a TIME_WAIT would sit in the sandbox for a minute (a checkpoint drops it), and a reset
 * leaves none on either end, even when the agent closed first (it does after an end of input,
 * see the agent's dual-protocol server).
 */
function agentRequest(
  address: string,
  method: string,
  path: string,
  body: string | Buffer | undefined,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  const agent = new Agent({ keepAlive: true });
  // Kept from the start: a response's own socket reference is gone once the agent closed.
  let socket: Socket | undefined;
  const reset = () => {
    if (socket && !socket.destroyed && socket.readyState !== "opening") socket.resetAndDestroy();
  };
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { host: address, port: AGENT_PORT, method, path, headers, agent, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          reset();
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
        });
        res.on("error", reject);
      },
    );
    req.on("socket", (s) => {
      socket = s;
    });
    req.on("timeout", () => {
      reset();
      req.destroy(new SandpitError("deadline_exceeded", `the agent at ${address} did not answer`));
    });
    req.on("error", reject);
    req.end(body);
  }).finally(() => {
    // One that failed is reset too, never closed with a FIN.
    reset();
    agent.destroy();
  });
}

/** Options of {@link createAgentSandboxes}. */
export interface AgentSandboxesOptions {
  driver: SandboxDriver;
  /** The bundle: agent.mjs, bin/node and the libraries node links against. */
  agentDir: string;
  /** How long a new agent may take to answer. */
  readyTimeoutMs?: number;
}

/** Starts the agent through the bundle's own loader, so any template's libc will do. */
export function createAgentSandboxes(options: AgentSandboxesOptions): AgentSandboxes {
  const { driver, agentDir } = options;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const command = [
    `${MOUNT}/lib/ld-linux-x86-64.so.2`,
    "--library-path",
    `${MOUNT}/lib`,
    `${MOUNT}/bin/node`,
    `${MOUNT}/agent.mjs`,
  ];

  async function healthy(address: string): Promise<boolean> {
    try {
      const res = await agentRequest(address, "GET", "/health", undefined, {}, 2000);
      return res.status === 204 || res.status === 200;
    } catch {
      return false;
    }
  }

  async function ready(id: string, address: string): Promise<void> {
    const deadline = Date.now() + readyTimeoutMs;
    // The agent is up within tens of milliseconds; polling often keeps create fast.
    while (!(await healthy(address))) {
      if (Date.now() > deadline) {
        throw new SandpitError("unavailable", `the agent of sandbox ${id} did not start in time`);
      }
      await new Promise((r) => setTimeout(r, 3));
    }
  }

  async function init(address: string, body: AgentInit, currentToken?: string): Promise<void> {
    const res = await agentRequest(
      address,
      "POST",
      "/init",
      JSON.stringify({ ...body, timestamp: new Date().toISOString() }),
      { "content-type": "application/json", ...(currentToken ? { "x-access-token": currentToken } : {}) },
      10_000,
    );
    if (res.status !== 204 && res.status !== 200) {
      throw new SandpitError("internal", `the sandbox's agent refused /init (${res.status}: ${res.body})`);
    }
  }

  return {
    healthy,

    async reboot(runtimeId) {
      const info = await driver.restore(runtimeId);
      try {
        await ready(runtimeId, info.address);
      } catch (e) {
        // Back to halted, its files intact, so a later resume can try again.
        await driver.halt(runtimeId).catch(() => undefined);
        throw e;
      }
      return info;
    },

    async start(spec) {
      if (!existsSync(join(agentDir, "agent.mjs"))) {
        throw new SandpitError(
          "failed_precondition",
          `no agent bundle at ${agentDir}: run npm run build:bundle -w @sandpit/agent`,
        );
      }
      const info = await driver.create({
        id: spec.id,
        template: spec.template,
        command,
        limits: spec.limits,
        allowInternetAccess: spec.allowInternetAccess,
        ...(spec.pooled ? { env: { [AGENT_POOLED_ENV]: "on" } } : {}),
        binds: [{ source: agentDir, target: MOUNT }],
      });
      try {
        await ready(spec.id, info.address);
        return info;
      } catch (e) {
        await driver.remove(spec.id);
        throw e;
      }
    },

    async warmUp(address) {
      await init(address, { envVars: {}, ...SANDBOX_DEFAULTS });
      const message = Buffer.from(
        JSON.stringify({ process: { cmd: "/bin/bash", args: ["-l", "-c", "true"] } }),
      );
      // A Connect streaming request is enveloped: a flags byte and a big-endian length.
      const envelope = Buffer.alloc(5);
      envelope.writeUInt32BE(message.length, 1);
      const res = await agentRequest(
        address,
        "POST",
        "/process.Process/Start",
        Buffer.concat([envelope, message]),
        {
          "content-type": "application/connect+json",
          "connect-protocol-version": "1",
          authorization: `Basic ${Buffer.from("user:").toString("base64")}`,
        },
        10_000,
      );
      if (res.status !== 200)
        throw new SandpitError("internal", `warm-up answered ${res.status}: ${res.body}`);
    },

    init,
  };
}
