// The control plane's REST API (spec §3) over fetch. Requests are shaped exactly as the official SDK
// shapes them (header names, JSON key order, query encoding) so a server sees the same bytes.
import type { ConnectionConfig } from "./connection-config.js";
import { requestSignal, USER_AGENT } from "./connection-config.js";
import { AuthenticationError, apiError, fetchError } from "./errors.js";

/** Query parameters; undefined values are left out, arrays are joined with commas (form style). */
export type Query = Record<string, string | number | readonly string[] | undefined>;

/** One request to the API. */
export interface ApiRequest {
  method: "GET" | "POST" | "DELETE";
  /** Path with its parameters already in, e.g. `/sandboxes/abc/timeout`. */
  path: string;
  query?: Query;
  body?: unknown;
  requestTimeoutMs?: number;
  signal?: AbortSignal | undefined;
}

/** An answer of the API: the parsed JSON on success, the `{code, message}` body otherwise. */
export interface ApiResponse<T> {
  status: number;
  ok: boolean;
  headers: Headers;
  data: T | undefined;
  /** The body's `code` field of an error answer (spec §3.1: the SDK decides by it, not the status). */
  errorCode: number | undefined;
  errorMessage: string | undefined;
}

/** Client of the REST API bound to one connection config. */
export interface ApiClient {
  /** Sends a request; throws only for transport failures, never for a non-2xx status. */
  request<T>(req: ApiRequest): Promise<ApiResponse<T>>;
  /** The error of a non-2xx answer (401, 429, or `<status>: <message>`). */
  errorOf(res: ApiResponse<unknown>): Error;
}

/** Serialises a query as openapi-fetch does: `encodeURIComponent` values, arrays comma-joined. */
export function serializeQuery(query: Query | undefined): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      if (value.length === 0) continue;
      parts.push(`${name}=${value.map((v: string) => encodeURIComponent(v)).join(",")}`);
    } else {
      parts.push(`${name}=${encodeURIComponent(String(value))}`);
    }
  }
  return parts.join("&");
}

/** Creates a client of the REST API; throws AuthenticationError when there is no API key. */
export function createApiClient(config: ConnectionConfig): ApiClient {
  if (!config.apiKey) {
    throw new AuthenticationError(
      "API key is required. Set the environment variable `E2B_API_KEY` (or `SANDPIT_API_KEY`) or pass `apiKey` to the call.",
    );
  }
  const apiKey = config.apiKey;
  const base = config.apiUrl.replace(/\/+$/, "");
  return {
    async request<T>(req: ApiRequest): Promise<ApiResponse<T>> {
      const query = serializeQuery(req.query);
      const url = `${base}${req.path}${query ? `?${query}` : ""}`;
      const headers: Record<string, string> = {};
      if (req.body !== undefined) headers["Content-Type"] = "application/json";
      headers["X-API-KEY"] = apiKey;
      headers["User-Agent"] = USER_AGENT;
      Object.assign(headers, config.apiHeaders);
      const { signal, dispose } = requestSignal(req.requestTimeoutMs ?? config.requestTimeoutMs, req.signal);
      try {
        let res: Response;
        try {
          res = await fetch(url, {
            method: req.method,
            headers,
            body: req.body === undefined ? undefined : JSON.stringify(req.body),
            signal,
          });
        } catch (err) {
          throw fetchError(err, `${req.method} ${req.path}`);
        }
        const text = await res.text().catch((err: unknown) => {
          throw fetchError(err, `${req.method} ${req.path}`);
        });
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = text;
        }
        if (res.ok) {
          return {
            status: res.status,
            ok: true,
            headers: res.headers,
            data: parsed as T,
            errorCode: undefined,
            errorMessage: undefined,
          };
        }
        const body = typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
        const message =
          typeof body.message === "string"
            ? body.message
            : typeof parsed === "string" && parsed
              ? parsed
              : undefined;
        return {
          status: res.status,
          ok: false,
          headers: res.headers,
          data: undefined,
          errorCode: typeof body.code === "number" ? body.code : undefined,
          errorMessage: message ?? (res.statusText || undefined),
        };
      } finally {
        dispose();
      }
    },
    errorOf(res) {
      return apiError(res.status, res.errorMessage);
    },
  };
}
