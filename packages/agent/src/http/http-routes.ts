import type { connectNodeAdapter } from "@connectrpc/connect-node";
import type { AgentLog } from "../agent-log.js";
import type { AgentState } from "../agent-state.js";
import { accessTokenHeader, checkAccessToken, unauthorizedMessage } from "../auth.js";
import type { FileMetadata } from "../file-metadata.js";
import type { CaBundlePaths } from "../install-ca-bundle.js";
import type { UserDirectory } from "../users.js";
import { handleEnvs } from "./envs.js";
import { handleFileDownload } from "./files-download.js";
import { handleFileUpload } from "./files-upload.js";
import { handleHealth } from "./health.js";
import { type HttpRequest, type HttpResponse, headerOf } from "./http-types.js";
import { type ClockSetter, handleInit, type InitEffects, setSystemClock } from "./init.js";
import { createMetricsSampler, handleMetrics, type MetricsSampler } from "./metrics.js";
import { parseQuery, pathnameOf } from "./query-params.js";
import { sendError } from "./send-json.js";

/** What the HTTP routes need of the agent; the agent's AgentContext satisfies it. */
export interface HttpRoutesContext {
  state: AgentState;
  users: UserDirectory;
  fileMetadata: FileMetadata;
}

/**
 * A node request listener for HTTP/1.1 and HTTP/2 whose types also fit connect-node's
 * `fallback` option, whose response type is a patched variant of node's two.
 */
export type HttpRoutes = ReturnType<typeof connectNodeAdapter>;

/** Test seams of the routes; production uses the defaults. */
export interface HttpRoutesOptions {
  /** Sets the guest clock on `/init`; default runs `date -s`. */
  setClock?: ClockSetter;
  metrics?: MetricsSampler;
  /** Where `/init` installs a `caBundle`; default the system's locations. */
  caBundlePaths?: CaBundlePaths;
  /** Log of `/init`'s notices; default JSON lines on stdout. */
  log?: AgentLog;
  /** Called after an `/init` was applied. */
  onInit?: () => void;
}

// These check credentials themselves: /files accepts signatures, /init its own token rules.
const selfAuthenticated = new Set(["GET /health", "GET /files", "POST /files", "POST /init"]);
const knownPaths = new Set(["/health", "/files", "/init", "/envs", "/metrics"]);

/**
 * The agent's plain-HTTP endpoints (spec §5): `/health`, `/files`, `/init`, `/envs`, `/metrics`.
 * Works with node's HTTP/1.1 server and its HTTP/2 compatibility API. Anything else → 404 JSON;
 * the caller mounts Connect-RPC paths before these.
 */
export function createHttpRoutes(ctx: HttpRoutesContext, options: HttpRoutesOptions = {}): HttpRoutes {
  const metrics = options.metrics ?? createMetricsSampler();
  const initEffects: InitEffects = {
    setClock: options.setClock ?? setSystemClock,
    caBundlePaths: options.caBundlePaths,
    log: options.log,
    applied: options.onInit,
  };

  async function route(req: HttpRequest, res: HttpResponse): Promise<void> {
    const path = pathnameOf(req.url);
    const key = `${req.method} ${path}`;
    if (!selfAuthenticated.has(key)) {
      if (!checkAccessToken(ctx.state.accessToken, headerOf(req, accessTokenHeader))) {
        sendError(res, 401, unauthorizedMessage);
        return;
      }
    }
    let query: Map<string, string>;
    try {
      query = parseQuery(req.url);
    } catch (error) {
      sendError(res, 400, (error as Error).message);
      return;
    }
    switch (key) {
      case "GET /health":
        return handleHealth(res);
      case "GET /files":
        return handleFileDownload(ctx, req, res, query);
      case "POST /files":
        return handleFileUpload(ctx, req, res, query);
      case "POST /init":
        return handleInit(ctx.state, req, res, initEffects);
      case "GET /envs":
        return handleEnvs(ctx.state, res);
      case "GET /metrics":
        return handleMetrics(metrics, res);
    }
    if (knownPaths.has(path)) sendError(res, 405, `method ${req.method} not allowed on ${path}`);
    else sendError(res, 404, `path ${path} not found`);
  }

  return (req, nodeRes) => {
    // The runtime object is node's own response; connect-node only patches its typings.
    const res = nodeRes as HttpResponse;
    route(req, res).catch((error: unknown) => {
      sendError(res, 500, `internal error: ${(error as Error).message}`);
    });
  };
}
