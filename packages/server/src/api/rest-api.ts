import { CLIENT_ID, SandpitError } from "@sandpit/protocol";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { SandboxManager } from "../lifecycle/sandbox-manager.js";
import { listedStateOf, type SandboxRecord, type Store, type TeamRecord } from "../store/index.js";
import type { TemplateCatalog } from "../template-catalog.js";
import {
  errorBody,
  listedSandbox,
  listQuery,
  logsQuery,
  metricsQuery,
  newSandboxBody,
  pauseBody,
  refreshBody,
  resumeBody,
  sandboxCreated,
  sandboxDetail,
  sandboxMetric,
  sandboxParams,
  timeoutBody,
} from "./api-schemas.js";
import { parseMetadataFilter, parseStartedAfter, parseStateFilter } from "./list-query.js";

/** What the REST API needs from the rest of the server. */
export interface RestApiDeps {
  store: Store;
  manager: SandboxManager;
  templates: TemplateCatalog;
  /** Returned as `domain`, so `getHost(port)` builds `<port>-<id>.<domain>`. */
  domain: string;
}

declare module "fastify" {
  interface FastifyRequest {
    team?: TeamRecord;
  }
  interface FastifyContextConfig {
    /** Served without an API key (health, metrics, the OpenAPI document). */
    public?: boolean;
  }
}

const DEFAULT_TIMEOUT_SEC = 15;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function teamOf(request: FastifyRequest): TeamRecord {
  if (!request.team) throw new SandpitError("unauthenticated", "missing API key");
  return request.team;
}

function listed(record: SandboxRecord) {
  return {
    templateID: record.templateId,
    sandboxID: record.id,
    clientID: CLIENT_ID,
    ...(record.alias ? { alias: record.alias } : {}),
    startedAt: iso(record.startedAt),
    endAt: iso(record.endAt),
    cpuCount: record.cpuCount,
    memoryMB: record.memoryMB,
    diskSizeMB: record.diskSizeMB,
    state: listedStateOf[record.state] ?? "running",
    envdVersion: record.envdVersion,
    metadata: { ...record.metadata },
  };
}

