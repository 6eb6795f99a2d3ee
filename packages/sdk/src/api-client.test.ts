import assert from "node:assert/strict";
import { test } from "node:test";
import { createApiClient, serializeQuery } from "./api-client.js";
import { resolveConnectionConfig } from "./connection-config.js";
import { AuthenticationError } from "./errors.js";

test("queries are encoded as the official SDK encodes them", () => {
  assert.equal(
    serializeQuery({ metadata: "a%3D1&b=2", state: ["running", "paused"], limit: 5, nextToken: undefined }),
    "metadata=a%253D1%26b%3D2&state=running,paused&limit=5",
  );
  assert.equal(serializeQuery({ state: [] }), "");
  assert.equal(serializeQuery(undefined), "");
});

test("no API key: AuthenticationError before any request", () => {
  assert.throws(() => createApiClient(resolveConnectionConfig({}, {})), AuthenticationError);
});
