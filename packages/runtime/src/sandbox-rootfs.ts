import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { join, relative } from "node:path";
import { hostCommand } from "./host-command.js";

/** Where one sandbox's root filesystem lives on the host. */
export interface RootfsPaths {
  /** The writable layer's own filesystem (a loop-mounted image when the disk is limited). */
  layer: string;
  /** The disk image of the writable layer, when the disk is limited. */
  image: string;
  upper: string;
  work: string;
  /** The overlay the sandbox sees as `/`. */
  rootfs: string;
}

/** Paths of a sandbox whose state lives in `dir`. */
export function rootfsPaths(dir: string): RootfsPaths {
  const layer = join(dir, "layer");
  return {
    layer,
    image: join(dir, "layer.img"),
    upper: join(layer, "upper"),
    work: join(layer, "work"),
    rootfs: join(dir, "rootfs"),
  };
}

/** The link, in a sandbox's dir, to its template's root filesystem (the overlay's lower layer). */
const LOWER_LINK = "lower";

/** Options of {@link mountRootfs}. */
export interface MountRootfsOptions {
  dir: string;
  lowerdir: string;
  /** Size of the writable layer; 0 leaves it on the host's filesystem, unlimited. */
  diskMB: number;
  /** Host uid/gid of the sandbox's root, who owns the overlay's top directory. */
  idShift: number;
  /** Directory of cached blank disk images, one per size. */
  imageCache: string;
}

/** Mounts the writable layer (if limited) and the overlay of template + layer. */
export async function mountRootfs(o: MountRootfsOptions): Promise<RootfsPaths> {
  const p = rootfsPaths(o.dir);
  mkdirSync(p.layer, { recursive: true });
  mkdirSync(p.rootfs, { recursive: true });
  if (o.diskMB > 0) {
    // An existing image is the sandbox's own layer (a restore after the host lost its mounts):
    // it is mounted again as it is, never replaced by a blank one.
    if (!existsSync(p.image)) {
      const blank = await blankImage(o.imageCache, o.diskMB);
      await hostCommand("cp", ["--sparse=always", blank, `${p.image}.tmp`]);
      renameSync(`${p.image}.tmp`, p.image);
    }
    if (!mountsUnder(p.layer).includes(p.layer)) {
      await hostCommand("mount", ["-o", "loop,nodev,nosuid", p.image, p.layer]);
    }
  }
  mkdirSync(p.upper, { recursive: true });
  mkdirSync(p.work, { recursive: true });
  chownSync(p.upper, o.idShift, o.idShift);
  // Relative paths: the options are shown verbatim in the sandbox's /proc/self/mountinfo, and
  // there they must not tell where the host keeps its templates and sandboxes.
  rmSync(join(o.dir, LOWER_LINK), { force: true });
  symlinkSync(o.lowerdir, join(o.dir, LOWER_LINK));
  await hostCommand(
    "mount",
    [
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${LOWER_LINK},upperdir=${relative(o.dir, p.upper)},workdir=${relative(o.dir, p.work)}`,
      p.rootfs,
    ],
    { cwd: o.dir },
  );
  // Every sandbox has a /tmp for everyone, whatever its template holds (gVisor's boot marker goes there).
  const tmp = join(p.rootfs, "tmp");
  if (!existsSync(tmp)) {
    mkdirSync(tmp);
    chmodSync(tmp, 0o1777);
    chownSync(tmp, o.idShift, o.idShift);
  }
  return p;
}

/** Unmounts the overlay and the layer's image; what is not mounted is skipped. */
export async function unmountRootfs(dir: string): Promise<void> {
  const p = rootfsPaths(dir);
  for (const target of [p.rootfs, p.layer]) await unmountAll(target);
}

/** Mount points at or below `prefix`, deepest first. */
export function mountsUnder(prefix: string): string[] {
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((m): m is string => !!m && (m === prefix || m.startsWith(`${prefix}/`)))
    .map((m) => m.replace(/\\040/g, " "));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Unmounts everything mounted at or below `target` (stacked mounts too). */
export async function unmountAll(target: string): Promise<void> {
  for (const point of mountsUnder(target)) {
    const r = await hostCommand("umount", [point], { allowFailure: true });
    if (r.code !== 0 && mountsUnder(point).includes(point)) {
      // Busy (a process of a dying sandbox still holds it): detach now, the kernel finishes later.
      await hostCommand("umount", ["-l", point]);
    }
  }
}

// Concurrent first creates of one size share one mkfs instead of racing on the same file.
const blankImagesInFlight = new Map<string, Promise<string>>();

function blankImage(cache: string, sizeMB: number): Promise<string> {
  const path = join(cache, `blank-${sizeMB}m.ext4`);
  if (existsSync(path)) return Promise.resolve(path);
  let pending = blankImagesInFlight.get(path);
  if (!pending) {
    pending = makeBlankImage(cache, path, sizeMB).finally(() => blankImagesInFlight.delete(path));
    blankImagesInFlight.set(path, pending);
  }
  return pending;
}

async function makeBlankImage(cache: string, path: string, sizeMB: number): Promise<string> {
  mkdirSync(cache, { recursive: true });
  // Unique per process and call: another process may be making the same image.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await hostCommand("truncate", ["-s", `${sizeMB}M`, tmp]);
  await hostCommand("mkfs.ext4", [
    "-q",
    "-F",
    "-m",
    "0",
    "-O",
    "^has_journal",
    "-E",
    "nodiscard,lazy_itable_init=1",
    tmp,
  ]);
  renameSync(tmp, path);
  return path;
}
