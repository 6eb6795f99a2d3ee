import { Code, ConnectError } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerResponse } from "@connectrpc/connect/protocol";

// connect-es reports a binary body it cannot decode as `internal` with this prefix; its JSON
// twin is already `invalid_argument`. Either way the client sent bytes no message has.
const binaryParsePrefix = "parse binary:";

/** Whether an error is Connect's report of an undecodable binary request message. */
export function isBinaryParseError(reason: unknown): reason is ConnectError {
  return (
    reason instanceof ConnectError &&
    reason.code === Code.Internal &&
    reason.rawMessage.startsWith(binaryParsePrefix)
  );
}

/** The same parse failure as the client's mistake: invalid_argument, message kept. */
export function asInvalidArgument(reason: ConnectError): ConnectError {
  return new ConnectError(reason.rawMessage, Code.InvalidArgument, undefined, undefined, reason);
}

async function bytesOf(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * Wraps an RPC handler so that a unary request whose binary body does not decode answers
 * 400 `invalid_argument` instead of 500 `internal`. Connect decodes a unary message before any
 * interceptor runs and writes the error response itself, so the response is the one place left
 * to correct it; streaming calls surface the same error through the interceptors instead.
 */
export function reportParseErrorsAsInvalidArgument(handler: UniversalHandler): UniversalHandler {
  if (handler.method.methodKind !== "unary") return handler;
  const wrapped = async (req: Parameters<UniversalHandler>[0]): Promise<UniversalServerResponse> => {
    const res = await handler(req);
    const type = res.header?.get("content-type") ?? "";
    if (res.status !== 500 || res.body === undefined || !type.startsWith("application/json")) return res;
    const bytes = await bytesOf(res.body);
    let error: { code?: unknown; message?: unknown } | undefined;
    try {
      error = JSON.parse(bytes.toString("utf8")) as typeof error;
    } catch {
      error = undefined;
    }
    const message = typeof error?.message === "string" ? error.message : "";
    if (error?.code !== "internal" || !message.startsWith(binaryParsePrefix)) {
      return {
        ...res,
        body: (async function* () {
          yield bytes;
        })(),
      };
    }
    const body = Buffer.from(JSON.stringify({ code: "invalid_argument", message }));
    const header = new Headers(res.header);
    header.set("content-length", String(body.length));
    return {
      ...res,
      status: 400,
      header,
      body: (async function* () {
        yield body;
      })(),
    };
  };
  return Object.assign(wrapped, handler);
}
