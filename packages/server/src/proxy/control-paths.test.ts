import assert from "node:assert/strict";
import { test } from "node:test";
import { isControlPath } from "./control-paths.js";

test("control-plane agent paths are recognised in every spelling", () => {
  for (const url of [
    "/init",
    "/init?x=1",
    "/freeze",
    "/unfreeze",
    "/collapse",
    "/fsfreeze",
    "/fsthaw",
    "/upgrade",
    "//init",
    "/init/",
    "/./init",
    "/files/../init",
    "/%69nit",
    "/INIT",
    "/%2finit",
    "\\init",
    "http://sandbox/init",
    "/%zz",
  ]) {
    assert.equal(isControlPath(url), true, url);
  }
});

test("ordinary agent paths pass", () => {
  for (const url of [
    "/",
    "/health",
    "/files?path=/init",
    "/process.Process/Start",
    "/filesystem.Filesystem/Stat",
    "/initial",
    "/envs",
  ]) {
    assert.equal(isControlPath(url), false, url);
  }
});
