import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import type { Sandbox } from "e2b";
import fc from "fast-check";
import { apiCall, createSandbox, type HardeningContext, rawRequest, tokenOf } from "./hardening-context.js";

// Small enough for CI on two shared cores, large enough to walk every route many times;
// HARDENING_FULL=1 multiplies them.
const RUNS = { rest: 300, agentHttp: 200, rpc: 250 };

const rpcMethods = [
  "process.Process/List",
  "process.Process/Connect",
  "process.Process/Start",
  "process.Process/Update",
  "process.Process/StreamInput",
  "process.Process/SendInput",
  "process.Process/SendSignal",
  "process.Process/CloseStdin",
  "filesystem.Filesystem/Stat",
  "filesystem.Filesystem/MakeDir",
  "filesystem.Filesystem/Move",
  "filesystem.Filesystem/ListDir",
  "filesystem.Filesystem/Remove",
  "filesystem.Filesystem/WatchDir",
  "filesystem.Filesystem/CreateWatcher",
  "filesystem.Filesystem/GetWatcherEvents",
  "filesystem.Filesystem/RemoveWatcher",
  "process.Process/Nope",
  "nope.Nope/Nope",
];

// Pieces that parsers trip over: escapes, dot segments, doubled slashes, huge numbers.
const nasty = fc.constantFrom(
  "%",
  "%zz",
  "%00",
  "..",
  "%2e%2e",
  "//",
  "\\",
  "?",
  "#",
  "~",
  "~root",
  "-1",
  "99999999999999999999",
  "1e400",
  "NaN",
  "null",
  "[]",
  "{}",
  "\u00e9",
  "\ud83d\ude00",
  "a".repeat(3000),
);

/** A URL path segment or query value: random text, percent-encoded, or a nasty piece verbatim. */
const urlPiece = fc.oneof(
  fc.string({ maxLength: 40 }).map((s) => encodeURIComponent(s)),
  fc.string({ unit: "binary", maxLength: 20 }).map((s) => encodeURIComponent(s)),
  nasty.map((s) => encodeURI(s)),
);

/** A request body: JSON, text, bytes or nothing, with a content type that may lie about it. */
const body = fc.oneof(
  fc.json({ maxDepth: 3 }).map((s) => Buffer.from(s)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? "null")),
  fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.constant(undefined),
);

