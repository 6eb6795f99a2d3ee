// One error family for everything the SDK throws. Each class carries a code of the protocol's closed
// set, so `err.code` means the same here as on the server; wire errors are turned into these where
// they enter (REST responses, envd HTTP responses, Connect errors).
import { Code, ConnectError } from "@connectrpc/connect";
import { type ErrorCode, SandpitError } from "@sandpit/protocol";

/** Base of every error the SDK throws; `code` is one of the protocol's error codes. */
export class SandboxError extends SandpitError {
  constructor(message: string, code: ErrorCode = "unknown", options?: { cause?: unknown }) {
    super(code, message, options);
    // SandpitError pins `name`; subclasses report their own so logs and `instanceof`-less checks work.
    Object.defineProperty(this, "name", { value: new.target.name, enumerable: false, configurable: true });
  }
}

/** A sandbox, file or process does not exist. */
export class NotFoundError extends SandboxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "not_found", options);
  }
}

/** The sandbox does not exist any more (killed, expired, another team's). */
export class SandboxNotFoundError extends NotFoundError {}

/** A file or directory inside the sandbox does not exist. */
export class FileNotFoundError extends NotFoundError {}

/** The API key or the sandbox's access token was missing or refused. */
export class AuthenticationError extends SandboxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "unauthenticated", options);
  }
}

/** Too many requests; try again later. */
export class RateLimitError extends SandboxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "resource_exhausted", options);
  }
}

/** A deadline passed: the request timeout, a command's timeout, or the sandbox's own end of life. */
export class TimeoutError extends SandboxError {
  constructor(
    message: string,
    code: "deadline_exceeded" | "canceled" | "unavailable" = "deadline_exceeded",
    options?: { cause?: unknown },
  ) {
    super(message, code, options);
  }
}

/** An argument was refused, by the SDK or by the sandbox. */
export class InvalidArgumentError extends SandboxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "invalid_argument", options);
  }
}

/** The sandbox's disk is full. */
export class NotEnoughSpaceError extends SandboxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "resource_exhausted", options);
  }
}

/** The template's agent is too old for what was asked. */
export class TemplateError extends SandboxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "failed_precondition", options);
  }
}

/** What a finished command left behind. */
export interface CommandResult {
  /** Exit code; 0 on success, -1 when a signal ended the command. */
  exitCode: number;
  /** The agent's description of a failure, e.g. `exit status 1` or `signal: killed`. */
  error?: string;
  /** Everything the command wrote to stdout. */
  stdout: string;
  /** Everything the command wrote to stderr. */
  stderr: string;
}

/** A command exited with a non-zero code; the error carries its result. */
export class CommandExitError extends SandboxError implements CommandResult {
  /** The command's result. */
  readonly result: CommandResult;

  constructor(result: CommandResult) {
    super(result.error ?? `exit status ${result.exitCode}`, "aborted");
    this.result = result;
  }

  /** Exit code of the command. */
  get exitCode(): number {
    return this.result.exitCode;
  }
  /** The agent's description of the failure. */
  get error(): string | undefined {
    return this.result.error;
  }
  /** The command's stdout. */
  get stdout(): string {
    return this.result.stdout;
  }
  /** The command's stderr. */
  get stderr(): string {
    return this.result.stderr;
  }
}

const SANDBOX_TIMEOUT_HINT =
  "This error is likely due to sandbox timeout. You can modify the sandbox timeout by passing 'timeoutMs' when starting the sandbox or calling '.setTimeout' on the sandbox with the desired timeout.";

const REQUEST_TIMEOUT_HINT =
  "This error is likely due to exceeding 'requestTimeoutMs'. You can pass the request timeout value as an option when making the request.";

const DEADLINE_HINT =
  "This error is likely due to exceeding 'timeoutMs' — the total time a long running request (like command execution or directory watch) can be active. It can be modified by passing 'timeoutMs' when making the request. Use '0' to disable the timeout.";

/** The error of a request to a sandbox that is gone (spec §4: the proxy answers 502). */
export function sandboxGoneError(message: string, cause?: unknown): TimeoutError {
  return new TimeoutError(`${message}: ${SANDBOX_TIMEOUT_HINT}`, "unavailable", { cause });
}

/** What the SDK says when a stream was cut and the sandbox turned out to be gone. */
export function killedInFlightError(message: string, cause?: unknown): TimeoutError {
  return new TimeoutError(
    `${message}: The sandbox was killed or reached its end of life while the request was in flight.`,
    "unavailable",
    { cause },
  );
}

/**
 * Maps a non-2xx answer of the REST API (spec §3.1) to an error. Call sites that give 404 or 409 a
 * meaning of their own (kill, pause, getInfo) handle those before calling this.
 */
export function apiError(status: number, message: string | undefined): SandboxError {
  if (status === 401) {
    const base = "Unauthorized, please check your credentials.";
    return new AuthenticationError(message ? `${base} - ${message}` : base);
  }
  if (status === 429) {
    const base = "Rate limit exceeded, please try again later";
    return new RateLimitError(message ? `${base} - ${message}` : base);
  }
  return new SandboxError(`${status}: ${message ?? ""}`, codeOfStatus(status));
}

