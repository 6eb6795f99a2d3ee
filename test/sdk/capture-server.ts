// A local HTTP server that records every request byte for byte and answers with canned, valid
// responses of the REST API (spec §3) and of the agent (Connect unary and server-streaming, `/files`,
// `/health`), so two clients can be compared on what they put on the wire.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request as it arrived. */
export interface CapturedRequest {
  method: string;
  /** Path and query exactly as sent. */
  url: string;
  /** Header names lowercased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

/** A running capture server. */
export interface CaptureServer {
  readonly url: string;
  /** Requests recorded since the last `take()`. */
  take(): CapturedRequest[];
  close(): Promise<void>;
}

/** The canned sandbox every create/connect answers with. */
export const CANNED = {
  sandboxId: "capsbx0123456789abcdef",
  accessToken: "tok0123456789abcdef0123456789abcd",
  domain: "capture.test",
  pid: 4242,
} as const;

const created = {
  templateID: "base",
  sandboxID: CANNED.sandboxId,
  clientID: "6532622b",
  envdVersion: "0.6.13",
  envdAccessToken: CANNED.accessToken,
  domain: CANNED.domain,
};

const listed = {
  templateID: "base",
  sandboxID: CANNED.sandboxId,
  clientID: "6532622b",
  alias: "base",
  startedAt: "2026-01-02T03:04:05.678Z",
  endAt: "2026-01-02T03:09:05.678Z",
  cpuCount: 2,
  memoryMB: 512,
  diskSizeMB: 1024,
  state: "running",
  envdVersion: "0.6.13",
  metadata: { a: "1" },
};

const entry = {
  name: "d",
  type: "FILE_TYPE_DIRECTORY",
  path: "/home/user/d",
  size: "4096",
  mode: 493,
  permissions: "drwxr-xr-x",
  owner: "user",
  group: "user",
  modifiedTime: "2026-01-02T03:04:05.123456789Z",
};

function envelope(payload: unknown, end = false): Buffer {
  const json = Buffer.from(JSON.stringify(payload));
  const head = Buffer.alloc(5);
  head.writeUInt8(end ? 2 : 0, 0);
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function stream(res: ServerResponse, messages: unknown[]): void {
  res.writeHead(200, { "content-type": "application/connect+json" });
  for (const m of messages) res.write(envelope(m));
  res.end(envelope({}, true));
}

function answerEnvd(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? "").split("?")[0];
  switch (path) {
    case "/health":
      res.writeHead(204).end();
      return;
    case "/files":
      if (req.method === "GET") {
        res
          .writeHead(200, { "content-type": "application/octet-stream", "content-length": "5" })
          .end("hello");
      } else {
        json(res, 200, [{ path: "/home/user/a.txt", name: "a.txt", type: "file" }]);
      }
      return;
    case "/process.Process/Start":
    case "/process.Process/Connect":
      stream(res, [
        { event: { start: { pid: CANNED.pid } } },
        { event: { data: { stdout: Buffer.from("hi\n").toString("base64") } } },
        { event: { end: { exited: true, status: "exit status 0" } } },
      ]);
      return;
    case "/process.Process/List":
      json(res, 200, { processes: [] });
      return;
    case "/filesystem.Filesystem/ListDir":
      json(res, 200, { entries: [entry] });
      return;
    case "/filesystem.Filesystem/MakeDir":
    case "/filesystem.Filesystem/Stat":
    case "/filesystem.Filesystem/Move":
      json(res, 200, { entry });
      return;
    case "/filesystem.Filesystem/WatchDir":
      stream(res, [{ start: {} }, { filesystem: { name: "x.txt", type: "EVENT_TYPE_CREATE" } }]);
      return;
    default:
      // SendInput, SendSignal, CloseStdin, Update, Remove: empty messages.
      json(res, 200, {});
  }
}

function answerApi(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? "").split("?")[0] ?? "";
  const id = CANNED.sandboxId;
  const route = `${req.method} ${path}`;
  if (route === "POST /sandboxes") json(res, 201, created);
  else if (route === "GET /v2/sandboxes") json(res, 200, [listed]);
  else if (route === `GET /sandboxes/${id}`) {
    json(res, 200, { ...listed, envdAccessToken: CANNED.accessToken, domain: CANNED.domain });
  } else if (route === `GET /sandboxes/${id}/metrics`) json(res, 200, []);
  else if (route === `POST /sandboxes/${id}/connect`) json(res, 200, created);
  else if (path.startsWith(`/sandboxes/${id}`)) res.writeHead(204).end();
  else json(res, 404, { code: 404, message: "not found" });
}

/** Starts a capture server on a free local port. */
export async function startCaptureServer(): Promise<CaptureServer> {
  let captured: CapturedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const headers: Record<string, string> = {};
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = (req.rawHeaders[i] ?? "").toLowerCase();
        const value = req.rawHeaders[i + 1] ?? "";
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      captured.push({ method: req.method ?? "", url: req.url ?? "", headers, body: Buffer.concat(chunks) });
      if (headers["e2b-sandbox-id"]) answerEnvd(req, res);
      else answerApi(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    take() {
      const out = captured;
      captured = [];
      return out;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
