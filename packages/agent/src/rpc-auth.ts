import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { AgentState } from "./agent-state.js";
import { accessTokenHeader, checkAccessToken, unauthorizedMessage } from "./auth.js";

/**
 * A Connect request gate that requires `X-Access-Token` to equal the sandbox's access token on
 * every RPC whenever one is set (spec §5, §6.2). A gate runs on the headers alone, so a request
 * without the token is refused before its body is read or parsed. Reads the state on each call
 * because `/init` may change the token.
 */
export function createAccessTokenGate(state: AgentState): (context: HandlerContext) => void {
  return (context) => {
    if (!checkAccessToken(state.accessToken, context.requestHeader.get(accessTokenHeader))) {
      throw new ConnectError(unauthorizedMessage, Code.Unauthenticated);
    }
  };
}
