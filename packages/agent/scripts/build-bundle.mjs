// Bundles the agent into dist/bundle/: agent.mjs plus the two native addons it cannot inline,
// so the directory runs with a bare `node dist/bundle/agent.mjs` inside any sandbox.
//
// Running sandboxes bind-mount dist/bundle, and other processes create sandboxes from it while
// this runs, so it is never changed in place: a new bundle is built beside it and renamed into
// place, the old one renamed away and removed only later. When nothing that goes into the bundle
// changed (a hash of its inputs, written beside it), nothing is built at all.
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { buildLauncher } from "./build-launcher.mjs";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, "dist");
const out = join(dist, "bundle");
const natives = ["node-pty", "fs-xattr"];
const stampName = ".build-inputs.json";
// A bundle renamed away may still be mounted by a sandbox started just before; hours are plenty.
const retiredKeepMs = 60 * 60 * 1000;

// Found by node's lookup paths rather than require.resolve: fs-xattr's exports hide package.json.
const require = createRequire(join(root, "package.json"));
function packageDir(name) {
  const dir = (require.resolve.paths(name) ?? [])
    .map((p) => join(p, name))
    .find((d) => existsSync(join(d, "package.json")));
  if (!dir) throw new Error(`${name} is not installed`);
  return dir;
}

/** Files that shape the bundle besides the sources esbuild reads. */
function fixedInputs() {
  const files = [
    fileURLToPath(import.meta.url),
    join(root, "scripts", "build-launcher.mjs"),
    join(root, "native", "launcher.c"),
  ];
  for (const name of natives) {
    const dir = packageDir(name);
    files.push(join(dir, "package.json"));
    const release = join(dir, "build", "Release");
    if (existsSync(release)) {
      for (const f of readdirSync(release)) if (f.endsWith(".node")) files.push(join(release, f));
    }
  }
  return files;
}

/** The host's node and the libraries it links, by identity rather than content (100 MB). */
function runtimeIdentity() {
  // ldd's load addresses change from run to run; the paths do not.
  const libs = libsOf(execFileSync("ldd", [process.execPath], { encoding: "utf8" }));
  const ids = [process.execPath, process.version, process.env.CC ?? ""];
  for (const file of [process.execPath, ...libs]) {
    const s = statSync(file);
    ids.push(`${file} ${s.size} ${s.mtimeMs} ${s.ino}`);
  }
  return ids.join("\n");
}

function libsOf(linked) {
  return [...linked.matchAll(/(\/\S+\.so[.\d]*)\s+\(0x/g)].map((m) => m[1]);
}

/** Hash of every input, or undefined when one of them is gone. */
function hashOf(sources) {
  const hash = createHash("sha256").update(runtimeIdentity());
  for (const file of [...new Set([...sources, ...fixedInputs()])].sort()) {
    let content;
    try {
      content = readFileSync(file);
    } catch {
      return undefined;
    }
    hash.update(`\0${file}\0${content.length}\0`).update(content);
  }
  return hash.digest("hex");
}

function upToDate() {
  try {
    const stamp = JSON.parse(readFileSync(join(out, stampName), "utf8"));
    if (!existsSync(join(out, "agent.mjs"))) return false;
    return hashOf(stamp.sources.map((s) => resolve(root, s))) === stamp.hash;
  } catch {
    return false;
  }
}

async function buildInto(dir) {
  // Commands start through the launcher when it is there; without a C compiler the agent falls
  // back to forking itself, slower and with sockets instead of pipes as a command's stdio.
  try {
    buildLauncher(join(dir, "bin", "sandpit-launcher"));
  } catch (error) {
    console.warn(
      `warning: no process launcher in the bundle (${String(error.stderr ?? error.message).trim()})`,
    );
  }

  const result = await build({
    entryPoints: [join(root, "src", "main.ts")],
    outfile: join(dir, "agent.mjs"),
    absWorkingDir: root,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    external: natives,
    sourcemap: "linked",
    legalComments: "linked",
    metafile: true,
    // CommonJS dependencies (busboy) call require(); an ES module has none of its own.
    banner: {
      js: 'import { createRequire as __agentRequire } from "node:module";\nconst require = __agentRequire(import.meta.url);',
    },
    logLevel: "warning",
  });

  // Only what runs on Linux: package.json, the JS, and the compiled addon.
  for (const name of natives) {
    const from = packageDir(name);
    const to = join(dir, "node_modules", name);
    cpSync(from, to, {
      recursive: true,
      filter(path) {
        const rel = relative(from, path);
        if (rel === "") return true;
        const top = rel.split(sep)[0];
        if (top === "build")
          return rel === "build" || rel === join("build", "Release") || /\.node$/.test(rel);
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
  mkdirSync(join(dir, "bin"), { recursive: true });
  mkdirSync(join(dir, "lib"));
  copyFileSync(process.execPath, join(dir, "bin", "node"));
  for (const lib of libsOf(execFileSync("ldd", [process.execPath], { encoding: "utf8" }))) {
    copyFileSync(lib, join(dir, "lib", basename(lib)));
  }
  if (!existsSync(join(dir, "lib", "ld-linux-x86-64.so.2")))
    throw new Error("no dynamic loader found for node");

  // Paths relative to the package, so the stamp survives moving the checkout.
  const sources = Object.keys(result.metafile.inputs).map((p) => relative(root, resolve(root, p)));
  const hash = hashOf(sources.map((s) => resolve(root, s)));
  writeFileSync(join(dir, stampName), `${JSON.stringify({ hash, sources }, null, 1)}\n`);
}

/** Moves `fresh` to dist/bundle; whatever was there is renamed away, not deleted. */
function swapIn(fresh) {
  for (let attempt = 0; ; attempt++) {
    if (existsSync(out)) {
      const retired = join(dist, `bundle.old-${process.pid}-${randomBytes(4).toString("hex")}`);
      try {
        renameSync(out, retired);
        // The retirement time, which pruning goes by.
        const now = new Date();
        utimesSync(retired, now, now);
      } catch (error) {
        // Another build swapped it away meanwhile.
        if (error.code !== "ENOENT") throw error;
      }
    }
    try {
      renameSync(fresh, out);
      return;
    } catch (error) {
      // Another build put its bundle in place between the two renames: retire that one too.
      if ((error.code !== "ENOTEMPTY" && error.code !== "EEXIST") || attempt >= 5) throw error;
    }
  }
}

/** Removes bundles retired long ago and builds that died half-way. */
function prune() {
  const now = Date.now();
  for (const name of readdirSync(dist)) {
    if (!name.startsWith("bundle.old-") && !name.startsWith("bundle.new-")) continue;
    const path = join(dist, name);
    try {
      if (now - statSync(path).mtimeMs > retiredKeepMs) rmSync(path, { recursive: true, force: true });
    } catch {
      // Pruned by another build at the same time.
    }
  }
}

if (upToDate()) {
  console.log(`agent bundle in ${relative(process.cwd(), out) || "."} is up to date`);
} else {
  mkdirSync(dist, { recursive: true });
  const fresh = join(dist, `bundle.new-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    await buildInto(fresh);
    swapIn(fresh);
  } catch (error) {
    rmSync(fresh, { recursive: true, force: true });
    throw error;
  }
  console.log(`agent bundle written to ${relative(process.cwd(), out) || "."}`);
}
prune();