const contentType = fc.oneof(
  fc.constantFrom(
    "application/json",
    "application/json; charset=utf-8",
    "application/proto",
    "application/connect+json",
    "application/connect+proto",
    "application/octet-stream",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "text/plain",
    "application/grpc",
  ),
  fc.string({ maxLength: 30 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
);

/** A Connect envelope around any payload, with any flags, and a length that may lie. */
const envelope = fc
  .tuple(fc.integer({ min: 0, max: 255 }), fc.option(fc.integer({ min: 0, max: 2 ** 32 - 1 })), body)
  .map(([flags, length, payload]) => {
    const data = payload ?? Buffer.alloc(0);
    const head = Buffer.alloc(5);
    head.writeUInt8(flags, 0);
    head.writeUInt32BE(length ?? data.length, 1);
    return Buffer.concat([head, data]);
  });

/** Random extra headers, sometimes a huge one. */
const extraHeaders = fc.dictionary(
  fc.constantFrom(
    "connect-protocol-version",
    "connect-timeout-ms",
    "authorization",
    "accept-encoding",
    "content-encoding",
    "connect-content-encoding",
    "keepalive-ping-interval",
    "range",
    "x-metadata-a",
    "x-huge",
  ),
  fc.oneof(
    { weight: 10, arbitrary: fc.string({ maxLength: 40 }).filter((s) => /^[\x20-\x7e]*$/.test(s)) },
    {
      weight: 10,
      arbitrary: fc.constantFrom(
        "1",
        "0",
        "-1",
        "gzip",
        "identity",
        "br",
        "Basic dXNlcjo=",
        "Basic cm9vdDo=",
        "Basic !!!",
        "bytes=5-1",
      ),
    },
    // Rare: every header block with one is refused whole (431), hiding the rest of the input.
    { weight: 1, arbitrary: fc.constant("h".repeat(20_000)) },
  ),
  { maxKeys: 4 },
);

interface Finding {
  request: string;
  status: number;
  body: string;
}

function describeRequest(method: string, path: string, headers: Record<string, string>, b?: Buffer): string {
  const shown = Object.fromEntries(
    Object.entries(headers).map(([k, v]) => [k, v.length > 60 ? `${v.slice(0, 60)}…` : v]),
  );
  return `${method} ${path.slice(0, 200)} ${JSON.stringify(shown)} body=${b ? JSON.stringify(b.toString("latin1").slice(0, 120)) : "none"}`;
}

/** Sends one request; a 5xx (or a dropped connection) becomes a finding. */
async function probe(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  payload: Buffer | undefined,
  findings: Finding[],
  allowed: (status: number, text: string) => boolean = () => false,
  checkShape = false,
): Promise<void> {
  const request = describeRequest(method, path, headers, payload);
  let res: Response;
  try {
    res = await rawRequest(`${url}${path}`, method, headers, payload, AbortSignal.timeout(30_000));
  } catch (e) {
    // node refuses some header/path bytes before sending: that is the client, not the server.
    if (e instanceof TypeError || /ERR_INVALID|ERR_UNESCAPED/.test(String((e as { code?: string }).code)))
      return;
    findings.push({ request, status: 0, body: String(e) });
    return;
  }
  const text = await res.text();
  if (res.status >= 500 && !allowed(res.status, text) && !documented(res.status, text)) {
    findings.push({ request, status: res.status, body: text.slice(0, 300) });
  } else if (checkShape && res.status >= 400 && method !== "HEAD" && !errorShaped(res.status, text)) {
    // Spec §3.1: every API error is {"code": <status>, "message": <text>}.
    findings.push({ request, status: res.status, body: text.slice(0, 300) });
  }
}

/** Bugs the fuzzing found; each has a test of its own, todo while the bug is open. */
const knownIssues = [
  {
    id: "431 with a body on HEAD",
    // Fixed: a refused HEAD gets no body, and the connection closes.
    todo: false,
    matches: (f: Finding) => f.request.startsWith("HEAD ") && /Parse Error/.test(f.body),
  },
  {
    id: "framework errors outside the API's error shape",
    // Fixed: parser-level refusals and over-long ids answer in the API's {code, message}.
    todo: false,
    matches: (f: Finding) => f.status >= 400 && f.status < 500 && /"statusCode"|FST_ERR/.test(f.body),
  },
  {
    id: "malformed protobuf → internal",
    // Fixed: the agent answers 400 invalid_argument, and checks the token before parsing.
    todo: false,
    matches: (f: Finding) => f.status === 500 && /parse binary/.test(f.body),
  },
  {
    id: "over-long path → 500",
    // Fixed: ENAMETOOLONG and ELOOP are the client's bad path, 400.
    todo: false,
    matches: (f: Finding) => f.status === 500 && /ENAMETOOLONG/.test(f.body),
  },
] as const;

// The Connect protocol itself says so: an unsupported compression is `unimplemented` (501).
function documented(status: number, text: string): boolean {
  return status === 501 && /unknown compression/.test(text);
}

function errorShaped(status: number, text: string): boolean {
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown };
    return body.code === status && typeof body.message === "string";
  } catch {
    return false;
  }
}

/** One example per distinct answer, so a report shows every kind of failure once. */
function distinct(findings: readonly Finding[]): Finding[] {
  const seen = new Map<string, Finding>();
  for (const f of findings) {
    const key = `${f.status} ${f.body.slice(0, 80)}`;
    if (!seen.has(key)) seen.set(key, f);
  }
  return [...seen.values()];
}

function assertNoFindings(findings: Finding[], known: Finding[]): void {
  const unknown: Finding[] = [];
  for (const f of findings) (knownIssues.some((k) => k.matches(f)) ? known : unknown).push(f);
  assert.deepEqual(
    distinct(unknown),
    [],
    `${unknown.length} requests answered 5xx or dropped the connection`,
  );
}

