import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";

const root = new URL("..", import.meta.url).pathname;
const bundle = join(root, "dist", "bundle");
const build = () => execFileSync("node", ["scripts/build-bundle.mjs"], { cwd: root, encoding: "utf8" });

// Regression: every build deleted the bundle and rebuilt it in place, under sandboxes that had it
// mounted and under other processes creating sandboxes from it.
it("builds the bundle once and leaves it alone while its inputs are unchanged", { timeout: 120_000 }, () => {
  build();
  const first = statSync(bundle).ino;
  assert.ok(existsSync(join(bundle, "agent.mjs")));
  assert.ok(existsSync(join(bundle, "lib", "ld-linux-x86-64.so.2")));
  assert.match(build(), /up to date/);
  assert.equal(statSync(bundle).ino, first, "the bundle directory was replaced");
});
