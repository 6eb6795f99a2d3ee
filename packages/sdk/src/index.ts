// The public surface of @sandpit/sdk: what users need, nothing else.
export type {
  CommandHandle,
  CommandOutput,
  CommandRequestOptions,
  WaitOptions,
} from "./commands/command-handle.js";
export type {
  CommandConnectOptions,
  CommandStartOptions,
  Commands,
  ProcessInfo,
} from "./commands/commands.js";
export type { ConnectionOptions } from "./connection-config.js";
export {
  AuthenticationError,
  CommandExitError,
  type CommandResult,
  FileNotFoundError,
  InvalidArgumentError,
  NotEnoughSpaceError,
  NotFoundError,
  RateLimitError,
  SandboxError,
  SandboxNotFoundError,
  TemplateError,
  TimeoutError,
} from "./errors.js";
export { type EntryInfo, FileType, type WriteInfo } from "./files/entry-info.js";
export type {
  Filesystem,
  FilesystemListOptions,
  FilesystemReadOptions,
  FilesystemRequestOptions,
  FilesystemWriteOptions,
  WatchOptions,
  WriteData,
  WriteEntry,
} from "./files/filesystem.js";
export { Paginator } from "./paginator.js";
export type { Pty, PtyConnectOptions, PtyCreateOptions } from "./pty.js";
export {
  Sandbox,
  type SandboxConnectOptions,
  type SandboxInfo,
  type SandboxListOptions,
  type SandboxMetrics,
  type SandboxMetricsOptions,
  type SandboxOptions,
  type SandboxPauseOptions,
  type SandboxState,
  type SandboxUrlOptions,
} from "./sandbox.js";
export { type FilesystemEvent, FilesystemEventType, type WatchHandle } from "./watch-handle.js";
