import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { applyPidsLimit, PIDS_LIMIT_ENV } from "./pids-limit.js";

const dir = mkdtempSync(join(tmpdir(), "pids-limit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("an unlimited controller gets the sandbox's limit and the variable leaves the env", () => {
  const file = join(dir, "a");
  writeFileSync(file, "max\n");
  const env = { [PIDS_LIMIT_ENV]: "1024", PATH: "/bin" };
  assert.equal(applyPidsLimit(env, file), true);
  assert.equal(readFileSync(file, "utf8"), "1024");
  assert.deepEqual(env, { PATH: "/bin" });
});

test("a limit already set (a restored sandbox, or root's choice) is left alone", () => {
  const file = join(dir, "b");
  writeFileSync(file, "50\n");
  assert.equal(applyPidsLimit({ [PIDS_LIMIT_ENV]: "1024" }, file), false);
  assert.equal(readFileSync(file, "utf8"), "50\n");
});

test("no controller, no variable or a malformed one change nothing", () => {
  assert.equal(applyPidsLimit({ [PIDS_LIMIT_ENV]: "1024" }, join(dir, "missing")), false);
  const file = join(dir, "c");
  writeFileSync(file, "max\n");
  for (const env of [{}, { [PIDS_LIMIT_ENV]: "-1" }, { [PIDS_LIMIT_ENV]: "12x" }]) {
    assert.equal(applyPidsLimit(env, file), false);
  }
  assert.equal(readFileSync(file, "utf8"), "max\n");
});
