import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveUserPath } from "./paths.js";
import type { SandboxUser } from "./users.js";

const user: SandboxUser = {
  name: "user",
  uid: 1000,
  gid: 1000,
  home: "/home/user",
  shell: "/bin/sh",
  groups: [1000],
};

describe("resolveUserPath (spec §5.2)", () => {
  it("joins relative paths to the home, not the workdir", () => {
    assert.equal(resolveUserPath("a/b.txt", user, "/work"), "/home/user/a/b.txt");
  });

  it("uses the default workdir for an empty path, else the home", () => {
    assert.equal(resolveUserPath("", user, "/work"), "/work");
    assert.equal(resolveUserPath("", user), "/home/user");
  });

  it("expands ~ and ~/ but refuses ~other", () => {
    assert.equal(resolveUserPath("~", user), "/home/user");
    assert.equal(resolveUserPath("~/x/../y", user), "/home/user/y");
    assert.throws(() => resolveUserPath("~root/x", user), { code: "invalid_argument" });
  });

  it("cleans absolute paths", () => {
    assert.equal(resolveUserPath("/tmp//a/./b/../c/", user), "/tmp/a/c");
    assert.equal(resolveUserPath("/../..", user), "/");
    assert.equal(resolveUserPath("../../..", user), "/");
  });

  it("refuses NUL bytes", () => {
    assert.throws(() => resolveUserPath("a\0b", user), { code: "invalid_argument" });
  });
});
