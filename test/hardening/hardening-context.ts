import { request as httpRequest } from "node:http";
import type { Store } from "@sandpit/server";
import { Sandbox } from "e2b";
import type { LiveServer } from "../compat/live-server.js";

/** Port of the agent inside every sandbox (spec §5). */
export const AGENT_PORT = 49983;

/** What every hardening case gets: a live server on one runtime and two long-lived sandboxes. */
export interface HardeningContext {
  readonly runtime: "runc" | "runsc";
  readonly live: LiveServer;
  /** The sandbox that plays the attacker in the cases that do not need a fresh one. */
  readonly attacker: Sandbox;
  /** A bystander whose command latency shows whether an attack spills over. */
  readonly neighbour: Sandbox;
  /** Whether to run the heavy cases at their full size (HARDENING_FULL=1). */
  readonly full: boolean;
}

/** Options of {@link envdFetch}. */
export interface EnvdFetchOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer | Blob | FormData;
  /** The access token to present; omitted → no X-Access-Token header. */
  token?: string;
  /** Route by Host `<port>-<id>.<domain>` instead of the routing headers. */
  byHost?: boolean;
  signal?: AbortSignal;
}

/**
 * A request to a sandbox's agent through the server's proxy, as a client without the SDK sends
 * it. node:http rather than fetch, because fetch will not send a Host header of our choosing.
 */
export async function envdFetch(
  live: LiveServer,
  sandboxId: string,
  path: string,
  options: EnvdFetchOptions = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.byHost) headers.host = `${AGENT_PORT}-${sandboxId}.${live.domain}`;
  else {
    headers["e2b-sandbox-id"] = sandboxId;
    headers["e2b-sandbox-port"] = String(AGENT_PORT);
  }
  if (options.token !== undefined) headers["x-access-token"] = options.token;
  let body: Buffer | undefined;
  if (options.body !== undefined) {
    // Let fetch's own encoder turn FormData/Blob/strings into bytes and a content type.
    const encoded = new Request("http://encode.invalid/", { method: "POST", body: options.body });
    body = Buffer.from(await encoded.arrayBuffer());
    const type = encoded.headers.get("content-type");
    if (type && headers["content-type"] === undefined) headers["content-type"] = type;
    headers["content-length"] = String(body.length);
  }
  return rawRequest(`${live.url}${path}`, options.method ?? "GET", headers, body, options.signal);
}

/** One HTTP/1.1 request with exactly these headers (Host included); the answer as a Response. */
export function rawRequest(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: Buffer,
  signal: AbortSignal = AbortSignal.timeout(30_000),
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, signal, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const out = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(", ") : v);
        }
        const status = res.statusCode ?? 0;
        const nullBody = status === 204 || status === 304;
        resolve(new Response(nullBody ? null : Buffer.concat(chunks), { status, headers: out }));
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A sandbox as the server's store records it. */
export type StoredSandbox = Awaited<ReturnType<Store["listAllSandboxes"]>>[number];

/** The store's record of a sandbox (its runtime id, address and access token). */
export async function recordOf(live: LiveServer, sandboxId: string): Promise<StoredSandbox> {
  const record = (await live.server.store.listAllSandboxes()).find((r) => r.id === sandboxId);
  if (!record) throw new Error(`no record of sandbox ${sandboxId}`);
  return record;
}

/** The access token of a sandbox, as the API hands it to the sandbox's owner. */
export async function tokenOf(live: LiveServer, sandboxId: string): Promise<string> {
  const token = (await recordOf(live, sandboxId)).accessToken;
  if (!token) throw new Error(`sandbox ${sandboxId} is not secure`);
  return token;
}

/** The sandbox's own address and its gateway (the host's end of its veth, one below). */
export async function addressesOf(
  live: LiveServer,
  sandboxId: string,
): Promise<{ guest: string; host: string }> {
  const guest = (await recordOf(live, sandboxId)).address;
  if (!guest) throw new Error(`sandbox ${sandboxId} has no address`);
  const parts = guest.split(".").map(Number);
  parts[3] = (parts[3] ?? 0) - 1;
  return { guest, host: parts.join(".") };
}

/** A REST call with an API key, answering status and parsed JSON body (or text). */
export async function apiCall(
  live: LiveServer,
  method: string,
  path: string,
  key: string | undefined,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = {};
  if (key !== undefined) headers["x-api-key"] = key;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${live.url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed };
}

/**
 * Sandbox.create, retried while the agent bundle is being rebuilt (other work in the same tree
 * may rebuild it; the server then briefly finds no bundle) or the shared machine is too loaded
 * for the agent to come up in time. Any other error is thrown at once.
 */
export async function createSandbox(metadata: Record<string, string>): Promise<Sandbox> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await Sandbox.create({ metadata });
    } catch (e) {
      if (attempt >= 5 || !/no agent bundle|did not start in time/.test(String(e))) throw e;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}
