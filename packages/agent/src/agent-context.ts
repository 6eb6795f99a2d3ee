import { type AgentState, initialAgentState } from "./agent-state.js";
import { createCachedUserDirectory } from "./cached-user-directory.js";
import { createFileMetadata, type FileMetadata } from "./file-metadata.js";
import type { UserDirectory } from "./users.js";

/** What every RPC service and HTTP route of one agent shares. */
export interface AgentContext {
  /** Mutable: `/init` replaces its fields while the agent runs. */
  state: AgentState;
  users: UserDirectory;
  fileMetadata: FileMetadata;
}

/** Options of {@link createAgentContext}; anything left out gets the in-sandbox default. */
export interface AgentContextOptions {
  state?: AgentState;
  users?: UserDirectory;
  /** Default: xattrs, else the linked store in `/var/lib/sandpit-agent/file-metadata`. */
  fileMetadata?: FileMetadata;
}

/** Creates the shared context, defaulting to a fresh state and the sandbox's `/etc`. */
export function createAgentContext(options: AgentContextOptions = {}): AgentContext {
  return {
    state: options.state ?? initialAgentState(),
    users: options.users ?? createCachedUserDirectory(),
    fileMetadata: options.fileMetadata ?? createFileMetadata(),
  };
}
