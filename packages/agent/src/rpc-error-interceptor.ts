import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";
import { type ErrorCode, SandpitError } from "@sandpit/protocol";

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
 * message. Anything else unexpected becomes `internal` (Connect hides its message).
 */
export function toConnectError(reason: unknown): ConnectError {
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