/** Input fuzzing of the REST API, the agent's HTTP endpoints and its RPC endpoints. */
export function fuzzCases(ctx: () => HardeningContext): void {
  describe("input fuzzing", () => {
    let target: Sandbox;
    let token: string;
    let fdsBefore = 0;
    let sandboxesBefore = 0;
    const scale = () => (ctx().full ? 10 : 1);
    // Findings of the known bugs, kept apart so the suite stays green while they are open.
    const known: Finding[] = [];

    before(async () => {
      const { live } = ctx();
      // A sandbox of its own: random RPCs may remove or move anything in it.
      target = await createSandbox({ role: "fuzz" });
      token = await tokenOf(live, target.sandboxId);
      fdsBefore = readdirSync("/proc/self/fd").length;
      sandboxesBefore = (await live.server.store.listAllSandboxes()).length;
    });

    after(async () => {
      await target?.kill();
    });

    test("REST API: random methods, paths, ids, queries, bodies and keys never answer 5xx and always answer errors as {code, message}", async (t) => {
      const { live, attacker } = ctx();
      const findings: Finding[] = [];
      const otherKey = await live.keyOfTeam("sphd-fuzzers");
      const suffixes = [
        "",
        "/timeout",
        "/refreshes",
        "/connect",
        "/resume",
        "/pause",
        "/metrics",
        "/logs",
        "/nope",
      ];
      const anyMethod = fc.constantFrom("GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS");
      const route = fc.oneof(
        fc.tuple(
          anyMethod,
          fc.constantFrom(
            "/sandboxes",
            "/v2/sandboxes",
            "/sandboxes/metrics",
            "/health",
            "/openapi.json",
            "/nope",
          ),
        ),
        fc.tuple(
          anyMethod,
          fc.tuple(urlPiece, fc.constantFrom(...suffixes)).map(([id, s]) => `/sandboxes/${id}${s}`),
        ),
        // Real ids only with reads: a random DELETE or /timeout would end the suite's own sandboxes.
        fc.tuple(
          fc.constant("GET"),
          fc.constantFrom("", "/metrics", "/logs").map((s) => `/sandboxes/${attacker.sandboxId}${s}`),
        ),
      );
      const query = fc.option(
        fc
          .array(
            fc.tuple(
              fc.constantFrom(
                "metadata",
                "state",
                "limit",
                "nextToken",
                "start",
                "end",
                "sandbox_ids",
                "order",
                "template",
                "startedAfter",
                "x",
              ),
              urlPiece,
            ),
            { maxLength: 3 },
          )
          .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join("&")}`),
        { nil: "" },
      );
      const key = fc.oneof(
        { weight: 6, arbitrary: fc.constant(live.apiKey) },
        { weight: 1, arbitrary: fc.constant(otherKey) },
        { weight: 1, arbitrary: fc.string({ maxLength: 60 }).filter((s) => /^[\x21-\x7e]*$/.test(s)) },
      );
      await fc.assert(
        fc.asyncProperty(
          route,
          query,
          key,
          contentType,
          body,
          extraHeaders,
          async ([method, p], q, k, type, payload, extra) => {
            const headers: Record<string, string> = { ...extra, "x-api-key": k, "content-type": type };
            if (method === "GET" || method === "OPTIONS") {
              delete headers["content-type"];
              await probe(live.url, method, `${p}${q}`, headers, undefined, findings, undefined, true);
            } else await probe(live.url, method, `${p}${q}`, headers, payload, findings, undefined, true);
          },
        ),
        { numRuns: RUNS.rest * scale() },
      );
      t.diagnostic(
        `REST fuzz: ${RUNS.rest * scale()} requests, ${findings.length} findings (5xx, dropped, or errors not shaped as the spec says), ${known.length} of known issues so far`,
      );
      assertNoFindings(findings, known);
      // Nothing was created by any of those bodies.
      assert.equal((await live.server.store.listAllSandboxes()).length, sandboxesBefore);
    });

    test("agent HTTP (/files, /envs, /metrics, /init, /health): random input never answers 5xx", async (t) => {
      const { live } = ctx();
      const findings: Finding[] = [];
      const filesQuery = fc
        .record(
          {
            path: fc.oneof(
              urlPiece,
              fc.string({ maxLength: 30 }).map((s) => encodeURIComponent(`fuzz/${s}`)),
            ),
            username: fc.oneof(fc.constantFrom("user", "root", "nobody", "", "nope"), urlPiece),
            signature: urlPiece,
            signature_expiration: fc.oneof(fc.integer().map(String), urlPiece),
          },
          { requiredKeys: [] },
        )
        .map(
          (r) =>
            `?${Object.entries(r)
              .map(([k, v]) => `${k}=${v}`)
              .join("&")}`,
        );
      const request = fc.oneof(
        fc.record({ method: fc.constantFrom("GET", "HEAD"), path: filesQuery.map((q) => `/files${q}`) }),
        fc.record({ method: fc.constant("POST"), path: filesQuery.map((q) => `/files${q}`) }),
        fc.record({
          method: fc.constantFrom("GET", "POST", "PUT", "DELETE"),
          path: fc
            .tuple(
              fc.constantFrom("/envs", "/metrics", "/health", "/init", "/files", "/nope", "/"),
              fc.option(urlPiece, { nil: "" }),
            )
            .map(([p, q]) => (q ? `${p}?${q}` : p)),
        }),
      );
      const tokenChoice = fc.oneof(
        { weight: 6, arbitrary: fc.constant(token) },
        { weight: 1, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.string({ maxLength: 40 }).filter((s) => /^[\x21-\x7e]*$/.test(s)) },
      );
      await fc.assert(
        fc.asyncProperty(
          request,
          tokenChoice,
          contentType,
          body,
          extraHeaders,
          fc.boolean(),
          async (req, tk, type, payload, extra, byHost) => {
            const headers: Record<string, string> = { ...extra };
            if (byHost) headers.host = `49983-${target.sandboxId}.${live.domain}`;
            else Object.assign(headers, { "e2b-sandbox-id": target.sandboxId, "e2b-sandbox-port": "49983" });
            if (tk !== undefined) headers["x-access-token"] = tk;
            const sendsBody = req.method === "POST" || req.method === "PUT";
            if (sendsBody) headers["content-type"] = type;
            await probe(live.url, req.method, req.path, headers, sendsBody ? payload : undefined, findings);
          },
        ),
        { numRuns: RUNS.agentHttp * scale() },
      );
      t.diagnostic(
        `agent HTTP fuzz: ${RUNS.agentHttp * scale()} requests, ${findings.length} findings (5xx, dropped, or errors not shaped as the spec says), ${known.length} of known issues so far`,
      );
      assertNoFindings(findings, known);
    });

    test("agent RPC: random Connect bodies, envelopes and content types never answer 5xx", async (t) => {
      const { live } = ctx();
      const findings: Finding[] = [];
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...rpcMethods),
          contentType,
          fc.oneof(body, envelope),
          extraHeaders,
          fc.boolean(),
          async (method, type, payload, extra, withToken) => {
            const headers: Record<string, string> = {
              ...extra,
              "e2b-sandbox-id": target.sandboxId,
              "e2b-sandbox-port": "49983",
              "content-type": type,
            };
            if (withToken) headers["x-access-token"] = token;
            await probe(live.url, "POST", `/${method}`, headers, payload, findings);
          },
        ),
        { numRuns: RUNS.rpc * scale() },
      );
      t.diagnostic(
        `RPC fuzz: ${RUNS.rpc * scale()} requests, ${findings.length} findings (5xx, dropped, or errors not shaped as the spec says), ${known.length} of known issues so far`,
      );
      assertNoFindings(findings, known);
    });

    for (const issue of knownIssues) {
      test(`known issue stays fixed: ${issue.id}`, { todo: issue.todo }, (t) => {
        const seen = distinct(known.filter((f) => issue.matches(f)));
        for (const f of seen.slice(0, 4))
          t.diagnostic(`${f.status} ${f.body.slice(0, 140)} ← ${f.request.slice(0, 160)}`);
        assert.deepEqual(seen, []);
      });
    }

    test("after the fuzzing: server, agent and store are intact and nothing leaked", async () => {
      const { live, neighbour } = ctx();
      const health = await fetch(`${live.url}/health`);
      assert.equal(health.status, 200);
      const agent = await rawRequest(`${live.url}/health`, "GET", {
        "e2b-sandbox-id": target.sandboxId,
        "e2b-sandbox-port": "49983",
      });
      assert.equal(agent.status, 204, "the fuzzed agent died");
      assert.equal((await neighbour.commands.run("echo ok")).stdout.trim(), "ok");
      assert.equal((await live.server.store.listAllSandboxes()).length, sandboxesBefore);
      const own = await apiCall(live, "GET", "/v2/sandboxes", live.apiKey);
      assert.equal((own.body as unknown[]).length, sandboxesBefore);
      // Every connection the fuzzing opened is closed again.
      const deadline = Date.now() + 10_000;
      while (readdirSync("/proc/self/fd").length > fdsBefore + 10 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(
        readdirSync("/proc/self/fd").length <= fdsBefore + 10,
        "the server holds more descriptors than before",
      );
    });
  });
}
