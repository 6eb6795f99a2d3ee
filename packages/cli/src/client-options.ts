import { readFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "./user-error.js";

/** The server a client command talks to, and the key it shows. */
export interface ClientOptions {
  apiKey: string;
  apiUrl: string;
  sandboxUrl: string;
  domain?: string;
}

/** Flags every client command accepts. */
export interface ClientFlags {
  url?: string;
  apiKey?: string;
}

const DEFAULT_DATA_DIR = "/var/lib/sandpit";

/** The key a local server's first start saved, when this user may read it. */
function localDefaultKey(env: NodeJS.ProcessEnv): string | undefined {
  try {
    return (
      readFileSync(join(env.SANDPIT_DATA_DIR ?? DEFAULT_DATA_DIR, "default-api-key"), "utf8").trim() ||
      undefined
    );
  } catch {
    return undefined;
  }
}

/**
 * Flags override SANDPIT_* variables, which override E2B_* ones; on the server's own host the key
 * its first start saved is used when none is given, so `sandpit ls` works right after `serve`.
 */
export function resolveClientOptions(
  flags: ClientFlags,
  env: NodeJS.ProcessEnv = process.env,
): ClientOptions {
  const apiUrl = (
    flags.url ??
    env.SANDPIT_URL ??
    env.E2B_API_URL ??
    `http://localhost:${env.SANDPIT_PORT ?? "3000"}`
  ).replace(/\/+$/, "");
  if (!/^https?:\/\//.test(apiUrl)) throw new UserError(`'${apiUrl}' is not an http(s) URL`, 2);
  const apiKey = flags.apiKey ?? env.SANDPIT_API_KEY ?? env.E2B_API_KEY ?? localDefaultKey(env);
  if (!apiKey) {
    throw new UserError("no API key: set SANDPIT_API_KEY or E2B_API_KEY, or pass --api-key", 2);
  }
  // The server proxies sandbox traffic on its API port, so the API URL serves both by default.
  const sandboxUrl = (flags.url ? undefined : (env.SANDPIT_SANDBOX_URL ?? env.E2B_SANDBOX_URL)) ?? apiUrl;
  const domain = env.SANDPIT_DOMAIN ?? env.E2B_DOMAIN;
  return { apiKey, apiUrl, sandboxUrl, ...(domain ? { domain } : {}) };
}
