/** What `/init` sets and every service reads: the sandbox's identity and defaults. */
export interface AgentState {
  /** Global env vars of every process, replaced (not merged) by each `/init`. */
  envVars: Record<string, string>;
  /** When set, every call must carry it (spec §5, §6.2). */
  accessToken: string | undefined;
  /** User of calls that name none: `root` until `/init` says otherwise. */
  defaultUser: string;
  /** cwd of processes and root of empty paths when set. */
  defaultWorkdir: string | undefined;
  sandboxId: string | undefined;
  templateId: string | undefined;
  /** RFC 3339 timestamp of the last applied `/init`, to ignore stale ones. */
  lastInitAt: number | undefined;
}

/** The state of an agent nobody has initialised yet. */
export function initialAgentState(): AgentState {
  return {
    envVars: {},
    accessToken: undefined,
    defaultUser: "root",
    defaultWorkdir: undefined,
    sandboxId: undefined,
    templateId: undefined,
    lastInitAt: undefined,
  };
}

/** The env vars that name the sandbox; a pooled sandbox gets them only at its create. */
export const identityEnv = { sandboxId: "E2B_SANDBOX_ID", templateId: "E2B_TEMPLATE_ID" } as const;

/** The env vars the agent adds to every process after the user's base ones (spec §7). */
export function globalEnv(state: AgentState): Record<string, string> {
  const system: Record<string, string> = { E2B_SANDBOX: "true" };
  if (state.sandboxId) system[identityEnv.sandboxId] = state.sandboxId;
  if (state.templateId) system[identityEnv.templateId] = state.templateId;
  return { ...state.envVars, ...system };
}
