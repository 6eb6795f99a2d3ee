import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { SandpitError } from "@sandpit/protocol";
import {
  AuthenticationError,
  apiError,
  CommandExitError,
  codeOfStatus,
  envdHttpError,
  FileNotFoundError,
  fetchError,
  InvalidArgumentError,
  isConnectionDropped,
  NotEnoughSpaceError,
  NotFoundError,
  RateLimitError,
  rpcError,
  SandboxError,
  SandboxNotFoundError,
  TemplateError,
  TimeoutError,
} from "./errors.js";

describe("the error family", () => {
  test("every error is a SandboxError and a SandpitError with a code of the protocol's set", () => {
    const cases: Array<[SandboxError, string]> = [
      [new NotFoundError("x"), "not_found"],
      [new SandboxNotFoundError("x"), "not_found"],
      [new FileNotFoundError("x"), "not_found"],
      [new AuthenticationError("x"), "unauthenticated"],
      [new RateLimitError("x"), "resource_exhausted"],
      [new TimeoutError("x"), "deadline_exceeded"],
      [new InvalidArgumentError("x"), "invalid_argument"],
      [new NotEnoughSpaceError("x"), "resource_exhausted"],
      [new TemplateError("x"), "failed_precondition"],
    ];
    for (const [err, code] of cases) {
      assert.ok(err instanceof SandboxError);
      assert.ok(err instanceof SandpitError);
      assert.equal(err.code, code);
      assert.equal(err.name, err.constructor.name);
    }
    assert.ok(new SandboxNotFoundError("x") instanceof NotFoundError);
    assert.ok(new FileNotFoundError("x") instanceof NotFoundError);
  });

  test("CommandExitError carries the result", () => {
    const err = new CommandExitError({ exitCode: 2, error: "exit status 2", stdout: "o", stderr: "e" });
    assert.equal(err.message, "exit status 2");
    assert.deepEqual([err.exitCode, err.stdout, err.stderr, err.error], [2, "o", "e", "exit status 2"]);
    assert.deepEqual(err.result, { exitCode: 2, error: "exit status 2", stdout: "o", stderr: "e" });
  });
});

describe("REST errors (spec §3.1)", () => {
  test("401 and 429 are typed with the message appended; others say `<status>: <message>`", () => {
    const auth = apiError(401, "Invalid API key");
    assert.ok(auth instanceof AuthenticationError);
    assert.equal(auth.message, "Unauthorized, please check your credentials. - Invalid API key");
    assert.ok(apiError(429, "slow down") instanceof RateLimitError);
    const other = apiError(400, "timeout must be positive");
    assert.equal(other.message, "400: timeout must be positive");
    assert.equal(other.code, "invalid_argument");
    assert.equal(apiError(500, "boom").code, "internal");
    assert.equal(apiError(409, "busy").code, "already_exists");
  });
});

describe("agent HTTP errors (spec §9)", () => {
  test("each status maps to its class; 502 means the sandbox is gone", () => {
    assert.ok(envdHttpError(400, "bad") instanceof InvalidArgumentError);
    assert.ok(envdHttpError(401, "no") instanceof AuthenticationError);
    assert.ok(envdHttpError(404, "missing", true) instanceof FileNotFoundError);
    const plain404 = envdHttpError(404, "missing");
    assert.ok(plain404 instanceof NotFoundError && !(plain404 instanceof FileNotFoundError));
    assert.ok(envdHttpError(429, "x") instanceof RateLimitError);
    const gone = envdHttpError(502, "The sandbox was not found");
    assert.ok(gone instanceof TimeoutError);
    assert.equal(gone.code, "unavailable");
    assert.match(gone.message, /^The sandbox was not found: .*sandbox timeout/);
    assert.ok(envdHttpError(507, "full") instanceof NotEnoughSpaceError);
    const other = envdHttpError(418, "teapot");
    assert.equal(other.message, "418: teapot");
    assert.equal(other.constructor, SandboxError);
  });
});

describe("RPC errors (spec §9)", () => {
  const of = (code: Code) => new ConnectError("msg", code);
  test("Connect codes map to the typed errors", () => {
    assert.ok(rpcError(of(Code.InvalidArgument)) instanceof InvalidArgumentError);
    assert.ok(rpcError(of(Code.Unauthenticated)) instanceof AuthenticationError);
    assert.ok(rpcError(of(Code.NotFound)) instanceof NotFoundError);
    assert.ok(rpcError(of(Code.NotFound), true) instanceof FileNotFoundError);
    assert.ok(rpcError(of(Code.ResourceExhausted)) instanceof RateLimitError);
    const unavailable = rpcError(of(Code.Unavailable));
    assert.ok(unavailable instanceof TimeoutError && unavailable.code === "unavailable");
    const canceled = rpcError(of(Code.Canceled));
    assert.ok(canceled instanceof TimeoutError && canceled.code === "canceled");
    assert.match(canceled.message, /requestTimeoutMs/);
    const deadline = rpcError(of(Code.DeadlineExceeded));
    assert.ok(deadline instanceof TimeoutError && deadline.code === "deadline_exceeded");
    assert.match(deadline.message, /timeoutMs/);
    const internal = rpcError(of(Code.Internal));
    assert.equal(internal.constructor, SandboxError);
    assert.equal(internal.code, "internal");
    assert.equal(rpcError(of(Code.AlreadyExists)).code, "already_exists");
  });

  test("an error of the family passes through; anything else is wrapped", () => {
    const own = new TemplateError("old");
    assert.equal(rpcError(own), own);
    const wrapped = rpcError(new Error("socket hang up"));
    assert.ok(wrapped instanceof SandboxError);
    assert.equal(wrapped.code, "unavailable");
  });

  test("a dropped connection is recognised in Connect and fetch errors", () => {
    assert.equal(isConnectionDropped(new ConnectError("terminated", Code.Unknown)), true);
    assert.equal(isConnectionDropped(new ConnectError("terminated", Code.Internal)), false);
    assert.equal(
      isConnectionDropped(new TypeError("terminated", { cause: new Error("other side closed") })),
      true,
    );
    assert.equal(isConnectionDropped(new Error("ECONNREFUSED")), false);
  });
});

describe("fetch failures", () => {
  test("time limits, aborts and network errors become errors of the family", () => {
    const timeout = fetchError(new DOMException("late", "TimeoutError"), "GET /x");
    assert.ok(timeout instanceof TimeoutError && timeout.code === "canceled");
    const abort = fetchError(new DOMException("stop", "AbortError"), "GET /x");
    assert.equal(abort.code, "canceled");
    assert.ok(!(abort instanceof TimeoutError));
    const refused = fetchError(
      new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED") }),
      "GET /x",
    );
    assert.equal(refused.code, "unavailable");
    assert.match(refused.message, /ECONNREFUSED/);
  });

  test("HTTP statuses name codes of the protocol's set", () => {
    assert.equal(codeOfStatus(404), "not_found");
    assert.equal(codeOfStatus(502), "unavailable");
    assert.equal(codeOfStatus(599), "internal");
    assert.equal(codeOfStatus(418), "unknown");
  });
});