/** Registers the E2B-compatible sandbox endpoints (spec §3.3) on an app with the zod type provider. */
export function registerRestApi(app: FastifyInstance, deps: RestApiDeps): void {
  const { store, manager, templates, domain } = deps;
  const api = app.withTypeProvider<ZodTypeProvider>();
  const errors = { 400: errorBody, 401: errorBody, 404: errorBody, 409: errorBody, 500: errorBody };
  const noContent = { 204: z.void().describe("No content"), ...errors };

  const created = (record: SandboxRecord) => ({
    templateID: record.templateId,
    sandboxID: record.id,
    clientID: CLIENT_ID,
    envdVersion: record.envdVersion,
    ...(record.alias ? { alias: record.alias } : {}),
    ...(record.accessToken ? { envdAccessToken: record.accessToken } : {}),
    ...(record.trafficAccessToken ? { trafficAccessToken: record.trafficAccessToken } : {}),
    domain,
  });

  // Every API call carries a key of the caller's team; a wrong one answers 401 before anything else.
  app.addHook("onRequest", async (request) => {
    if (request.routeOptions.config.public === true) return;
    const key = request.headers["x-api-key"];
    if (typeof key !== "string" || key === "")
      throw new SandpitError("unauthenticated", "missing X-API-Key header");
    const team = await store.findTeamByApiKey(key);
    if (!team) throw new SandpitError("unauthenticated", "invalid API key");
    request.team = team;
  });

  api.post(
    "/sandboxes",
    {
      schema: {
        summary: "Create a sandbox",
        body: newSandboxBody,
        response: { 201: sandboxCreated, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const record = await manager.create(teamOf(request).id, {
        templateID: body.templateID,
        timeoutSec: body.timeout ?? DEFAULT_TIMEOUT_SEC,
        metadata: body.metadata ?? {},
        envVars: body.envVars ?? {},
        secure: body.secure ?? false,
        allowInternetAccess: body.allow_internet_access ?? null,
        autoPause: body.autoPause ?? false,
        autoPauseMemory: body.autoPauseMemory ?? true,
        autoResume: body.autoResume?.enabled ?? false,
        allowPublicTraffic: body.network?.allowPublicTraffic ?? true,
      });
      return reply.code(201).send(created(record));
    },
  );

  api.get(
    "/v2/sandboxes",
    {
      schema: {
        summary: "List sandboxes, running and paused, with filters and paging",
        querystring: listQuery,
        response: { 200: z.array(listedSandbox), ...errors },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const template = q.template;
      if (template?.includes(":"))
        throw new SandpitError("invalid_argument", "template must not carry a tag");
      const known = template === undefined ? undefined : templates.find(template);
      if (template !== undefined && !known) return reply.send([]);
      const page = await store.listSandboxes({
        teamId: teamOf(request).id,
        states: parseStateFilter(q.state),
        metadata: parseMetadataFilter(q.metadata),
        template: known?.templateID,
        startedAfter: parseStartedAfter(q.startedAfter),
        order: q.order,
        limit: q.limit ?? 100,
        cursor: q.nextToken,
      });
      if (page.nextCursor) reply.header("x-next-token", page.nextCursor);
      reply.header("x-total-running", String(page.runningCount));
      return reply.send(page.items.map(listed));
    },
  );

  api.get(
    "/sandboxes",
    {
      schema: {
        summary: "List running sandboxes (v1)",
        querystring: z.object({ metadata: z.string().max(8192).optional() }),
        response: { 200: z.array(listedSandbox), ...errors },
      },
    },
    async (request) => {
      const items: SandboxRecord[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listSandboxes({
          teamId: teamOf(request).id,
          states: ["running"],
          metadata: parseMetadataFilter(request.query.metadata),
          limit: 100,
          cursor,
        });
        items.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor);
      return items.map(listed);
    },
  );

  api.get(
    "/sandboxes/metrics",
    {
      schema: {
        summary: "Latest metric sample of several sandboxes",
        querystring: z.object({ sandbox_ids: z.string().max(10_000) }),
        response: { 200: z.object({ sandboxes: z.record(z.string(), sandboxMetric) }), ...errors },
      },
    },
    async (request) => {
      const team = teamOf(request);
      const sandboxes: Record<string, z.infer<typeof sandboxMetric>> = {};
      for (const raw of request.query.sandbox_ids.split(",").filter(Boolean).slice(0, 100)) {
        const record = await manager.get(team.id, raw).catch(() => undefined);
        if (!record) continue;
        const samples = await store.listMetricSamples(record.id, Date.now() - 60_000, Date.now());
        const last = samples.at(-1);
        if (last) sandboxes[record.id] = metricOf(last);
      }
      return { sandboxes };
    },
  );

  api.get(
    "/sandboxes/:sandboxID",
    {
      schema: {
        summary: "Get a sandbox",
        params: sandboxParams,
        response: { 200: sandboxDetail, ...errors },
      },
    },
    async (request) => {
      const record = await manager.get(teamOf(request).id, request.params.sandboxID);
      if (record.state === "starting")
        throw new SandpitError("not_found", `sandbox '${record.id}' not found`);
      return {
        ...listed(record),
        ...(record.accessToken ? { envdAccessToken: record.accessToken } : {}),
        allowInternetAccess: record.allowInternetAccess,
        domain,
        lifecycle: {
          autoResume: record.autoResume,
          onTimeout: record.autoPause ? ("pause" as const) : ("kill" as const),
        },
        network: { allowPublicTraffic: record.trafficAccessToken === null },
      };
    },
  );

  api.delete(
    "/sandboxes/:sandboxID",
    { schema: { summary: "Kill a sandbox", params: sandboxParams, response: noContent } },
    async (request, reply) => {
      await manager.kill(teamOf(request).id, request.params.sandboxID);
      return reply.code(204).send();
    },
  );

  api.post(
    "/sandboxes/:sandboxID/timeout",
    {
      schema: {
        summary: "Set the end time to now + timeout",
        params: sandboxParams,
        body: timeoutBody,
        response: noContent,
      },
    },
    async (request, reply) => {
      await manager.setTimeout(teamOf(request).id, request.params.sandboxID, request.body.timeout);
      return reply.code(204).send();
    },
  );

  api.post(
    "/sandboxes/:sandboxID/refreshes",
    {
      schema: {
        summary: "Extend a sandbox's life",
        params: sandboxParams,
        body: refreshBody,
        response: noContent,
      },
    },
    async (request, reply) => {
      await manager.refresh(teamOf(request).id, request.params.sandboxID, request.body.duration ?? 0);
      return reply.code(204).send();
    },
  );

  api.post(
    "/sandboxes/:sandboxID/connect",
    {
      schema: {
        summary: "Connect: extend a running sandbox, resume a paused one",
        params: sandboxParams,
        body: timeoutBody,
        response: { 200: sandboxCreated, 201: sandboxCreated, ...errors },
      },
    },
    async (request, reply) => {
      const { record, resumed } = await manager.connect(
        teamOf(request).id,
        request.params.sandboxID,
        request.body.timeout,
      );
      return reply.code(resumed ? 201 : 200).send(created(record));
    },
  );

  api.post(
    "/sandboxes/:sandboxID/resume",
    {
      schema: {
        summary: "Resume a paused sandbox (deprecated; use connect)",
        params: sandboxParams,
        body: resumeBody,
        response: { 201: sandboxCreated, ...errors },
      },
    },
    async (request, reply) => {
      const record = await manager.resume(
        teamOf(request).id,
        request.params.sandboxID,
        request.body.timeout ?? DEFAULT_TIMEOUT_SEC,
        request.body.autoPause,
      );
      return reply.code(201).send(created(record));
    },
  );

  api.post(
    "/sandboxes/:sandboxID/pause",
    {
      schema: {
        summary: "Pause a sandbox, with its memory unless `memory` is false",
        params: sandboxParams,
        body: pauseBody,
        response: noContent,
      },
    },
    async (request, reply) => {
      const outcome = await manager.pause(teamOf(request).id, request.params.sandboxID, {
        memory: request.body?.memory,
      });
      // E2B's answer has no body; where the memory went is told beside it. `ram`: frozen for
      // as long as it is paused (runc); `disk`: frozen, then checkpointed after a grace period;
      // `none`: `{memory: false}`, only the files are kept and resume boots afresh.
      return reply.code(204).header("x-sandpit-pause-memory", outcome.memory).send();
    },
  );

  api.get(
    "/sandboxes/:sandboxID/metrics",
    {
      schema: {
        summary: "Usage samples of a sandbox",
        params: sandboxParams,
        querystring: metricsQuery,
        response: { 200: z.array(sandboxMetric), ...errors },
      },
    },
    async (request) => {
      const record = await manager.get(teamOf(request).id, request.params.sandboxID);
      const from = request.query.start === undefined ? record.startedAt : request.query.start * 1000;
      const to = request.query.end === undefined ? Date.now() : request.query.end * 1000 + 999;
      const samples = await store.listMetricSamples(record.id, from, to);
      return samples.map(metricOf);
    },
  );

  api.get(
    "/sandboxes/:sandboxID/logs",
    {
      schema: {
        summary: "What the control plane observed about a sandbox",
        params: sandboxParams,
        querystring: logsQuery,
        response: {
          200: z.object({
            logs: z.array(z.object({ timestamp: z.string(), line: z.string() })),
            logEntries: z.array(
              z.object({
                timestamp: z.string(),
                level: z.string(),
                message: z.string(),
                fields: z.record(z.string(), z.string()),
              }),
            ),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const record = await manager.get(teamOf(request).id, request.params.sandboxID);
      const lines = await store.listSandboxLogs(record.id, {
        start: request.query.start,
        limit: request.query.limit,
      });
      return {
        logs: lines.map((l) => ({ timestamp: iso(l.timestamp), line: l.message })),
        logEntries: lines.map((l) => ({
          timestamp: iso(l.timestamp),
          level: l.level,
          message: l.message,
          fields: {},
        })),
      };
    },
  );
}

function metricOf(s: {
  timestamp: number;
  cpuCount: number;
  cpuUsedPct: number;
  memUsed: number;
  memTotal: number;
  memCache: number;
  diskUsed: number;
  diskTotal: number;
}) {
  return {
    timestamp: iso(s.timestamp),
    timestampUnix: Math.floor(s.timestamp / 1000),
    cpuCount: s.cpuCount,
    cpuUsedPct: s.cpuUsedPct,
    memUsed: s.memUsed,
    memTotal: s.memTotal,
    memCache: s.memCache,
    diskUsed: s.diskUsed,
    diskTotal: s.diskTotal,
  };
}
