import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AGENT_PORT } from "@sandpit/protocol";
import { type AgentContext, createAgentContext } from "./agent-context.js";
import type { AgentState } from "./agent-state.js";
import { createDualProtocolServer, type DualRequestListener } from "./dual-protocol-server.js";
import { createFileMetadata } from "./file-metadata.js";
import { registerFilesystemService } from "./filesystem/filesystem-service.js";
import type { WatcherRegistry } from "./filesystem/watchers.js";
import { createHttpRoutes } from "./http/http-routes.js";
import {
  createPortForwarder,
  type PortForwarder,
  type PortForwarderOptions,
} from "./port-forwarding/port-forwarder.js";
import { createProcessLauncher, type ProcessLauncher, startupNofile } from "./process/process-launcher.js";
import { createProcessRegistry } from "./process/process-registry.js";
import { registerProcessService } from "./process/process-service.js";
import { createReadyShells } from "./process/ready-shell.js";
import { createAccessTokenGate } from "./rpc-auth.js";
import { rpcErrorInterceptor } from "./rpc-error-interceptor.js";
import { reportParseErrorsAsInvalidArgument } from "./rpc-parse-errors.js";
import type { UserDirectory } from "./users.js";

/** Options of {@link createAgentServer}. */
export interface AgentServerOptions {
  /** TCP port; 0 picks a free one. Default 49983, envd's. */
  port?: number;
  /** Default 0.0.0.0. */
  host?: string;
  state?: AgentState;
  users?: UserDirectory;
  /**
   * When set, forwards servers that listen only on loopback to the external addresses while
   * the agent listens (never the agent's own port). Off by default: on a developer's machine
   * it would expose their local servers.
   */
  portForwarding?: PortForwarderOptions;
  /**
   * The process launcher binary (native/launcher.c), started at listen; false to fork the
   * agent for every command instead. Default: bin/sandpit-launcher beside the bundled agent.
   */
  launcherPath?: string | false;
  /**
   * Where file metadata goes on filesystems without extended attributes (a root-only directory
   * on that filesystem). Default /var/lib/sandpit-agent/file-metadata.
   */
  fileMetadataDir?: string;
  /**
   * Started ahead for a warm pool: no user code runs before an /init gives the sandbox its
   * identity, so until then nothing is watched. An idle gVisor sandbox pays for every wake-up,
   * and a pool holds many.
   */
  pooled?: boolean;
  /** Called once the agent serves a sandbox: at listen, or when pooled, at the identity's /init. */
  onIdentity?: () => void;
}

/** A running (or ready to run) agent. */
export interface AgentServer {
  /** Starts listening; resolves with the bound port. */
  listen(): Promise<{ port: number }>;
  /** Kills the processes and watchers it started, drops every connection and stops listening. */
  close(): Promise<void>;
  readonly state: AgentState;
  readonly context: AgentContext;
}

/** Default port of the agent, the one the SDKs address (spec §1). */
export const defaultAgentPort = AGENT_PORT;

/** Where the bundle keeps the launcher, relative to agent.mjs. */
export const bundledLauncherPath = new URL("./bin/sandpit-launcher", import.meta.url).pathname;

const corsMethods = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS";

// Browsers need CORS for both RPC and /files (spec §2); SDKs in Node send no Origin, so they
// pay nothing for it.
function handleCors(
  req: Parameters<DualRequestListener>[0],
  res: Parameters<DualRequestListener>[1],
): boolean {
  if (req.headers.origin === undefined) return false;
  res.setHeader("access-control-allow-origin", "*");
  res.setHeader("access-control-expose-headers", "*");
  if (req.method !== "OPTIONS" || req.headers["access-control-request-method"] === undefined) return false;
  res.setHeader("access-control-allow-methods", corsMethods);
  res.setHeader("access-control-allow-headers", req.headers["access-control-request-headers"] ?? "*");
  res.setHeader("access-control-max-age", "7200");
  res.writeHead(204);
  res.end();
  return true;
}

