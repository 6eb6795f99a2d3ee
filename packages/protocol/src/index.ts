/** Messages, enums and the `Filesystem` service descriptor of `filesystem.Filesystem` (spec §6.5). */
export * as filesystemPb from "./gen/filesystem/filesystem_pb.js";
/** Messages, enums and the `Process` service descriptor of `process.Process` (spec §6.3). */
export * as processPb from "./gen/process/process_pb.js";
export {
  AGENT_POOLED_ENV,
  AGENT_PORT,
  type ApiErrorBody,
  CLIENT_ID,
  ENVD_VERSION,
  INSIDE_LIMIT_ENV,
  type ListedSandbox,
  type ListedState,
  type NewSandbox,
  SANDBOX_ID_HEADER,
  SANDBOX_PORT_HEADER,
  type SandboxCreated,
  type SandboxDetail,
  type SandboxMetric,
  TMP_BOOT_MARKER,
  TRAFFIC_TOKEN_HEADER,
} from "./rest-api.js";
export { type ErrorCode, errorCodes, httpStatusOf, isErrorCode, SandpitError } from "./sandpit-error.js";
