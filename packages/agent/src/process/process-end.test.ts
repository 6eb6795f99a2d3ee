import assert from "node:assert/strict";
import { test } from "node:test";
import { processEnd } from "./process-end.js";

test("a clean exit has no error, a failing one repeats its status", () => {
  assert.deepEqual(processEnd(0, null), {
    exitCode: 0,
    exited: true,
    status: "exit status 0",
    error: undefined,
  });
  assert.deepEqual(processEnd(2, null), {
    exitCode: 2,
    exited: true,
    status: "exit status 2",
    error: "exit status 2",
  });
});

test("a signal gives exit code -1 and Go's signal names, by name or number", () => {
  assert.deepEqual(processEnd(null, "SIGKILL"), {
    exitCode: -1,
    exited: false,
    status: "signal: killed",
    error: "signal: killed",
  });
  assert.equal(processEnd(0, 15).status, "signal: terminated");
  assert.equal(processEnd(null, "SIGSEGV").status, "signal: segmentation fault");
  assert.equal(processEnd(null, 64).status, "signal: signal 64");
});
