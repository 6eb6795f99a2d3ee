export { type AgentConfig, readAgentConfig } from "./agent-config.js";
export { type AgentContext, type AgentContextOptions, createAgentContext } from "./agent-context.js";
export {
  type AgentServer,
  type AgentServerOptions,
  createAgentServer,
  defaultAgentPort,
} from "./agent-server.js";
export { type AgentState, globalEnv, initialAgentState } from "./agent-state.js";