/** Maps a non-2xx answer of the agent's HTTP endpoints (`/files`, `/health`; spec §9). */
export function envdHttpError(status: number, message: string, files = false): SandboxError {
  switch (status) {
    case 400:
      return new InvalidArgumentError(message);
    case 401:
      return new AuthenticationError(message);
    case 404:
      return files ? new FileNotFoundError(message) : new NotFoundError(message);
    case 429:
      return new RateLimitError(`${message}: The requests are being rate limited.`);
    case 502:
      return sandboxGoneError(message);
    case 507:
      return new NotEnoughSpaceError(message);
    default:
      return new SandboxError(`${status}: ${message}`, codeOfStatus(status));
  }
}

/** Maps an error of an agent RPC (spec §9); anything that is not a ConnectError is wrapped as unknown. */
export function rpcError(err: unknown, files = false): SandboxError {
  if (err instanceof SandboxError) return err;
  if (!(err instanceof ConnectError)) return fetchError(err, "request failed");
  const message = err.message;
  const options = { cause: err };
  switch (err.code) {
    case Code.InvalidArgument:
      return new InvalidArgumentError(message, options);
    case Code.Unauthenticated:
      return new AuthenticationError(message, options);
    case Code.NotFound:
      return files ? new FileNotFoundError(message, options) : new NotFoundError(message, options);
    case Code.ResourceExhausted:
      return new RateLimitError(`${message}: Rate limit exceeded, please try again later.`, options);
    case Code.Unavailable:
      return sandboxGoneError(message, err);
    case Code.Canceled:
      return new TimeoutError(`${message}: ${REQUEST_TIMEOUT_HINT}`, "canceled", options);
    case Code.DeadlineExceeded:
      return new TimeoutError(`${message}: ${DEADLINE_HINT}`, "deadline_exceeded", options);
    default:
      return new SandboxError(`${err.code}: ${message}`, connectCodeName(err.code), options);
  }
}

const CONNECTION_DROPPED = [
  "terminated",
  "The socket connection was closed unexpectedly",
  "error reading a body from connection",
  "Network connection lost",
  "other side closed",
];

/** Whether an error is a connection cut mid-request (the sandbox may have been killed; spec §4). */
export function isConnectionDropped(err: unknown): boolean {
  if (err instanceof ConnectError) {
    return err.code === Code.Unknown && CONNECTION_DROPPED.some((m) => err.rawMessage.includes(m));
  }
  if (err instanceof Error) {
    const texts = [err.message, err.cause instanceof Error ? err.cause.message : ""];
    return texts.some((t) => CONNECTION_DROPPED.some((m) => t.includes(m)));
  }
  return false;
}

/** Turns a failed fetch (network error, abort, timeout) into an error of the family. */
export function fetchError(err: unknown, what: string): SandboxError {
  if (err instanceof SandboxError) return err;
  const name = err instanceof Error ? err.name : "";
  if (name === "TimeoutError") {
    return new TimeoutError(`${what}: request timed out: ${REQUEST_TIMEOUT_HINT}`, "canceled", {
      cause: err,
    });
  }
  if (name === "AbortError") {
    return new SandboxError(`${what}: request was aborted`, "canceled", { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  const detail = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : "";
  return new SandboxError(`${what}: ${message}${detail}`, "unavailable", { cause: err });
}

const STATUS_CODES: Record<number, ErrorCode> = {
  400: "invalid_argument",
  401: "unauthenticated",
  403: "permission_denied",
  404: "not_found",
  409: "already_exists",
  429: "resource_exhausted",
  499: "canceled",
  501: "unimplemented",
  502: "unavailable",
  503: "unavailable",
  504: "deadline_exceeded",
};

/** The error code an HTTP status stands for. */
export function codeOfStatus(status: number): ErrorCode {
  return STATUS_CODES[status] ?? (status >= 500 ? "internal" : "unknown");
}

const CONNECT_CODES: Record<number, ErrorCode> = {
  [Code.Canceled]: "canceled",
  [Code.Unknown]: "unknown",
  [Code.InvalidArgument]: "invalid_argument",
  [Code.DeadlineExceeded]: "deadline_exceeded",
  [Code.NotFound]: "not_found",
  [Code.AlreadyExists]: "already_exists",
  [Code.PermissionDenied]: "permission_denied",
  [Code.ResourceExhausted]: "resource_exhausted",
  [Code.FailedPrecondition]: "failed_precondition",
  [Code.Aborted]: "aborted",
  [Code.OutOfRange]: "out_of_range",
  [Code.Unimplemented]: "unimplemented",
  [Code.Internal]: "internal",
  [Code.Unavailable]: "unavailable",
  [Code.DataLoss]: "data_loss",
  [Code.Unauthenticated]: "unauthenticated",
};

function connectCodeName(code: Code): ErrorCode {
  return CONNECT_CODES[code] ?? "unknown";
}
