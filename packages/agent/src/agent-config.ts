import { AGENT_POOLED_ENV } from "@sandpit/protocol";
import { defaultAgentPort } from "./agent-server.js";
import { defaultMetadataStoreDir } from "./linked-metadata-store.js";

/** The agent's process-level settings; flags override env vars override defaults. */
export interface AgentConfig {
  readonly port: number;
  readonly host: string;
  /** Forward servers that listen only on loopback to the external address (on by default). */
  readonly portForwarding: boolean;
  /** Start commands through the process launcher (on by default; off forks the agent each time). */
  readonly launcher: boolean;
  /** Where file metadata goes on filesystems without extended attributes (gVisor's root). */
  readonly fileMetadataDir: string;
  /** Started ahead for a warm pool: watch nothing before an /init gives an identity. */
  readonly pooled: boolean;
}

function parsePort(value: string, source: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new Error(`${source}: invalid port '${value}'`);
  return port;
}

function flag(argv: readonly string[], name: string): string | undefined {
  let found: string | undefined;
  argv.forEach((arg, i) => {
    if (arg === `--${name}`) found = argv[i + 1];
    else if (arg.startsWith(`--${name}=`)) found = arg.slice(name.length + 3);
  });
  return found;
}

function parseSwitch(value: string, source: string): boolean {
  if (["1", "true", "on"].includes(value)) return true;
  if (["0", "false", "off"].includes(value)) return false;
  throw new Error(`${source}: expected on or off, got '${value}'`);
}

/**
 * Reads `--port`/`--host`/`--no-port-forwarding`/`--no-launcher`/`--file-metadata-dir` and
 * `SANDPIT_AGENT_PORT`/`SANDPIT_AGENT_HOST`/`SANDPIT_AGENT_PORT_FORWARDING`/
 * `SANDPIT_AGENT_LAUNCHER`/`SANDPIT_AGENT_FILE_METADATA_DIR`/`SANDPIT_AGENT_POOLED`, once, at startup.
 */
export function readAgentConfig(argv: readonly string[], env: NodeJS.ProcessEnv): AgentConfig {
  const portFlag = flag(argv, "port");
  const envPort = env.SANDPIT_AGENT_PORT;
  let port = defaultAgentPort;
  if (portFlag !== undefined) port = parsePort(portFlag, "--port");
  else if (envPort) port = parsePort(envPort, "SANDPIT_AGENT_PORT");
  const host = flag(argv, "host") ?? (env.SANDPIT_AGENT_HOST || "0.0.0.0");
  const envForwarding = env.SANDPIT_AGENT_PORT_FORWARDING;
  let portForwarding = true;
  if (argv.includes("--no-port-forwarding")) portForwarding = false;
  else if (envForwarding) portForwarding = parseSwitch(envForwarding, "SANDPIT_AGENT_PORT_FORWARDING");
  const envLauncher = env.SANDPIT_AGENT_LAUNCHER;
  let launcher = true;
  if (argv.includes("--no-launcher")) launcher = false;
  else if (envLauncher) launcher = parseSwitch(envLauncher, "SANDPIT_AGENT_LAUNCHER");
  const dirFlag = flag(argv, "file-metadata-dir");
  const fileMetadataDir = dirFlag ?? (env.SANDPIT_AGENT_FILE_METADATA_DIR || defaultMetadataStoreDir);
  if (!fileMetadataDir.startsWith("/")) {
    const source = dirFlag !== undefined ? "--file-metadata-dir" : "SANDPIT_AGENT_FILE_METADATA_DIR";
    throw new Error(`${source}: must be an absolute path, got '${fileMetadataDir}'`);
  }
  const envPooled = env[AGENT_POOLED_ENV];
  const pooled = envPooled ? parseSwitch(envPooled, AGENT_POOLED_ENV) : false;
  return Object.freeze({ port, host, portForwarding, launcher, fileMetadataDir, pooled });
}
