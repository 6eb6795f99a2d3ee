// Runs the checks and every test of the repository with node's test runner.
// Usage: node scripts/run-tests.mjs [--no-checks] [path-substring ...]
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const checks = !args.includes("--no-checks");
const filters = args.filter((a) => !a.startsWith("--"));

function run(cmd, cmdArgs) {
  const result = spawnSync(cmd, cmdArgs, { cwd: root, stdio: "inherit" });
  if (result.status !== 0) {
    console.error(`\n${cmd} ${cmdArgs.join(" ")} failed`);
    console.log("0 passed, 1 failed");
    process.exit(1);
  }
}

function findTests(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith(".test.ts")) out.push(relative(root, path));
  }
  return out;
}

if (checks) {
  run("npx", ["tsc", "-b"]);
  run("npx", ["biome", "check", "."]);
  run("npx", ["eslint", "."]);
}

const files = ["packages", "test", "bench"]
  .flatMap((d) => {
    try {
      return findTests(join(root, d));
    } catch {
      return [];
    }
  })
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();

// Integration suites share the host's firewall and runtimes; one file at a time keeps them
// from fighting and keeps the 2-core CI machine responsive.
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...files],
  { cwd: root, stdio: "inherit" },
);
process.exit(result.status ?? 1);
