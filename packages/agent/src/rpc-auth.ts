import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { AgentState } from "./agent-state.js";
import { accessTokenHeader, checkAccessToken, unauthorizedMessage } from "./auth.js";

/**
 * Requires `X-Access-Token` to equal the sandbox's access token on every RPC whenever one is
 * set (spec §5, §6.2); reads the state on each call because `/init` may change the token.
 */
export function createAccessTokenInterceptor(state: AgentState): Interceptor {
  return (next) => async (req) => {
    if (!checkAccessToken(state.accessToken, req.header.get(accessTokenHeader))) {
      throw new ConnectError(unauthorizedMessage, Code.Unauthenticated);
    }
    return next(req);
  };
}
