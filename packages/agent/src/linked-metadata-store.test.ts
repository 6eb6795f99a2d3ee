import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { getAttribute } from "fs-xattr";
import {
  createFileMetadata,
  type FileMetadata,
  type FileMetadataOptions,
  readFileMetadata,
  replaceFileMetadata,
} from "./file-metadata.js";

const isRoot = process.getuid?.() === 0;

/**
 * A scratch tree on the host whose filesystem is treated as lacking xattrs, as gVisor's root
 * filesystem does, so metadata goes to the linked store in `<root>/store`.
 */
interface StoreTree extends AsyncDisposable {
  root: string;
  storeDir: string;
  files: FileMetadata;
  /** A second agent on the same store (a restart); closed with the tree. */
  reopen(options?: FileMetadataOptions): FileMetadata;
  /** Names in the store directory, sorted; [] when it does not exist. */
  storeNames(): string[];
}

function storeTree(options: FileMetadataOptions = {}): StoreTree {
  const root = mkdtempSync(join(tmpdir(), "sandpit-linked-store-"));
  const storeDir = join(root, "store");
  const opened: FileMetadata[] = [];
  const reopen = (extra: FileMetadataOptions = {}) => {
    const files = createFileMetadata({
      storeDir,
      devicesWithoutXattrs: [statSync(root, { bigint: true }).dev],
      ...options,
      ...extra,
    });
    opened.push(files);
    return files;
  };
  const files = reopen();
  return {
    root,
    storeDir,
    files,
    reopen,
    storeNames: () => (existsSync(storeDir) ? readdirSync(storeDir).sort() : []),
    async [Symbol.asyncDispose]() {
      for (const f of opened) f.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The store's entries: link name → the file's inode and the json's metadata. */
function entriesOf(tree: StoreTree): Map<string, { ino: number; nlink: number; metadata: unknown }> {
  const entries = new Map<string, { ino: number; nlink: number; metadata: unknown }>();
  for (const name of tree.storeNames()) {
    // Links only: not their json, nor a sweep's passing `<id>.probe`.
    if (!/^[0-9a-f]{16}$/.test(name)) continue;
    const info = lstatSync(join(tree.storeDir, name));
    const json = JSON.parse(readFileSync(join(tree.storeDir, `${name}.json`), "utf8")) as {
      metadata: unknown;
    };
    entries.set(name, { ino: info.ino, nlink: info.nlink, metadata: json.metadata });
  }
  return entries;
}

describe("linked metadata store (a filesystem without xattrs)", () => {
  it("keeps metadata in a hard link and a json beside it, in a 0700 directory made on first use", async () => {
    await using tree = storeTree();
    const file = join(tree.root, "a.txt");
    writeFileSync(file, "alpha");
    assert.deepEqual(await readFileMetadata(tree.files, file), {});
    assert.deepEqual(tree.storeNames(), [], "reading creates nothing");
    await replaceFileMetadata(tree.files, file, { author: "mish", team: "a b" });
    assert.deepEqual(await readFileMetadata(tree.files, file), { author: "mish", team: "a b" });
    assert.equal(statSync(tree.storeDir).mode & 0o777, 0o700);
    const [entry, ...rest] = entriesOf(tree).values();
    assert.deepEqual(rest, []);
    assert.equal(entry?.ino, statSync(file).ino);
    assert.equal(entry?.nlink, 2);
    assert.deepEqual(entry?.metadata, { author: "mish", team: "a b" });
    await assert.rejects(getAttribute(file, "user.e2b.author"), "no xattr was set");
  });

  it("follows the file through renames, within its directory and into another", async () => {
    await using tree = storeTree();
    writeFileSync(join(tree.root, "a.txt"), "alpha");
    await replaceFileMetadata(tree.files, join(tree.root, "a.txt"), { k: "v" });
    renameSync(join(tree.root, "a.txt"), join(tree.root, "b.txt"));
    assert.deepEqual(await readFileMetadata(tree.files, join(tree.root, "b.txt")), { k: "v" });
    mkdirSync(join(tree.root, "sub"));
    renameSync(join(tree.root, "b.txt"), join(tree.root, "sub", "c.txt"));
    assert.deepEqual(await readFileMetadata(tree.files, join(tree.root, "sub", "c.txt")), { k: "v" });
    assert.deepEqual(await readFileMetadata(tree.files, join(tree.root, "a.txt")), {});
  });

  it("regression: rm and a new file at the same path show no metadata; the link goes at the next sweep", async () => {
    await using tree = storeTree();
    const file = join(tree.root, "c");
    writeFileSync(file, "x");
    await replaceFileMetadata(tree.files, file, { k: "v" });
    const oldIno = statSync(file).ino;
    unlinkSync(file);
    writeFileSync(file, "y");
    // The store's link holds the old inode, so the new file cannot have been given its number.
    assert.notEqual(statSync(file).ino, oldIno);
    assert.deepEqual(await readFileMetadata(tree.files, file), {});
    assert.equal(entriesOf(tree).size, 1, "still there until a sweep");
    await tree.files.store.sweep();
    assert.deepEqual(tree.storeNames(), []);
    assert.deepEqual(await readFileMetadata(tree.files, file), {});
  });

  it("sweeps deleted files' entries every interval, and on replaces", async () => {
    await using tree = storeTree({ sweepIntervalMs: 50 });
    for (const name of ["a", "b", "c"]) {
      writeFileSync(join(tree.root, name), name);
      await replaceFileMetadata(tree.files, join(tree.root, name), { name });
    }
    unlinkSync(join(tree.root, "a"));
    const deadline = Date.now() + 5000;
    // Count link names only: reading a json the timer's sweep is removing would race it.
    const links = () => tree.storeNames().filter((name) => /^[0-9a-f]{16}$/.test(name));
    while (links().length !== 2) {
      assert.ok(Date.now() < deadline, `the periodic sweep left ${tree.storeNames().join(",")}`);
      await sleep(20);
    }
    assert.deepEqual([...entriesOf(tree).values()].map((e) => (e.metadata as { name: string }).name).sort(), [
      "b",
      "c",
    ]);
    // Without the timer: a replace collects the entries checked longest ago.
    await using quiet = storeTree({ sweepIntervalMs: 3_600_000 });
    for (const name of ["a", "b"]) {
      writeFileSync(join(quiet.root, name), name);
      await replaceFileMetadata(quiet.files, join(quiet.root, name), { name });
    }
    unlinkSync(join(quiet.root, "a"));
    writeFileSync(join(quiet.root, "d"), "d");
    await replaceFileMetadata(quiet.files, join(quiet.root, "d"), { name: "d" });
    const names = [...entriesOf(quiet).values()].map((e) => (e.metadata as { name: string }).name);
    assert.deepEqual(names.sort(), ["b", "d"]);
  });

  it("an upload without metadata clears it; writes and appends in place keep it", async () => {
    await using tree = storeTree();
    const file = join(tree.root, "f");
    writeFileSync(file, "one");
    await replaceFileMetadata(tree.files, file, { a: "1" });
    appendFileSync(file, "two");
    assert.deepEqual(await readFileMetadata(tree.files, file), { a: "1" });
    writeFileSync(file, "truncated in place");
    assert.deepEqual(await readFileMetadata(tree.files, file), { a: "1" });
    await replaceFileMetadata(tree.files, file, { b: "2" });
    await replaceFileMetadata(tree.files, file, { c: "3" });
    assert.deepEqual(await readFileMetadata(tree.files, file), { c: "3" });
    assert.equal(entriesOf(tree).size, 1, "an update reuses the entry");
    await replaceFileMetadata(tree.files, file, {});
    assert.deepEqual(await readFileMetadata(tree.files, file), {});
    assert.deepEqual(tree.storeNames(), []);
    assert.equal(statSync(file).nlink, 1);
  });

  it("a new agent on the same store sees its entries and drops what a crash or a deletion left", async () => {
    await using tree = storeTree();
    for (const name of ["kept", "deleted"]) {
      writeFileSync(join(tree.root, name), name);
      await replaceFileMetadata(tree.files, join(tree.root, name), { name });
    }
    tree.files.close();
    const [keptId] =
      [...entriesOf(tree)].find(([, e]) => (e.metadata as { name: string }).name === "kept") ?? [];
    unlinkSync(join(tree.root, "deleted"));
    writeFileSync(join(tree.storeDir, "0123456789abcdef.json"), '{"metadata":{"orphan":"json"}}');
    writeFileSync(join(tree.storeDir, "fedcba9876543210.json.tmp"), "{");
    symlinkSync("x", join(tree.storeDir, `${keptId}.probe`));

    const restarted = tree.reopen();
    assert.deepEqual(await readFileMetadata(restarted, join(tree.root, "kept")), { name: "kept" });
    assert.deepEqual(tree.storeNames(), [keptId, `${keptId}.json`]);
  });

  it("does not link a file on another filesystem, and refuses only uploads with metadata there", async (t) => {
    const shm = "/dev/shm";
    await using tree = storeTree();
    if (!existsSync(shm) || statSync(shm).dev === statSync(tree.root).dev) {
      t.skip("needs /dev/shm on a filesystem of its own");
      return;
    }
    const other = mkdtempSync(join(shm, "sandpit-linked-store-"));
    try {
      const files = tree.reopen({
        devicesWithoutXattrs: [
          statSync(tree.root, { bigint: true }).dev,
          statSync(other, { bigint: true }).dev,
        ],
      });
      const file = join(other, "f");
      writeFileSync(file, "x");
      await assert.rejects(
        replaceFileMetadata(files, file, { k: "v" }),
        /file metadata is not supported on this filesystem/,
      );
      await replaceFileMetadata(files, file, {});
      assert.deepEqual(await readFileMetadata(files, file), {});
      assert.equal(statSync(file).nlink, 1);
      assert.deepEqual(
        tree.storeNames().filter((n) => !n.endsWith(".json")),
        [],
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("follows symlinks: metadata set through a link lands on its target, and the link stays a link", async () => {
    await using tree = storeTree();
    writeFileSync(join(tree.root, "target"), "t");
    symlinkSync("target", join(tree.root, "link"));
    await replaceFileMetadata(tree.files, join(tree.root, "link"), { via: "link" });
    assert.ok(lstatSync(join(tree.root, "link")).isSymbolicLink());
    assert.deepEqual(await readFileMetadata(tree.files, join(tree.root, "target")), { via: "link" });
    assert.deepEqual(await readFileMetadata(tree.files, join(tree.root, "link")), { via: "link" });
    assert.equal(statSync(join(tree.root, "target")).nlink, 2);
  });

  it("a concurrent burst of uploads with metadata to many files ends consistent", async () => {
    await using tree = storeTree();
    const count = 120;
    const paths = Array.from({ length: count }, (_, i) => join(tree.root, `f${i}`));
    for (const path of paths) writeFileSync(path, "x");
    // Each file gets two uploads at once, every fourth a third that clears it.
    await Promise.all(
      paths.flatMap((path, i) => [
        replaceFileMetadata(tree.files, path, { i: String(i), round: "1" }),
        replaceFileMetadata(tree.files, path, { i: String(i), round: "2" }),
        ...(i % 4 === 0 ? [replaceFileMetadata(tree.files, path, {})] : []),
      ]),
    );
    const entries = entriesOf(tree);
    const byIno = new Map([...entries.values()].map((e) => [e.ino, e]));
    assert.equal(byIno.size, entries.size, "one entry per file");
    assert.equal(tree.storeNames().length, entries.size * 2, "nothing but links and their json");
    const restarted = tree.reopen();
    for (const [i, path] of paths.entries()) {
      const seen = await readFileMetadata(tree.files, path);
      assert.deepEqual(await readFileMetadata(restarted, path), seen, "the disk says what the index says");
      const onDisk = byIno.get(statSync(path).ino);
      assert.deepEqual(onDisk?.metadata ?? {}, seen);
      if (i % 4 !== 0) assert.ok(seen.round === "1" || seen.round === "2", `f${i}: ${JSON.stringify(seen)}`);
      if (Object.keys(seen).length > 0) assert.equal(seen.i, String(i));
    }
  });

  it("files on a filesystem with xattrs keep using them and never touch the store", async () => {
    const root = mkdtempSync(join(tmpdir(), "sandpit-linked-store-"));
    const files = createFileMetadata({ storeDir: join(root, "store") });
    try {
      const file = join(root, "f");
      writeFileSync(file, "x");
      await replaceFileMetadata(files, file, { k: "v" });
      assert.equal((await getAttribute(file, "user.e2b.k")).toString(), "v");
      assert.deepEqual(await readFileMetadata(files, file), { k: "v" });
      await files.store.sweep();
      assert.equal(existsSync(join(root, "store")), false);
    } finally {
      files.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("regression: a file copied up from an overlay's lower layer is replaced by a copy of itself (its inode number differs by the link's path)", {
    skip: isRoot ? false : "needs root (mounts an overlay)",
  }, async (t) => {
    const root = mkdtempSync(join(tmpdir(), "sandpit-linked-overlay-"));
    const [lower, layer, merged] = ["lower", "layer", "merged"].map((d) => join(root, d)) as [
      string,
      string,
      string,
    ];
    for (const d of [lower, layer, merged]) mkdirSync(d);
    // Upper on another filesystem than the lower, as the sandbox's writable layer is.
    execFileSync("mount", ["-t", "tmpfs", "tmpfs", layer]);
    let files: FileMetadata | undefined;
    try {
      mkdirSync(join(layer, "upper"));
      mkdirSync(join(layer, "work"));
      writeFileSync(join(lower, "from-template"), "template content");
      chownSync(join(lower, "from-template"), 1000, 1000);
      chmodSync(join(lower, "from-template"), 0o640);
      try {
        execFileSync(
          "mount",
          [
            "-t",
            "overlay",
            "overlay",
            "-o",
            `lowerdir=${lower},upperdir=${layer}/upper,workdir=${layer}/work`,
            merged,
          ],
          { stdio: "ignore" },
        );
      } catch {
        t.skip("overlayfs is not available");
        return;
      }
      const file = join(merged, "from-template");
      writeFileSync(file, "uploaded");
      // Overlayfs reports one st_dev for its directories, another for files made in it and a
      // third for files from the lower layer: all of them stand for the sandbox's one.
      const made = join(merged, "made");
      writeFileSync(made, "");
      files = createFileMetadata({
        storeDir: join(merged, "store"),
        devicesWithoutXattrs: [merged, made, file].map((p) => statSync(p, { bigint: true }).dev),
      });
      unlinkSync(made);
      await replaceFileMetadata(files, file, { k: "v" });
      assert.deepEqual(await readFileMetadata(files, file), { k: "v" });
      const after = statSync(file);
      assert.equal(readFileSync(file, "utf8"), "uploaded");
      assert.deepEqual([after.uid, after.gid, after.mode & 0o7777], [1000, 1000, 0o640]);
      const [entry] = [...readdirSync(join(merged, "store"))].filter((n) => !n.endsWith(".json"));
      assert.equal(lstatSync(join(merged, "store", entry ?? "")).ino, after.ino);
      assert.deepEqual(
        readdirSync(merged).sort(),
        ["from-template", "store"],
        "the copy's temporary name is gone",
      );
    } finally {
      files?.close();
      try {
        execFileSync("umount", ["-l", merged], { stdio: "ignore" });
      } catch {
        // Never mounted.
      }
      execFileSync("umount", ["-l", layer]);
      rmSync(root, { recursive: true, force: true });
    }
  });
});
