import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { type ErrorCode, SandpitError } from "@sandpit/protocol";
import { asInvalidArgument, isBinaryParseError } from "./rpc-parse-errors.js";

const connectCodes = {
  canceled: Code.Canceled,
  unknown: Code.Unknown,
  invalid_argument: Code.InvalidArgument,
  deadline_exceeded: Code.DeadlineExceeded,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  permission_denied: Code.PermissionDenied,
  resource_exhausted: Code.ResourceExhausted,
  failed_precondition: Code.FailedPrecondition,
  aborted: Code.Aborted,
  out_of_range: Code.OutOfRange,
  unimplemented: Code.Unimplemented,
  internal: Code.Internal,
  unavailable: Code.Unavailable,
  data_loss: Code.DataLoss,
  unauthenticated: Code.Unauthenticated,
} as const satisfies Record<ErrorCode, Code>;

/**
 * The one place a SandpitError becomes a ConnectError, keeping its code and client-safe
 * message. A request message that does not decode is the client's mistake (invalid_argument);
 * anything else unexpected becomes `internal` (Connect hides its message).
 */
export function toConnectError(reason: unknown): ConnectError {
  if (isBinaryParseError(reason)) return asInvalidArgument(reason);
  if (reason instanceof ConnectError) return reason;
  if (reason instanceof SandpitError) {
    return new ConnectError(reason.message, connectCodes[reason.code], undefined, undefined, reason);
  }
  return ConnectError.from(reason, Code.Internal);
}

async function* mapStreamErrors<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (reason) {
    throw toConnectError(reason);
  }
}

/** Converts errors thrown by any RPC handler, unary or streaming, with {@link toConnectError}. */
export const rpcErrorInterceptor: Interceptor = (next) => async (req) => {
  try {
    const res = await next(req);
    if (!res.stream) return res;
    const stream: StreamResponse = { ...res, message: mapStreamErrors(res.message) };
    return stream;
  } catch (reason) {
    throw toConnectError(reason);
  }
};
