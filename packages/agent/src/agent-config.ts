import { defaultAgentPort } from "./agent-server.js";

/** The agent's process-level settings; flags override env vars override defaults. */
export interface AgentConfig {
  readonly port: number;
  readonly host: string;
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

/** Reads `--port`/`--host` and `SANDPIT_AGENT_PORT`/`SANDPIT_AGENT_HOST`, once, at startup. */
export function readAgentConfig(argv: readonly string[], env: NodeJS.ProcessEnv): AgentConfig {
  const portFlag = flag(argv, "port");
  const envPort = env.SANDPIT_AGENT_PORT;
  let port = defaultAgentPort;
  if (portFlag !== undefined) port = parsePort(portFlag, "--port");
  else if (envPort) port = parsePort(envPort, "SANDPIT_AGENT_PORT");
  const host = flag(argv, "host") ?? (env.SANDPIT_AGENT_HOST || "0.0.0.0");
  return Object.freeze({ port, host });
}
