import assert from "node:assert/strict";
import { test } from "node:test";
import { signFileUrl } from "./signature.js";

test("the known vector of spec §5.6", async () => {
  const sig = await signFileUrl({
    path: "hello.txt",
    operation: "read",
    user: "user",
    accessToken: "0tQG31xiMp0IOQfaz9dcwi72L1CPo8e0",
  });
  assert.deepEqual(sig, { signature: "v1_gUtH/s9YCJWgCizjfUxuWfhFE4QSydOWEIIvfLwDr6E", expiration: null });
});

test("an expiration is part of the signed text and returned in unix seconds", async () => {
  const input = {
    path: "a",
    operation: "write" as const,
    user: undefined,
    accessToken: "t",
    now: 1_000_000_500,
  };
  const forever = await signFileUrl(input);
  const soon = await signFileUrl({ ...input, expirationInSeconds: 60 });
  assert.equal(soon.expiration, 1_000_060);
  assert.notEqual(soon.signature, forever.signature);
});
