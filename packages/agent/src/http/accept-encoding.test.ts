import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { acceptsIdentity } from "./accept-encoding.js";

describe("acceptsIdentity", () => {
  it("is true unless identity is refused outright or by a zero wildcard", () => {
    assert.equal(acceptsIdentity(undefined), true);
    assert.equal(acceptsIdentity("gzip, deflate"), true);
    assert.equal(acceptsIdentity("gzip"), true);
    assert.equal(acceptsIdentity("identity;q=0.5, *;q=0"), true);
    assert.equal(acceptsIdentity("gzip, identity;q=0"), false);
    assert.equal(acceptsIdentity("gzip, *;q=0"), false);
  });
});
