import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  agentUrlOf,
  directAgentUrlOf,
  hostOf,
  mergeOptions,
  REQUEST_TIMEOUT_MS,
  requestSignal,
  resolveConnectionConfig,
} from "./connection-config.js";

describe("connection config", () => {
  test("defaults are E2B's", () => {
    const c = resolveConnectionConfig({}, {});
    assert.deepEqual(
      { ...c },
      {
        apiKey: undefined,
        apiUrl: "https://api.e2b.app",
        sandboxUrl: undefined,
        domain: "e2b.app",
        debug: false,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        apiHeaders: {},
      },
    );
    assert.ok(Object.isFrozen(c));
  });

  test("E2B_* variables are read as the official SDK reads them", () => {
    const c = resolveConnectionConfig(
      {},
      {
        E2B_API_KEY: "e2b_1",
        E2B_API_URL: "http://api:1",
        E2B_SANDBOX_URL: "http://sbx:2",
        E2B_DOMAIN: "example.org",
        E2B_DEBUG: "TRUE",
      },
    );
    assert.equal(c.apiKey, "e2b_1");
    assert.equal(c.apiUrl, "http://api:1");
    assert.equal(c.sandboxUrl, "http://sbx:2");
    assert.equal(c.domain, "example.org");
    assert.equal(c.debug, true);
    assert.equal(resolveConnectionConfig({}, { E2B_DEBUG: "1" }).debug, false);
    assert.equal(resolveConnectionConfig({}, { E2B_DOMAIN: "d.io" }).apiUrl, "https://api.d.io");
    assert.equal(resolveConnectionConfig({}, { E2B_DEBUG: "true" }).apiUrl, "http://localhost:3000");
  });

  test("SANDPIT_URL and SANDPIT_API_KEY are fallbacks for both URLs and the key", () => {
    const env = { SANDPIT_URL: "http://sandpit:3000", SANDPIT_API_KEY: "e2b_2" };
    const c = resolveConnectionConfig({}, env);
    assert.equal(c.apiUrl, "http://sandpit:3000");
    assert.equal(c.sandboxUrl, "http://sandpit:3000");
    assert.equal(c.apiKey, "e2b_2");
    const e2bFirst = resolveConnectionConfig({}, { ...env, E2B_API_URL: "http://e2b", E2B_API_KEY: "e2b_3" });
    assert.equal(e2bFirst.apiUrl, "http://e2b");
    assert.equal(e2bFirst.apiKey, "e2b_3");
  });

  test("options beat the environment; empty strings fall through like the official SDK", () => {
    const env = { E2B_API_KEY: "env", E2B_API_URL: "http://env" };
    const c = resolveConnectionConfig({ apiKey: "opt", apiUrl: "", requestTimeoutMs: 0 }, env);
    assert.equal(c.apiKey, "opt");
    assert.equal(c.apiUrl, "http://env");
    assert.equal(c.requestTimeoutMs, 0);
  });

  test("agent URLs follow spec §1", () => {
    const base = resolveConnectionConfig({}, {});
    assert.equal(agentUrlOf(base, "abc", "e2b.app"), "https://sandbox.e2b.app");
    assert.equal(agentUrlOf(base, "abc", "my.host"), "https://49983-abc.my.host");
    assert.equal(directAgentUrlOf(base, "abc", "e2b.app"), "https://49983-abc.e2b.app");
    const routed = resolveConnectionConfig({ sandboxUrl: "http://one:3000" }, {});
    assert.equal(agentUrlOf(routed, "abc", "e2b.app"), "http://one:3000");
    const debug = resolveConnectionConfig({ debug: true }, {});
    assert.equal(agentUrlOf(debug, "abc", "e2b.app"), "http://localhost:49983");
    assert.equal(hostOf(debug, "abc", 8080, "e2b.app"), "localhost:8080");
    assert.equal(hostOf(base, "abc", 8080, "my.host"), "8080-abc.my.host");
  });

  test("per-call options override bound ones, but undefined does not clear them", () => {
    const merged = mergeOptions(
      { apiKey: "a", requestTimeoutMs: 5 },
      { apiKey: undefined, requestTimeoutMs: 7 },
    );
    assert.deepEqual(merged, { apiKey: "a", requestTimeoutMs: 7 });
  });

  test("requestSignal fires after its limit or with the caller's signal", async () => {
    const timed = requestSignal(20, undefined);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(timed.signal?.aborted, true);
    assert.equal((timed.signal?.reason as DOMException | undefined)?.name, "TimeoutError");
    const user = new AbortController();
    const linked = requestSignal(10_000, user.signal);
    user.abort(new Error("mine"));
    assert.equal(linked.signal?.aborted, true);
    linked.dispose();
    assert.equal(requestSignal(0, undefined).signal, undefined);
  });
});
