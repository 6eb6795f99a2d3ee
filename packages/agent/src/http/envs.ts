import { type AgentState, globalEnv } from "../agent-state.js";
import type { HttpResponse } from "./http-types.js";
import { sendJson } from "./send-json.js";

/** `GET /envs`: the global env vars every process gets (spec §5.5). */
export function handleEnvs(state: AgentState, res: HttpResponse): void {
  sendJson(res, 200, globalEnv(state));
}
