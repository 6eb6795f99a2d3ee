import { z } from "zod";

// Request and response bodies of the REST API (spec §3.2), for validation and the OpenAPI document.

const stringMap = z.record(z.string(), z.string());

/**
 * Body of POST /sandboxes. Unknown fields (iam, volumeMounts, and of `network` all but
 * `allowPublicTraffic`) are accepted and ignored.
 */
export const newSandboxBody = z
  .object({
    templateID: z.string().min(1).max(256),
    timeout: z.number().int().optional(),
    metadata: stringMap.nullish(),
    envVars: stringMap.nullish(),
    secure: z.boolean().optional(),
    allow_internet_access: z.boolean().nullish(),
    autoPause: z.boolean().optional(),
    autoPauseMemory: z.boolean().optional(),
    autoResume: z.object({ enabled: z.boolean() }).nullish(),
    mcp: z.record(z.string(), z.unknown()).nullish(),
    network: z.looseObject({ allowPublicTraffic: z.boolean().optional() }).nullish(),
  })
  .refine((b) => b.autoPauseMemory !== false || b.autoPause === true, {
    message: "autoPauseMemory needs autoPause",
    path: ["autoPauseMemory"],
  })
  .refine((b) => b.autoPauseMemory !== false || b.autoResume?.enabled !== true, {
    message: "autoPauseMemory false cannot be combined with autoResume",
    path: ["autoPauseMemory"],
  })
  // The agent's port is exempt from the traffic token: without its own token it would be open.
  .refine((b) => b.network?.allowPublicTraffic !== false || b.secure === true, {
    message: "allowPublicTraffic false needs a secure sandbox (secure: true)",
    path: ["network", "allowPublicTraffic"],
  });

/** Body of POST /sandboxes/{id}/timeout and /connect. */
export const timeoutBody = z.object({ timeout: z.number().int() });

/** Body of POST /sandboxes/{id}/refreshes. */
export const refreshBody = z.object({ duration: z.number().int().optional() });

/** Body of POST /sandboxes/{id}/pause (optional). */
export const pauseBody = z.object({ memory: z.boolean().optional() }).nullish();

/** Body of the deprecated POST /sandboxes/{id}/resume. */
export const resumeBody = z.object({
  timeout: z.number().int().optional(),
  autoPause: z.boolean().optional(),
});

/** Path parameter of every per-sandbox route. */
export const sandboxParams = z.object({ sandboxID: z.string().min(1).max(128) });

/** Query of GET /v2/sandboxes. */
export const listQuery = z.object({
  metadata: z.string().max(8192).optional(),
  state: z.union([z.string(), z.array(z.string())]).optional(),
  limit: z.coerce.number().int().min(1).max(100).optional(),
  nextToken: z.string().max(1024).optional(),
  order: z.enum(["asc", "desc"]).optional(),
  startedAfter: z.string().max(64).optional(),
  template: z.string().max(256).optional(),
});

/** Query of GET /sandboxes/{id}/metrics. */
export const metricsQuery = z.object({
  start: z.coerce.number().int().min(0).optional(),
  end: z.coerce.number().int().min(0).optional(),
});

/** Query of GET /sandboxes/{id}/logs. */
export const logsQuery = z.object({
  start: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

/** The §3.1 error body. */
export const errorBody = z.object({ code: z.number().int(), message: z.string() });

/** Answer of create, connect and resume. */
export const sandboxCreated = z.object({
  templateID: z.string(),
  sandboxID: z.string(),
  clientID: z.string(),
  envdVersion: z.string(),
  alias: z.string().optional(),
  envdAccessToken: z.string().optional(),
  trafficAccessToken: z.string().nullable().optional(),
  domain: z.string().nullable().optional(),
});

/** One item of GET /v2/sandboxes. */
export const listedSandbox = z.object({
  templateID: z.string(),
  sandboxID: z.string(),
  clientID: z.string(),
  alias: z.string().optional(),
  startedAt: z.string(),
  endAt: z.string(),
  cpuCount: z.number().int(),
  memoryMB: z.number().int(),
  diskSizeMB: z.number().int(),
  state: z.enum(["running", "paused"]),
  envdVersion: z.string(),
  metadata: stringMap.optional(),
});

/** Answer of GET /sandboxes/{id}. */
export const sandboxDetail = listedSandbox.extend({
  envdAccessToken: z.string().optional(),
  allowInternetAccess: z.boolean().nullable().optional(),
  domain: z.string().nullable().optional(),
  lifecycle: z.object({ autoResume: z.boolean(), onTimeout: z.enum(["kill", "pause"]) }).optional(),
  network: z.object({ allowPublicTraffic: z.boolean() }).optional(),
});

/** One metric sample. */
export const sandboxMetric = z.object({
  timestamp: z.string(),
  timestampUnix: z.number().int(),
  cpuCount: z.number().int(),
  cpuUsedPct: z.number(),
  memUsed: z.number().int(),
  memTotal: z.number().int(),
  memCache: z.number().int(),
  diskUsed: z.number().int(),
  diskTotal: z.number().int(),
});
