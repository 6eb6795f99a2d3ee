import { SandpitError } from "@sandpit/protocol";
import type { AgentContext } from "./agent-context.js";
import { resolveUserPath } from "./paths.js";
import type { SandboxUser } from "./users.js";

/** The username an RPC names with `Authorization: Basic base64("<user>:")`, if any (spec §6.2). */
export function rpcUsername(header: Headers): string | undefined {
  const value = header.get("authorization");
  if (value === null) return undefined;
  const match = /^basic\s+(\S+)\s*$/i.exec(value);
  if (!match?.[1]) throw new SandpitError("unauthenticated", "invalid authorization header");
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  const name = colon === -1 ? decoded : decoded.slice(0, colon);
  return name === "" ? undefined : name;
}

/** The user an RPC acts as: the one its Basic auth names, else the agent's default user. */
export async function rpcUser(ctx: AgentContext, header: Headers): Promise<SandboxUser> {
  return ctx.users.lookup(rpcUsername(header) ?? ctx.state.defaultUser);
}

/** The user an RPC acts as and the request's path resolved for that user (spec §5.2). */
export async function rpcUserPath(
  ctx: AgentContext,
  header: Headers,
  requested: string,
): Promise<{ user: SandboxUser; path: string }> {
  const user = await rpcUser(ctx, header);
  return { user, path: resolveUserPath(requested, user, ctx.state.defaultWorkdir) };
}
