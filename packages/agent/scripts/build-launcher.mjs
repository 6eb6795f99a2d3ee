// Compiles native/launcher.c into a static binary (no libc needed in the template).
// `node scripts/build-launcher.mjs OUT` from the command line; buildLauncher(out) from code.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const source = join(root, "native", "launcher.c");
const flags = ["-static", "-O2", "-s", "-Wall", "-Wextra", "-Werror"];

/** Compiles the launcher (or reuses the build of the same source) to `out`; throws when it cannot. */
export function buildLauncher(out) {
  const cc = process.env.CC || "cc";
  const hash = createHash("sha256")
    .update(readFileSync(source))
    .update(JSON.stringify([cc, flags]))
    .digest("hex")
    .slice(0, 16);
  // Cached by content: bundle builds and test runs often happen at the same time.
  const cached = join(root, "dist", "launcher-cache", `sandpit-launcher-${hash}`);
  if (!existsSync(cached)) {
    mkdirSync(dirname(cached), { recursive: true });
    // Written beside the target and renamed, so a concurrent reader never runs half a binary.
    const tmp = `${cached}.${process.pid}.tmp`;
    execFileSync(cc, [...flags, "-o", tmp, source], { stdio: ["ignore", "ignore", "pipe"] });
    renameSync(tmp, cached);
  }
  mkdirSync(dirname(out), { recursive: true });
  const tmpOut = `${out}.${process.pid}.tmp`;
  copyFileSync(cached, tmpOut);
  renameSync(tmpOut, out);
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) throw new Error("usage: build-launcher.mjs OUT");
  buildLauncher(out);
}
