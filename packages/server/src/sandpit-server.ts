import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus } from "node:os";
import { join } from "node:path";
import swagger from "@fastify/swagger";
import { createLocalRuntime, type SandboxDriver } from "@sandpit/runtime";
import Fastify, { type FastifyBaseLogger, LogController } from "fastify";
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { type Logger, pino } from "pino";
import { registerApiErrors } from "./api/api-errors.js";
import { answerClientError } from "./api/client-errors.js";
import { registerRestApi } from "./api/rest-api.js";
import type { ServerConfig } from "./config.js";
import { createAgentSandboxes } from "./lifecycle/agent-sandbox.js";
import { createMetricsSampler } from "./lifecycle/metrics-sampler.js";
import { createSandboxManager, type SandboxManager } from "./lifecycle/sandbox-manager.js";
import { createWarmPool, type WarmPool } from "./lifecycle/warm-pool.js";
import { createSandboxProxy, findSignedSandbox } from "./proxy/index.js";
import { createServerMetrics } from "./server-metrics.js";
import { createSqliteStore, type Store, sandboxStates } from "./store/index.js";
import { createTemplateCatalog, type TemplateCatalog } from "./template-catalog.js";

/** A running Sandpit server. */
export interface SandpitServer {
  /** `http://host:port` the server answers on. */
  readonly url: string;
  readonly port: number;
  readonly store: Store;
  readonly manager: SandboxManager;
  readonly logger: Logger;
  /** Warm sandboxes waiting now, per template. */
  warmSandboxes(): Record<string, number>;
  /** Stops serving; running sandboxes stay for the next start to adopt. */
  close(): Promise<void>;
}

/** Parts a caller may supply instead of the defaults (tests share one runtime, for example). */
export interface SandpitServerParts {
  driver?: SandboxDriver;
  templates?: TemplateCatalog;
  logger?: Logger;
}

const defaultAgentDir = new URL("../../agent/dist/bundle", import.meta.url).pathname;

