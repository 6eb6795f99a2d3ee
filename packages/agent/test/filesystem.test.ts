import assert from "node:assert/strict";
import {
  appendFileSync,
  chmodSync,
  existsSync,
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
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError } from "@connectrpc/connect";
import { filesystemPb } from "@sandpit/protocol";
import { setAttribute } from "fs-xattr";
import { asUser, type FilesAgent, startFilesAgent, testUid } from "./files-harness.js";
import { rawRequest } from "./http-request.js";

const { EventType, FileType } = filesystemPb;
const isRoot = process.getuid?.() === 0;

/** Asserts that an RPC fails with a Connect code and (optionally) a message. */
async function rejectsWith(call: Promise<unknown>, code: Code, message?: string | RegExp): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof ConnectError, String(error));
    assert.equal(error.code, code, `${Code[error.code]}: ${error.rawMessage}`);
    if (typeof message === "string") assert.equal(error.rawMessage, message);
    else if (message) assert.match(error.rawMessage, message);
    return true;
  });
}

/** Collects watch events until `done` says so; `act` runs once the stream has started. */
async function watchUntil(
  agent: FilesAgent,
  request: { path: string; recursive?: boolean; includeEntry?: boolean },
  act: () => Promise<void> | void,
  done: (events: filesystemPb.FilesystemEvent[]) => boolean,
): Promise<filesystemPb.FilesystemEvent[]> {
  const abort = new AbortController();
  const events: filesystemPb.FilesystemEvent[] = [];
  const timer = setTimeout(() => abort.abort(), 5000);
  try {
    const stream = agent.fs.watchDir(request, { signal: abort.signal });
    let started = false;
    for await (const res of stream) {
      if (res.event.case === "start") {
        started = true;
        await act();
      } else if (res.event.case === "filesystem") {
        events.push(res.event.value);
        if (done(events)) break;
      }
    }
    assert.ok(started);
  } catch (error) {
    if (!abort.signal.aborted) throw error;
    assert.fail(`watch timed out; got ${JSON.stringify(events.map((e) => [EventType[e.type], e.name]))}`);
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  return events;
}

const has = (type: filesystemPb.EventType, name: string) => (events: filesystemPb.FilesystemEvent[]) =>
  events.some((e) => e.type === type && e.name === name);

describe("Stat", () => {
  it("describes files, directories and symlinks like envd", async () => {
    await using agent = await startFilesAgent();
    const file = join(agent.home, "test_file.txt");
    writeFileSync(file, "four");
    chmodSync(file, 0o640);
    await setAttribute(file, "user.e2b.author", "mish");
    symlinkSync("test_file.txt", join(agent.home, "link"));
    symlinkSync("missing", join(agent.home, "dangling"));

    const { entry } = await agent.fs.stat({ path: "test_file.txt" });
    assert.equal(entry?.name, "test_file.txt");
    assert.equal(entry?.path, file);
    assert.equal(entry?.type, FileType.FILE);
    assert.equal(entry?.size, 4n);
    assert.equal(entry?.mode, 0o640);
    assert.equal(entry?.permissions, "-rw-r-----");
    assert.equal(entry?.owner, "root");
    assert.deepEqual(entry?.metadata, { author: "mish" });
    const mtimeNs = statSync(file, { bigint: true }).mtimeNs;
    assert.equal(entry?.modifiedTime?.seconds, mtimeNs / 1_000_000_000n);
    assert.equal(entry?.modifiedTime?.nanos, Number(mtimeNs % 1_000_000_000n));

    const link = (await agent.fs.stat({ path: "link" })).entry;
    assert.equal(link?.type, FileType.FILE);
    assert.equal(link?.symlinkTarget, file);
    assert.equal(link?.permissions, "Lrwxrwxrwx");
    assert.equal(link?.mode, 0o640);

    const dangling = (await agent.fs.stat({ path: "dangling" })).entry;
    assert.equal(dangling?.type, FileType.UNSPECIFIED);
    assert.equal(dangling?.symlinkTarget, join(agent.home, "dangling"));

    const home = (await agent.fs.stat({ path: "~" })).entry;
    assert.equal(home?.type, FileType.DIRECTORY);
    assert.ok((home?.size ?? 0n) > 0n);
    if (isRoot) assert.equal(home?.owner, "user");
    assert.equal((await agent.fs.stat({ path: "/dev/null" })).entry?.permissions, "Dcrw-rw-rw-");
  });

  it("answers not_found, invalid_argument and unauthenticated", async () => {
    await using agent = await startFilesAgent();
    await rejectsWith(agent.fs.stat({ path: "nope" }), Code.NotFound, /file not found/);
    await rejectsWith(
      agent.fs.stat({ path: "~root/x" }),
      Code.InvalidArgument,
      /cannot expand user-specific home dir/,
    );
    // Regression: a name over NAME_MAX or a path over PATH_MAX answered internal (500).
    await rejectsWith(agent.fs.stat({ path: "n".repeat(300) }), Code.InvalidArgument, /ENAMETOOLONG/);
    await rejectsWith(
      agent.fs.makeDir({ path: `${"d/".repeat(2100)}x` }),
      Code.InvalidArgument,
      /ENAMETOOLONG/,
    );
    await rejectsWith(
      agent.fs.stat({ path: "x" }, { headers: asUser("ghost") }),
      Code.Unauthenticated,
      "invalid username: 'ghost'",
    );
  });

  it("selects the user with Basic auth, else the default user", async () => {
    await using agent = await startFilesAgent();
    mkdirSync(join(agent.root, "root", "only-root"));
    assert.equal(
      (await agent.fs.stat({ path: "only-root" }, { headers: asUser("root") })).entry?.path,
      join(agent.root, "root", "only-root"),
    );
    await rejectsWith(agent.fs.stat({ path: "only-root" }), Code.NotFound);
  });
});

describe("MakeDir, Move, Remove", () => {
  it("creates nested directories owned by the user, and reports existing ones", async () => {
    await using agent = await startFilesAgent();
    const { entry } = await agent.fs.makeDir({ path: "a/b/c" });
    assert.equal(entry?.path, join(agent.home, "a/b/c"));
    assert.equal(entry?.type, FileType.DIRECTORY);
    assert.equal(statSync(join(agent.home, "a")).mode & 0o777, 0o755);
    if (isRoot) assert.equal(statSync(join(agent.home, "a/b")).uid, testUid);
    await rejectsWith(
      agent.fs.makeDir({ path: "a/b" }),
      Code.AlreadyExists,
      `directory already exists: ${join(agent.home, "a/b")}`,
    );
    writeFileSync(join(agent.home, "f"), "");
    await rejectsWith(agent.fs.makeDir({ path: "f" }), Code.InvalidArgument, /not a directory/);
    await rejectsWith(agent.fs.makeDir({ path: "f/sub" }), Code.InvalidArgument, /is not a directory/);
  });

  it("moves into new parents, keeps metadata and reports a missing source", async () => {
    await using agent = await startFilesAgent();
    writeFileSync(join(agent.home, "src.txt"), "s");
    await setAttribute(join(agent.home, "src.txt"), "user.e2b.k", "v");
    const { entry } = await agent.fs.move({ source: "src.txt", destination: "x/y/dst.txt" });
    assert.equal(entry?.path, join(agent.home, "x/y/dst.txt"));
    assert.deepEqual(entry?.metadata, { k: "v" });
    assert.equal(readFileSync(join(agent.home, "x/y/dst.txt"), "utf8"), "s");
    await rejectsWith(
      agent.fs.move({ source: "gone", destination: "new/place" }),
      Code.NotFound,
      /source file not found/,
    );
    assert.throws(() => statSync(join(agent.home, "new")), "parents made for a failed move are removed");
  });

  it("removes recursively, without following symlinks, and accepts a missing path", async () => {
    await using agent = await startFilesAgent();
    mkdirSync(join(agent.home, "tree/deep"), { recursive: true });
    writeFileSync(join(agent.root, "outside.txt"), "keep");
    symlinkSync(join(agent.root, "outside.txt"), join(agent.home, "tree/link"));
    await agent.fs.remove({ path: "tree" });
    assert.throws(() => statSync(join(agent.home, "tree")));
    assert.equal(readFileSync(join(agent.root, "outside.txt"), "utf8"), "keep");
    await agent.fs.remove({ path: "never-was" });
  });
});

describe("ListDir", () => {
  it("walks depth-first in name order down to the depth", async () => {
    await using agent = await startFilesAgent();
    const base = join(agent.home, "list");
    for (const dir of ["subdir2", "subdir1/subdir1_2", "subdir1/subdir1_1/deeper"])
      mkdirSync(join(base, dir), { recursive: true });
    writeFileSync(join(base, "file1.txt"), "");
    writeFileSync(join(base, "subdir1/subdir1_1/f.txt"), "");
    const names = async (depth: number) =>
      (await agent.fs.listDir({ path: "list", depth })).entries.map((e) => e.path.slice(base.length + 1));
    assert.deepEqual(await names(0), ["file1.txt", "subdir1", "subdir2"]);
    assert.deepEqual(await names(2), [
      "file1.txt",
      "subdir1",
      "subdir1/subdir1_1",
      "subdir1/subdir1_2",
      "subdir2",
    ]);
    assert.deepEqual(await names(10), [
      "file1.txt",
      "subdir1",
      "subdir1/subdir1_1",
      "subdir1/subdir1_1/deeper",
      "subdir1/subdir1_1/f.txt",
      "subdir1/subdir1_2",
      "subdir2",
    ]);
  });

  it("follows a symlinked root but not nested links, and lists under the requested path", async () => {
    await using agent = await startFilesAgent();
    mkdirSync(join(agent.home, "real/inner"), { recursive: true });
    writeFileSync(join(agent.home, "real/inner/x"), "");
    symlinkSync(join(agent.home, "real"), join(agent.home, "alias"));
    symlinkSync(join(agent.home, "real"), join(agent.home, "real/loop"));
    const entries = (await agent.fs.listDir({ path: "alias", depth: 5 })).entries;
    assert.deepEqual(
      entries.map((e) => [e.path, e.type]),
      [
        [join(agent.home, "alias/inner"), FileType.DIRECTORY],
        [join(agent.home, "alias/inner/x"), FileType.FILE],
        [join(agent.home, "alias/loop"), FileType.DIRECTORY],
      ],
    );
  });

  it("answers not_found, invalid_argument and failed_precondition", async () => {
    await using agent = await startFilesAgent();
    writeFileSync(join(agent.home, "f"), "");
    symlinkSync(join(agent.home, "l1"), join(agent.home, "l2"));
    symlinkSync(join(agent.home, "l2"), join(agent.home, "l1"));
    await rejectsWith(agent.fs.listDir({ path: "nope" }), Code.NotFound);
    await rejectsWith(agent.fs.listDir({ path: "f" }), Code.InvalidArgument, /path is not a directory/);
    await rejectsWith(agent.fs.listDir({ path: "l1" }), Code.FailedPrecondition, /cyclic symlink/);
  });
});

describe("WatchDir", () => {
  it("reports create, write, chmod, rename and remove with names relative to the directory", async () => {
    await using agent = await startFilesAgent();
    mkdirSync(join(agent.home, "w"));
    const dir = join(agent.home, "w");
    const events = await watchUntil(
      agent,
      { path: "w" },
      async () => {
        writeFileSync(join(dir, "a.txt"), "1");
        await sleep(30);
        writeFileSync(join(dir, "a.txt"), "22");
        await sleep(30);
        chmodSync(join(dir, "a.txt"), 0o600);
        await sleep(30);
        renameSync(join(dir, "a.txt"), join(dir, "b.txt"));
        await sleep(30);
        unlinkSync(join(dir, "b.txt"));
      },
      has(EventType.REMOVE, "b.txt"),
    );
    const seen = events.map((e) => `${EventType[e.type]} ${e.name}`);
    for (const expected of [
      "CREATE a.txt",
      "WRITE a.txt",
      "CHMOD a.txt",
      "RENAME a.txt",
      "CREATE b.txt",
      "REMOVE b.txt",
    ]) {
      assert.ok(seen.includes(expected), `${expected} in ${seen.join(", ")}`);
    }
    assert.ok(seen.indexOf("RENAME a.txt") < seen.indexOf("CREATE b.txt"));
  });

  it("watches new subdirectories when recursive and attaches entries when asked", async () => {
    await using agent = await startFilesAgent();
    mkdirSync(join(agent.home, "r"));
    const events = await watchUntil(
      agent,
      { path: "r", recursive: true, includeEntry: true },
      async () => {
        await agent.fs.makeDir({ path: "r/nested/deeper" });
        writeFileSync(join(agent.home, "r/nested/deeper/file.txt"), "x");
      },
      has(EventType.WRITE, "nested/deeper/file.txt"),
    );
    assert.ok(has(EventType.CREATE, "nested")(events));
    assert.ok(has(EventType.CREATE, "nested/deeper")(events));
    const write = events.find((e) => e.type === EventType.WRITE && e.name === "nested/deeper/file.txt");
    assert.equal(write?.entry?.path, join(agent.home, "r/nested/deeper/file.txt"));
    assert.equal(write?.entry?.type, FileType.FILE);
  });

  it("does not look into subdirectories unless recursive", async () => {
    await using agent = await startFilesAgent();
    mkdirSync(join(agent.home, "flat/sub"), { recursive: true });
    const events = await watchUntil(
      agent,
      { path: "flat" },
      async () => {
        writeFileSync(join(agent.home, "flat/sub/hidden.txt"), "x");
        await sleep(50);
        writeFileSync(join(agent.home, "flat/seen.txt"), "x");
      },
      has(EventType.CREATE, "seen.txt"),
    );
    assert.ok(!events.some((e) => e.name.includes("hidden")));
  });

  it("sees an upload that overwrites a file as WRITE", async () => {
    await using agent = await startFilesAgent();
    mkdirSync(join(agent.home, "up"));
    writeFileSync(join(agent.home, "up/f.txt"), "This file will be watched.");
    await watchUntil(
      agent,
      { path: "up" },
      async () => {
        const res = await fetch(`${agent.baseUrl}/files?path=up/f.txt`, {
          method: "POST",
          headers: { "content-type": "application/octet-stream" },
          body: "This file has been modified.",
        });
        assert.equal(res.status, 200);
      },
      has(EventType.WRITE, "f.txt"),
    );
  });

  it("answers not_found and invalid_argument before starting", async () => {
    await using agent = await startFilesAgent();
    writeFileSync(join(agent.home, "file"), "");
    const first = async (path: string) => {
      for await (const _ of agent.fs.watchDir({ path })) break;
    };
    await rejectsWith(first("nope"), Code.NotFound);
    await rejectsWith(first("file"), Code.InvalidArgument, /not a directory/);
  });

  it("ends with deadline_exceeded at Connect-Timeout-Ms and sends keepalives meanwhile", async () => {
    await using agent = await startFilesAgent();
    const kinds: string[] = [];
    const started = Date.now();
    await rejectsWith(
      (async () => {
        for await (const res of agent.fs.watchDir(
          { path: "~" },
          { timeoutMs: 2500, headers: { "keepalive-ping-interval": "1" } },
        )) {
          kinds.push(res.event.case ?? "?");
        }
      })(),
      Code.DeadlineExceeded,
    );
    assert.ok(Date.now() - started >= 2000);
    assert.equal(kinds[0], "start");
    assert.ok(kinds.filter((k) => k === "keepalive").length >= 1, kinds.join(","));
  });

  it("releases its inotify watches when the client goes away", async () => {
    await using agent = await startFilesAgent();
    mkdirSync(join(agent.home, "many/a/b"), { recursive: true });
    const before = inotifyWatches();
    const abort = new AbortController();
    const stream = agent.fs.watchDir({ path: "many", recursive: true }, { signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).value?.event.case, "start");
    assert.equal(inotifyWatches(), before + 3);
    abort.abort();
    await iterator.next().catch(() => undefined);
    for (let i = 0; i < 50 && inotifyWatches() !== before; i++) await sleep(20);
    assert.equal(inotifyWatches(), before);
  });
});

describe("CreateWatcher, GetWatcherEvents, RemoveWatcher", () => {
  it("buffers events between polls and forgets removed watchers", async () => {
    await using agent = await startFilesAgent();
    mkdirSync(join(agent.home, "p"));
    const { watcherId } = await agent.fs.createWatcher({ path: "p", recursive: true });
    assert.match(watcherId, /^w[0-9a-f]+$/);
    writeFileSync(join(agent.home, "p/one.txt"), "1");
    const collected: string[] = [];
    for (let i = 0; i < 100 && !collected.includes("CREATE one.txt"); i++) {
      await sleep(20);
      const { events } = await agent.fs.getWatcherEvents({ watcherId });
      collected.push(...events.map((e) => `${EventType[e.type]} ${e.name}`));
    }
    assert.ok(collected.includes("CREATE one.txt"), collected.join(", "));
    assert.deepEqual(
      (await agent.fs.getWatcherEvents({ watcherId })).events.filter((e) => e.type === EventType.CREATE),
      [],
    );
    await agent.fs.removeWatcher({ watcherId });
    await rejectsWith(
      agent.fs.getWatcherEvents({ watcherId }),
      Code.NotFound,
      `watcher with id ${watcherId} not found`,
    );
    await rejectsWith(agent.fs.removeWatcher({ watcherId }), Code.NotFound);
    await rejectsWith(agent.fs.createWatcher({ path: "missing" }), Code.NotFound);
    assert.equal(agent.watchers.size, 0);
  });
});

describe("file metadata on a filesystem without xattrs (gVisor's root): the linked store", () => {
  /** Uploads `content` to `path` with `metadata` as X-Metadata-* headers. */
  async function upload(
    agent: FilesAgent,
    path: string,
    metadata: Record<string, string>,
    content = "x",
    username = "user",
  ) {
    const headers: Record<string, string> = { "content-type": "application/octet-stream" };
    for (const [k, v] of Object.entries(metadata)) headers[`x-metadata-${k}`] = v;
    return rawRequest(`${agent.baseUrl}/files?${new URLSearchParams({ path, username })}`, {
      method: "POST",
      headers,
      body: content,
    });
  }
  const storeNames = (agent: FilesAgent) => {
    const dir = join(agent.root, "file-metadata");
    return existsSync(dir) ? readdirSync(dir).sort() : [];
  };

  it("upload, Stat, ListDir, Move and an append keep it; a bare upload clears it; Remove drops its link at once", async () => {
    await using agent = await startFilesAgent({ withoutXattrs: true });
    const res = await upload(agent, "doc.txt", { author: "mish" });
    assert.equal(res.status, 200, res.body.toString());
    assert.deepEqual((await agent.fs.stat({ path: "doc.txt" })).entry?.metadata, { author: "mish" });
    const listed = (await agent.fs.listDir({ path: "", depth: 1 })).entries;
    assert.deepEqual(
      listed.map((e) => [e.name, e.metadata]),
      [["doc.txt", { author: "mish" }]],
    );
    const moved = await agent.fs.move({ source: "doc.txt", destination: "sub/moved.txt" });
    assert.deepEqual(moved.entry?.metadata, { author: "mish" });
    appendFileSync(join(agent.home, "sub/moved.txt"), "more");
    assert.deepEqual((await agent.fs.stat({ path: "sub/moved.txt" })).entry?.metadata, { author: "mish" });
    assert.equal(storeNames(agent).length, 2);

    assert.equal((await upload(agent, "sub/moved.txt", {})).status, 200);
    assert.deepEqual((await agent.fs.stat({ path: "sub/moved.txt" })).entry?.metadata, {});
    assert.deepEqual(storeNames(agent), []);

    assert.equal((await upload(agent, "sub/moved.txt", { again: "1" })).status, 200);
    assert.equal(storeNames(agent).length, 2);
    await agent.fs.remove({ path: "sub/moved.txt" });
    assert.deepEqual(storeNames(agent), [], "the removed file's space is not held by the store");
  });

  it("regression: a file deleted by a command and made again at its path shows no metadata", async () => {
    await using agent = await startFilesAgent({ withoutXattrs: true, metadataSweepIntervalMs: 50 });
    assert.equal((await upload(agent, "c", { k: "v" })).status, 200);
    unlinkSync(join(agent.home, "c"));
    writeFileSync(join(agent.home, "c"), "new");
    assert.deepEqual((await agent.fs.stat({ path: "c" })).entry?.metadata, {});
    for (let i = 0; i < 100 && storeNames(agent).length > 0; i++) await sleep(20);
    assert.deepEqual(storeNames(agent), [], "the periodic sweep dropped the deleted file's entry");
  });

  it("on another filesystem an upload with metadata answers 500 and is rolled back", async (t) => {
    if (!existsSync("/dev/shm")) {
      t.skip("needs /dev/shm");
      return;
    }
    const other = mkdtempSync("/dev/shm/sandpit-files-");
    try {
      await using agent = await startFilesAgent({ withoutXattrs: true, otherPathsWithoutXattrs: [other] });
      if (statSync(other).dev === statSync(agent.root).dev) {
        t.skip("needs /dev/shm on a filesystem of its own");
        return;
      }
      const res = await upload(agent, join(other, "new.txt"), { k: "v" }, "x", "root");
      assert.equal(res.status, 500);
      assert.match(
        res.body.toString(),
        /error setting file metadata: file metadata is not supported on this filesystem/,
      );
      assert.deepEqual(readdirSync(other), [], "the new file was rolled back");
      assert.equal((await upload(agent, join(other, "bare.txt"), {}, "x", "root")).status, 200);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

/** inotify watches this process holds, from /proc (libuv shares one inotify fd per loop). */
function inotifyWatches(): number {
  let count = 0;
  for (const fd of readdirSafe("/proc/self/fdinfo")) {
    try {
      count += (readFileSync(`/proc/self/fdinfo/${fd}`, "utf8").match(/^inotify wd:/gm) ?? []).length;
    } catch {
      // fd closed meanwhile
    }
  }
  return count;
}

function readdirSafe(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}
