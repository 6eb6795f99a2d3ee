import assert from "node:assert/strict";
import { test } from "node:test";
import { compareVersions } from "./version.js";

test("versions compare by number, part by part", () => {
  assert.ok(compareVersions("0.6.13", "0.6.4") > 0);
  assert.ok(compareVersions("0.1.0", "0.10.0") < 0);
  assert.equal(compareVersions("1.2.3", "1.2.3"), 0);
  assert.ok(compareVersions("99.99.99", "0.4.0") > 0);
});
