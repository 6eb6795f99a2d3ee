import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { AgentState } from "./agent-state.js";

function sameSecret(given: string, expected: string): boolean {
  // Hashing first gives equal lengths, so the comparison time says nothing about the token.
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Requires `X-Access-Token` to equal the sandbox's access token on every RPC whenever one is
 * set (spec §5, §6.2); reads the state on each call because `/init` may change the token.
 */
export function createAccessTokenInterceptor(state: AgentState): Interceptor {
  return (next) => async (req) => {
    const expected = state.accessToken;
    if (expected !== undefined) {
      const given = req.header.get("x-access-token");
      if (given === null || !sameSecret(given, expected)) {
        throw new ConnectError(
          "unauthorized access, please provide a valid access token or method signing if supported",
          Code.Unauthenticated,
        );
      }
    }
    return next(req);
  };
}