/** Starts the control plane: store, runtime, lifecycle, pool, REST API and proxy on one port. */
export async function startSandpitServer(
  config: ServerConfig,
  parts: SandpitServerParts = {},
): Promise<SandpitServer> {
  const logger = parts.logger ?? pino({ level: config.logLevel });
  const store = createSqliteStore({ path: join(config.dataDir, "sandpit.db") });
  const applied = await store.migrate();
  if (applied.length > 0) logger.info({ migrations: applied }, "store migrated");
  const team = await store.ensureTeam("default");
  for (const key of config.apiKeys) await store.addApiKey(team.id, key, "serve --api-key");

  const local = parts.driver
    ? undefined
    : createLocalRuntime({
        runtime: config.runtime,
        dataDir: config.dataDir,
        templatesDir: config.templatesDir,
        prefix: config.prefix,
        addressPool: config.addressPool,
        noNewPrivileges: config.noNewPrivileges,
        onTemplateProgress: (line) => logger.info({ template: "base" }, line),
      });
  const driver: SandboxDriver = parts.driver ?? (local as SandboxDriver);
  const templates =
    parts.templates ??
    createTemplateCatalog([
      {
        templateID: "base",
        alias: "base",
        cpuCount: Math.min(2, cpus().length),
        memoryMB: 1024,
        diskSizeMB: 4096,
      },
    ]);
  const metrics = createServerMetrics();
  const agents = createAgentSandboxes({ driver, agentDir: config.agentDir ?? defaultAgentDir });
  const pool: WarmPool = createWarmPool({
    driver,
    agents,
    templates: templates.list(),
    size: config.poolSize,
    logger: logger.child({ component: "pool" }),
  });
  const sampler = createMetricsSampler({
    store,
    driver,
    intervalMs: config.metricsIntervalMs,
    logger: logger.child({ component: "metrics" }),
    onDead: (id) => {
      void manager
        ?.reapDead(id)
        .catch((e: unknown) => logger.error({ sandboxId: id, err: e }, "removing a dead sandbox failed"));
    },
  });
  // The proxy and the manager need each other: the manager severs, the proxy routes.
  let manager: SandboxManager | undefined;
  const proxy = createSandboxProxy({
    domain: config.domain,
    resolve: (id) => manager?.route(id) ?? { state: "gone" },
    resume: (id) => {
      if (!manager) throw new Error("server is starting");
      return manager.resumeForTraffic(id);
    },
    findSignedFileTarget: (url, operation) => findSignedSandbox(url, operation, manager?.tokens() ?? []),
    logger: logger.child({ component: "proxy" }),
  });
  const mgr = createSandboxManager({
    store,
    driver,
    agents,
    templates,
    pool,
    logger,
    maxTimeoutSec: config.maxTimeoutSec,
    pause: {
      warmMs: config.pauseWarmMs,
      memoryFloorMB: config.pauseMemoryFloorMB,
      retentionSec: config.pausedRetentionSec,
    },
    sever: (id) => proxy.sever(id),
    onRunning: (id) => sampler.sampleSoon(id),
    onCreateDone: (ms, warm, ok) => {
      metrics.creates.labels(ok ? "ok" : "failed", String(warm)).inc();
      if (ok) metrics.createSeconds.labels(String(warm)).observe(ms / 1000);
    },
  });
  manager = mgr;
  await mgr.reconcile();

  let server: Server | undefined;
  const app = Fastify({
    loggerInstance: logger.child({ component: "api" }) as FastifyBaseLogger,
    // One line per request would drown the sandbox events; request metrics go to /metrics.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    // Long ids must reach the routes, which answer them 400/404 in the API's own shape.
    routerOptions: { maxParamLength: 4096 },
    clientErrorHandler: answerClientError,
    serverFactory: (handler) => {
      server = createServer((req, res) => {
        const match = proxy.match(req);
        if (match) proxy.handle(req, res, match);
        else handler(req, res);
      });
      // Fastify does not apply its timeouts to a server it did not create. Streams (commands,
      // watches, big uploads) may last for hours: no request timeout; idle keep-alive as envd's.
      server.requestTimeout = 0;
      server.headersTimeout = 60_000;
      server.keepAliveTimeout = 650_000;
      server.on("upgrade", (req, socket, head) => {
        if (!proxy.handleUpgrade(req, socket, head)) socket.destroy();
      });
      return server;
    },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerApiErrors(app);
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Sandpit API", version: "0.1.0", description: "E2B-compatible sandbox API" },
      components: { securitySchemes: { ApiKeyAuth: { type: "apiKey", in: "header", name: "X-API-Key" } } },
      security: [{ ApiKeyAuth: [] }],
    },
    transform: jsonSchemaTransform,
  });
  app.addHook("onResponse", async (request, reply) => {
    metrics.requests
      .labels(request.method, request.routeOptions.url ?? "unknown", String(reply.statusCode))
      .observe(reply.elapsedTime / 1000);
  });
  const open = { config: { public: true } };
  app.get("/health", open, async () => ({ status: "ok" }));
  app.get("/openapi.json", open, async () => app.swagger());
  app.get("/metrics", open, async (_request, reply) => {
    const counts = new Map<string, number>(sandboxStates.map((s) => [s, 0]));
    for (const r of await store.listAllSandboxes()) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
    for (const [state, n] of counts) metrics.sandboxes.labels(state).set(n);
    for (const t of templates.list())
      metrics.poolReady.labels(t.templateID).set(pool.sizes()[t.templateID] ?? 0);
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  registerRestApi(app, { store, manager: mgr, templates, domain: config.domain });

  await app.listen({ port: config.port, host: config.host });
  if (!server) throw new Error("fastify did not build the HTTP server");
  const port = (server.address() as AddressInfo).port;
  const shownHost = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  // A fresh machine builds the base template (about a minute) now, not inside the first
  // create, which the SDK would give up on after its 60 s request timeout.
  if (local && config.poolSize === 0) {
    void local.templates.ensure("base").then(
      () => logger.info({ template: "base" }, "template ready"),
      (e: unknown) => logger.error({ err: e, template: "base" }, "building the template failed"),
    );
  }
  pool.start();
  logger.info({ port, runtime: driver.name, poolSize: config.poolSize }, "sandpit is ready");

  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    store,
    manager: mgr,
    logger,
    warmSandboxes: () => pool.sizes(),
    close() {
      closing ??= (async () => {
        mgr.close();
        sampler.close();
        await proxy.close();
        // Clients keep idle connections as long as the server's keep-alive hint allows (650 s):
        // close those now, and whatever is still busy a moment later.
        const closed = app.close();
        server?.closeIdleConnections();
        const force = setTimeout(() => server?.closeAllConnections(), 2000);
        await closed;
        clearTimeout(force);
        await pool.close();
        await store.close();
        // Its own runtime only: removes the shared firewall chains when no sandbox is left.
        await local?.close();
      })();
      return closing;
    },
  };
}
