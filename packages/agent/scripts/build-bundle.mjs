// Bundles the agent into dist/bundle/: agent.mjs plus the two native addons it cannot inline,
// so the directory runs with a bare `node dist/bundle/agent.mjs` inside any sandbox.
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { buildLauncher } from "./build-launcher.mjs";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const out = join(root, "dist", "bundle");
const natives = ["node-pty", "fs-xattr"];

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// Commands start through the launcher when it is there; without a C compiler the agent falls
// back to forking itself, slower and with sockets instead of pipes as a command's stdio.
// Written first: an agent.mjs in the directory means the launcher of the same build is there.
try {
  buildLauncher(join(out, "bin", "sandpit-launcher"));
} catch (error) {
  console.warn(
    `warning: no process launcher in the bundle (${String(error.stderr ?? error.message).trim()})`,
  );
}

await build({
  entryPoints: [join(root, "src", "main.ts")],
  outfile: join(out, "agent.mjs"),
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  external: natives,
  sourcemap: "linked",
  legalComments: "linked",
  // CommonJS dependencies (busboy) call require(); an ES module has none of its own.
  banner: {
    js: 'import { createRequire as __agentRequire } from "node:module";\nconst require = __agentRequire(import.meta.url);',
  },
  logLevel: "warning",
});

// Found by node's lookup paths rather than require.resolve: fs-xattr's exports hide package.json.
const require = createRequire(join(root, "package.json"));
function packageDir(name) {
  const dir = (require.resolve.paths(name) ?? [])
    .map((p) => join(p, name))
    .find((d) => existsSync(join(d, "package.json")));
  if (!dir) throw new Error(`${name} is not installed`);
  return dir;
}

// Only what runs on Linux: package.json, the JS, and the compiled addon.
for (const name of natives) {
  const from = packageDir(name);
  const to = join(out, "node_modules", name);
  cpSync(from, to, {
    recursive: true,
    filter(path) {
      const rel = relative(from, path);
      if (rel === "") return true;
      const top = rel.split(sep)[0];
      if (top === "build") return rel === "build" || rel === join("build", "Release") || /\.node$/.test(rel);
      if (["src", "deps", "third_party", "prebuilds", "scripts", "node-addon-api", "typings"].includes(top))
        return false;
      if (/\.(test\.js|map|gyp|d\.ts|md|cc|h)$/.test(rel)) return false;
      return true;
    },
  });
  if (!existsSync(join(to, "build", "Release"))) throw new Error(`${name}: no build/Release to copy`);
}
// The agent must not depend on the template's libc or Node: ship this host's node with the
// loader and shared libraries it links, and start it through that loader (see agentCommand).
mkdirSync(join(out, "bin"), { recursive: true });
mkdirSync(join(out, "lib"));
copyFileSync(process.execPath, join(out, "bin", "node"));
const linked = execFileSync("ldd", [process.execPath], { encoding: "utf8" });
for (const m of linked.matchAll(/(\/\S+\.so[.\d]*)\s+\(0x/g)) {
  const lib = m[1];
  copyFileSync(lib, join(out, "lib", basename(lib)));
}
if (!existsSync(join(out, "lib", "ld-linux-x86-64.so.2")))
  throw new Error("no dynamic loader found for node");

console.log(`agent bundle written to ${relative(process.cwd(), out) || "."}`);
