import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { ENVD_VERSION } from "@sandpit/protocol";
import { type AgentLog, logJson } from "../agent-log.js";
import type { AgentState } from "../agent-state.js";
import { accessTokenHeader, checkAccessToken, secretsEqual } from "../auth.js";
import {
  type CaBundlePaths,
  defaultCaBundlePaths,
  installCaBundle,
  pemCertificateHeader,
} from "../install-ca-bundle.js";
import { isStringMap } from "../string-map.js";
import { drainRefusedBody } from "./drain-refused-body.js";
import { type HttpRequest, type HttpResponse, headerOf } from "./http-types.js";
import { readSmallBody } from "./read-body.js";
import { sendError } from "./send-json.js";

/** The envd version the agent claims; ≥0.6.4 turns on every SDK path (spec §8). */
export const envdVersion = ENVD_VERSION;

const maxInitBody = 4 * 1024 * 1024;
const run = promisify(execFile);

/** The fields of `POST /init` the agent applies (spec §5.7); the rest are accepted and ignored. */
export interface InitRequest {
  envVars?: Record<string, string>;
  accessToken?: string;
  timestamp?: string;
  defaultUser?: string;
  defaultWorkdir?: string;
  /** PEM certificates the sandbox should trust. */
  caBundle?: string;
  /** Present when the request asked for NFS mounts, which the agent does not support. */
  volumeMounts?: unknown;
  /**
   * The sandbox's identity, for `E2B_SANDBOX_ID` and `E2B_TEMPLATE_ID`. Not envd's fields (it
   * learns them from its host another way); the server is this agent's only caller of /init.
   */
  sandboxId?: string;
  templateId?: string;
}

/** What applying an `/init` touches outside the agent's state; tests replace each part. */
export interface InitEffects {
  /** Sets the guest clock; left out, the clock is never set. */
  setClock?: ClockSetter;
  /** Where a `caBundle` is installed; default Debian's system locations. */
  caBundlePaths?: CaBundlePaths;
  /** Where notices go; default JSON lines on stdout. */
  log?: AgentLog;
  /** Called once an init has changed the state. */
  applied?: () => void;
}

/** Sets the guest clock; injectable so tests never touch the real one. */
export type ClockSetter = (epochMs: number) => Promise<void>;

/** Sets the system clock with `date`, which only root can do. */
export const setSystemClock: ClockSetter = async (epochMs) => {
  await run("date", ["-u", "-s", `@${(epochMs / 1000).toFixed(3)}`]);
};

/** Validates an `/init` body; returns a message for the 400 when it is malformed. */
export function parseInitRequest(body: unknown): InitRequest | string {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return "body must be a JSON object";
  const b = body as Record<string, unknown>;
  const result: InitRequest = {};
  if (b.envVars !== undefined && b.envVars !== null) {
    if (!isStringMap(b.envVars)) return "envVars must be an object of strings";
    result.envVars = b.envVars;
  }
  const strings = [
    "accessToken",
    "timestamp",
    "defaultUser",
    "defaultWorkdir",
    "caBundle",
    "sandboxId",
    "templateId",
  ] as const;
  for (const key of strings) {
    const value = b[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== "string") return `${key} must be a string`;
    result[key] = value;
  }
  if (result.timestamp !== undefined && !Number.isFinite(Date.parse(result.timestamp))) {
    return "timestamp must be an RFC 3339 date-time";
  }
  if (result.caBundle === "") delete result.caBundle;
  if (result.caBundle !== undefined && !result.caBundle.includes(pemCertificateHeader)) {
    return `caBundle must be PEM text with at least one ${pemCertificateHeader} block`;
  }
  // Accepted so the control plane's requests succeed; NFS mounts are not supported.
  const mounts = b.volumeMounts;
  if (mounts !== undefined && mounts !== null && !(Array.isArray(mounts) && mounts.length === 0)) {
    result.volumeMounts = mounts;
  }
  return result;
}

/**
 * Applies an init to the state (spec §5.7). A timestamp older than the last applied one makes
 * the request stale: authorised, answered 204, changes nothing. The clock is moved only when
 * it is off by more than −50 ms/+5 s, only as root, and a failure there is not an error.
 * Installing the CA bundle is the one step that can fail; it runs before the state changes, so
 * a failed init can be retried with the same timestamp.
 */
export async function applyInit(
  state: AgentState,
  init: InitRequest,
  effects: InitEffects = {},
  now = Date.now(),
): Promise<void> {
  const at = init.timestamp === undefined ? undefined : Date.parse(init.timestamp);
  if (at !== undefined && state.lastInitAt !== undefined && at <= state.lastInitAt) return;
  const log = effects.log ?? logJson;
  if (at !== undefined) {
    const drift = now - at;
    if (effects.setClock && process.getuid?.() === 0 && (drift > 5000 || drift < -50)) {
      await effects.setClock(at).catch(() => undefined);
    }
  }
  if (init.caBundle !== undefined) {
    await installCaBundle(init.caBundle, effects.caBundlePaths ?? defaultCaBundlePaths);
  }
  if (init.volumeMounts !== undefined) {
    log({ msg: "init: volumeMounts ignored, NFS mounts are not supported", sandboxId: state.sandboxId });
  }
  if (at !== undefined) state.lastInitAt = at;
  state.envVars = { ...(init.envVars ?? {}) };
  state.accessToken =
    init.accessToken === undefined || init.accessToken === "" ? undefined : init.accessToken;
  if (init.defaultUser) state.defaultUser = init.defaultUser;
  if (init.defaultWorkdir) state.defaultWorkdir = init.defaultWorkdir;
  if (init.sandboxId) state.sandboxId = init.sandboxId;
  if (init.templateId) state.templateId = init.templateId;
  effects.applied?.();
}

/**
 * `POST /init`. Authorised when the agent has no token yet (first setup), or the request shows
 * the current one in `X-Access-Token` or re-sends it as `accessToken` (resume does that).
 */
export async function handleInit(
  state: AgentState,
  req: HttpRequest,
  res: HttpResponse,
  effects: InitEffects,
): Promise<void> {
  let body: unknown = {};
  try {
    const raw = await readSmallBody(req, maxInitBody);
    if (raw.length > 0) body = JSON.parse(raw.toString("utf8"));
  } catch (error) {
    await drainRefusedBody(req, res);
    const tooLarge = (error as { code?: string }).code === "resource_exhausted";
    sendError(res, tooLarge ? 413 : 400, `error decoding init request: ${(error as Error).message}`);
    return;
  }
  const init = parseInitRequest(body);
  if (typeof init === "string") {
    sendError(res, 400, `error decoding init request: ${init}`);
    return;
  }
  const presented = headerOf(req, accessTokenHeader);
  const current = state.accessToken;
  const authorised =
    current === undefined ||
    checkAccessToken(current, presented) ||
    (init.accessToken !== undefined && secretsEqual(current, init.accessToken));
  if (!authorised) {
    sendError(res, 401, "unauthorized access, access token does not match");
    return;
  }
  try {
    await applyInit(state, init, effects);
  } catch (error) {
    // Only the CA bundle can fail; the state is unchanged, so the caller may simply retry.
    sendError(res, 500, `error installing caBundle: ${(error as Error).message}`);
    return;
  }
  res.statusCode = 204;
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("X-Envd-Version", envdVersion);
  res.end();
}
