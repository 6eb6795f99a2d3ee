/**
 * The closed set of error codes every Sandpit component speaks. Each maps to one Connect code
 * and one HTTP status, so an error keeps its meaning across the REST API, the agent's RPC and
 * the SDK.
 */
export const errorCodes = {
  invalid_argument: { http: 400 },
  failed_precondition: { http: 400 },
  out_of_range: { http: 400 },
  unauthenticated: { http: 401 },
  permission_denied: { http: 403 },
  not_found: { http: 404 },
  already_exists: { http: 409 },
  aborted: { http: 409 },
  resource_exhausted: { http: 429 },
  canceled: { http: 499 },
  unknown: { http: 500 },
  internal: { http: 500 },
  data_loss: { http: 500 },
  unimplemented: { http: 501 },
  unavailable: { http: 503 },
  deadline_exceeded: { http: 504 },
} as const satisfies Record<string, { http: number }>;

/** One of Sandpit's error codes; the names are Connect's. */
export type ErrorCode = keyof typeof errorCodes;

/** HTTP status that carries an error of this code. */
export function httpStatusOf(code: ErrorCode): number {
  return errorCodes[code].http;
}

/** Whether a string names one of Sandpit's error codes. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(errorCodes, value);
}

/**
 * The one error type that crosses component boundaries. `message` is safe to show a client;
 * `cause` keeps the inner error for logs.
 */
export class SandpitError extends Error {
  override readonly name = "SandpitError";
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** Wraps anything caught into a SandpitError, keeping one that already is. */
  static from(reason: unknown, code: ErrorCode = "internal"): SandpitError {
    if (reason instanceof SandpitError) return reason;
    const message = reason instanceof Error ? reason.message : String(reason);
    return new SandpitError(code, message, { cause: reason });
  }
}
