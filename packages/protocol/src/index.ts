/** Messages, enums and the `Filesystem` service descriptor of `filesystem.Filesystem` (spec §6.5). */
export * as filesystemPb from "./gen/filesystem/filesystem_pb.js";
/** Messages, enums and the `Process` service descriptor of `process.Process` (spec §6.3). */
export * as processPb from "./gen/process/process_pb.js";
export { type ErrorCode, errorCodes, httpStatusOf, isErrorCode, SandpitError } from "./sandpit-error.js";
