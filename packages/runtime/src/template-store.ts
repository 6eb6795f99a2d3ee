import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { SandpitError } from "@sandpit/protocol";
import { shiftOwnership } from "./id-shift.js";

/** How a template's root filesystem is made; its hash names the cached build. */
export interface TemplateRecipe {
  name: string;
  suite: string;
  packages: readonly string[];
  /** Shell run inside the new root (chroot) after the packages are in. */
  setup: string;
}

/** A template ready to be the lower layer of a sandbox's root. */
export interface Template {
  name: string;
  /** Recipe hash, part of the cache key. */
  id: string;
  rootfs: string;
}

/** Options of {@link createTemplateStore}. */
export interface TemplateStoreOptions {
  /** Where built templates are cached (outside any clone, shared by every run on the host). */
  dir: string;
  /** Host uid/gid that is root inside a sandbox; the template is owned from there up. */
  idShift: number;
  /** Receives build progress lines; default: stderr. */
  onProgress?: (line: string) => void;
}

/** Builds templates once per recipe and hands out the cached result. */
export interface TemplateStore {
  /** The recipes this store knows, by name. */
  readonly recipes: ReadonlyMap<string, TemplateRecipe>;
  /** Returns the built template, building it first if needed. Unknown name → not_found. */
  ensure(name: string): Promise<Template>;
  /** Returns the template if it is already built, without building. */
  find(name: string): Template | undefined;
}

/** The `base` template: Debian bookworm with the tools E2B users expect. */
export const baseRecipe: TemplateRecipe = {
  name: "base",
  suite: "bookworm",
  packages: [
    "python3",
    "python3-pip",
    "python-is-python3",
    "nodejs",
    "git",
    "curl",
    "ca-certificates",
    "sudo",
    "procps",
    "coreutils",
    "ncurses-bin",
  ],
  setup: [
    "set -e",
    "useradd --create-home --uid 1000 --user-group --shell /bin/bash user",
    "echo 'user ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/user && chmod 0440 /etc/sudoers.d/user",
    "printf '127.0.0.1 localhost\\n::1 localhost\\n' > /etc/hosts",
    "echo sandbox > /etc/hostname",
    "apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin",
  ].join("\n"),
};

/** The cache key of a recipe: anything that changes the result changes the key. */
export function recipeId(recipe: TemplateRecipe, idShift: number): string {
  const text = JSON.stringify({ ...recipe, idShift, format: 1 });
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** Reads the Debian mirror this host's apt uses, so builds go where the host may reach. */
export function hostDebianMirror(): string {
  const files = ["/etc/apt/sources.list"];
  try {
    for (const f of fs.readdirSync("/etc/apt/sources.list.d")) files.push(join("/etc/apt/sources.list.d", f));
  } catch {
    // no sources.list.d
  }
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const m of text.matchAll(/(https?:\/\/[^\s]+\/debian)\/?(\s|$)/g)) {
      if (m[1] && !m[1].includes("security")) return m[1];
    }
  }
  return "http://deb.debian.org/debian";
}

const READY = "ready";

/** Creates a template store over a cache directory. */
export function createTemplateStore(options: TemplateStoreOptions): TemplateStore {
  const recipes = new Map<string, TemplateRecipe>([[baseRecipe.name, baseRecipe]]);
  const progress = options.onProgress ?? ((line: string) => process.stderr.write(`[template] ${line}\n`));
  const building = new Map<string, Promise<Template>>();

  function locate(recipe: TemplateRecipe): Template {
    const id = recipeId(recipe, options.idShift);
    return { name: recipe.name, id, rootfs: join(options.dir, `${recipe.name}-${id}`, "rootfs") };
  }

  function isReady(t: Template): boolean {
    return fs.existsSync(join(t.rootfs, "..", READY));
  }

  function find(name: string): Template | undefined {
    const recipe = recipes.get(name);
    if (!recipe) return undefined;
    const t = locate(recipe);
    return isReady(t) ? t : undefined;
  }

  async function build(recipe: TemplateRecipe): Promise<Template> {
    const t = locate(recipe);
    const finalDir = join(t.rootfs, "..");
    fs.mkdirSync(options.dir, { recursive: true });
    const release = await takeLock(join(options.dir, `.${recipe.name}-${t.id}.lock`));
    try {
      if (isReady(t)) return t;
      removeStaleBuilds(options.dir);
      const work = join(options.dir, `.build-${recipe.name}-${t.id}-${process.pid}`);
      fs.rmSync(work, { recursive: true, force: true });
      const started = Date.now();
      progress(`building template '${recipe.name}' (${recipe.suite}); this takes a few minutes`);
      const rootfs = join(work, "rootfs");
      await streamCommand(
        "debootstrap",
        [
          "--variant=minbase",
          `--include=${recipe.packages.join(",")}`,
          recipe.suite,
          rootfs,
          hostDebianMirror(),
        ],
        progress,
      );
      progress("configuring");
      await streamCommand("chroot", [rootfs, "/bin/sh", "-c", recipe.setup], progress);
      progress(`shifting ownership by ${options.idShift} for the user namespace`);
      shiftOwnership(rootfs, options.idShift);
      fs.writeFileSync(join(work, "recipe.json"), JSON.stringify(recipe, null, 2));
      fs.writeFileSync(join(work, READY), new Date().toISOString());
      fs.rmSync(finalDir, { recursive: true, force: true });
      fs.renameSync(work, finalDir);
      progress(`template '${recipe.name}' ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      return t;
    } finally {
      release();
    }
  }

  return {
    recipes,
    find,
    ensure(name) {
      const recipe = recipes.get(name);
      if (!recipe) return Promise.reject(new SandpitError("not_found", `template '${name}' not found`));
      const ready = find(name);
      if (ready) return Promise.resolve(ready);
      let pending = building.get(name);
      if (!pending) {
        pending = build(recipe).finally(() => building.delete(name));
        building.set(name, pending);
      }
      return pending;
    },
  };
}

/** Build directories of processes that are gone are debris of an interrupted build. */
function removeStaleBuilds(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    const m = /^\.build-.*-(\d+)$/.exec(name);
    if (m && !pidAlive(Number(m[1]))) fs.rmSync(join(dir, name), { recursive: true, force: true });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A lock file that holds the owner's pid; a dead owner's lock is taken over. */
async function takeLock(path: string): Promise<() => void> {
  for (;;) {
    try {
      fs.writeFileSync(path, String(process.pid), { flag: "wx" });
      return () => fs.rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = Number(fs.readFileSync(path, "utf8"));
      if (!owner || !pidAlive(owner)) {
        fs.rmSync(path, { force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function streamCommand(command: string, args: string[], onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        onLine(line);
      });
    }
    child.on("error", (e) => reject(new SandpitError("internal", `cannot run ${command}: ${e.message}`)));
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(new SandpitError("internal", `${command} failed (exit ${code}): ${tail.join("\n")}`)),
    );
  });
}