/** Creates the agent: Connect-RPC process and filesystem services plus envd's HTTP routes, one port. */
export function createAgentServer(options: AgentServerOptions = {}): AgentServer {
  const context = createAgentContext({
    state: options.state,
    users: options.users,
    fileMetadata: createFileMetadata({ storeDir: options.fileMetadataDir }),
  });
  const processes = createProcessRegistry();
  const shutdown = new AbortController();
  let forwarder: PortForwarder | undefined;
  let launcher: ProcessLauncher | undefined;
  let port: number | undefined;
  let serving = false;
  const readyShells = createReadyShells(context, () => launcher);

  let watchers: WatcherRegistry | undefined;
  const rpc = connectNodeAdapter({
    routes(router) {
      registerProcessService(router, context, processes, () => launcher, readyShells);
      watchers = registerFilesystemService(router, context);
      // connect-node maps paths to these handlers after this callback returns.
      router.handlers.splice(
        0,
        router.handlers.length,
        ...router.handlers.map(reportParseErrorsAsInvalidArgument),
      );
    },
    interceptors: [rpcErrorInterceptor],
    // Checked on the headers, before Connect reads or parses any request body.
    requestGate: createAccessTokenGate(context.state),
    jsonOptions: { ignoreUnknownFields: true },
    // Responses stream per message; compressing them would only add buffering (spec §2).
    acceptCompression: [],
    shutdownSignal: shutdown.signal,
    fallback: createHttpRoutes(context, {
      // The server sends an /init after every restore, before any other call reaches the agent.
      onInit: () => {
        readyShells.prepareDefault();
        watchers?.renumberAll();
        serve();
      },
    }),
  });

  const listener: DualRequestListener = (req, res) => {
    if (handleCors(req, res)) return;
    // Connect reads 0 as "already expired"; the protocol means "no deadline" (spec §6.1).
    if (req.headers["connect-timeout-ms"] === "0") delete req.headers["connect-timeout-ms"];
    // A started process is the likeliest next listener: look for it more often for a while.
    if (req.url?.startsWith("/process.Process/Start")) forwarder?.boost();
    rpc(req, res);
  };
  const dual = createDualProtocolServer(listener);

  // What a sandbox in use needs besides answering calls: once, after listen, and for a pooled
  // agent only once it has an identity.
  function serve(): void {
    if (serving || port === undefined || shutdown.signal.aborted) return;
    if (options.pooled && context.state.sandboxId === undefined) return;
    serving = true;
    if (options.portForwarding) {
      const forwarding = options.portForwarding;
      forwarder = createPortForwarder({
        ...forwarding,
        excludedPorts: [...(forwarding.excludedPorts ?? []), defaultAgentPort, port],
      });
    }
    options.onIdentity?.();
  }

  return {
    state: context.state,
    context,
    listen() {
      return new Promise((resolve, reject) => {
        dual.server.once("error", reject);
        dual.server.listen(options.port ?? defaultAgentPort, options.host ?? "0.0.0.0", () => {
          dual.server.off("error", reject);
          port = (dual.server.address() as AddressInfo).port;
          const launcherPath = options.launcherPath ?? bundledLauncherPath;
          if (launcherPath !== false && launcher === undefined) {
            launcher = createProcessLauncher({
              path: launcherPath,
              commandNofile: startupNofile(),
              onFailure: (reason) =>
                console.error(JSON.stringify({ msg: "process launcher stopped, forking instead", reason })),
            });
          }
          serve();
          resolve({ port });
        });
      });
    },
    async close() {
      shutdown.abort();
      processes.killAll();
      readyShells.close();
      context.fileMetadata.close();
      // Bounded: a command stuck in the kernel must not hold the agent's shutdown forever.
      const launcherGone =
        launcher && Promise.race([launcher.close(), sleep(3000, undefined, { ref: false })]);
      watchers?.closeAll();
      await Promise.all([
        launcherGone,
        forwarder?.close(),
        new Promise<void>((resolve) => {
          dual.server.close(() => resolve());
          dual.destroyConnections();
        }),
      ]);
    },
  };
}
