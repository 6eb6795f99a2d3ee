import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, realpathSync, rmSync, statSync, symlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { SandpitError } from "@sandpit/protocol";
import { hostCommand } from "./host-command.js";
import { mountsUnder, unmountAll } from "./sandbox-rootfs.js";

/**
 * Host files and directories handed read-only to sandboxes, each seen through a read-only
 * overlay of its own. A plain bind mount shows its host path in the sandbox's
 * /proc/self/mountinfo (the mount's root within the host filesystem); through an overlay the
 * root is the overlay's own, and its options name only a link relative to `dir`.
 */
export interface HostBinds {
  /** The path to bind from instead of `source`; mounts the overlay on first use. */
  expose(source: string): Promise<string>;
  /**
   * Unmounts every overlay, of earlier versions of a source too (sandboxes already started
   * keep theirs: their mount namespaces hold their own references).
   */
  release(): Promise<void>;
}

// An overlay without an upper layer needs two lower layers; this one is always empty.
const EMPTY = "empty";

export function createHostBinds(dir: string): HostBinds {
  const mounted = new Map<string, Promise<string>>();

  /** Keyed by inode too: a directory replaced by a rename gets a new overlay, never a stale one. */
  function keyOf(source: string): string {
    return createHash("sha256")
      .update(`${source}\0${statSync(source).ino}`)
      .digest("hex")
      .slice(0, 16);
  }

  async function mountOverlay(source: string, key: string): Promise<string> {
    const point = join(dir, key);
    if (mountsUnder(point).includes(point)) return point;
    const link = `${key}.lower`;
    mkdirSync(join(dir, EMPTY), { recursive: true });
    mkdirSync(point, { recursive: true });
    rmSync(join(dir, link), { force: true });
    symlinkSync(source, join(dir, link));
    const r = await hostCommand(
      "mount",
      ["-t", "overlay", "overlay", "-o", `ro,lowerdir=${link}:${EMPTY}`, point],
      { cwd: dir, allowFailure: true },
    );
    // Another process sharing the data dir may have mounted it a moment earlier.
    if (r.code !== 0 && !mountsUnder(point).includes(point)) {
      throw new SandpitError("internal", `cannot expose ${source} to sandboxes: ${r.stderr.trim()}`);
    }
    return point;
  }

  function stillMounted(point: string): boolean {
    try {
      return statSync(point).dev !== statSync(dir).dev;
    } catch {
      return false;
    }
  }

  return {
    async expose(path) {
      const real = realpathSync(path);
      const isDir = lstatSync(real).isDirectory();
      const source = isDir ? real : dirname(real);
      const key = keyOf(source);
      let pending = mounted.get(key);
      // Cheap check that it is still mounted: an overlay is a device of its own.
      if (pending && !(await pending.then(stillMounted, () => false))) pending = undefined;
      if (!pending) {
        pending = mountOverlay(source, key);
        mounted.set(key, pending);
        pending.catch(() => mounted.delete(key));
      }
      const point = await pending;
      return isDir ? point : join(point, basename(real));
    },

    async release() {
      mounted.clear();
      if (!existsSync(dir)) return;
      await unmountAll(dir);
      if (mountsUnder(dir).length === 0) rmSync(dir, { recursive: true, force: true });
    },
  };
}
