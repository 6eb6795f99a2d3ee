import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SandpitError } from "@sandpit/protocol";
import { createCachedUserDirectory } from "./cached-user-directory.js";

test("notices users added after a miss and changed groups", async () => {
  const etc = mkdtempSync(join(tmpdir(), "cached-etc-"));
  try {
    writeFileSync(join(etc, "passwd"), "root:x:0:0:root:/root:/bin/bash\n");
    writeFileSync(join(etc, "group"), "root:x:0:\n");
    const users = createCachedUserDirectory(etc);
    assert.equal((await users.lookup("root")).uid, 0);
    await assert.rejects(
      users.lookup("ann"),
      (e: unknown) => e instanceof SandpitError && e.code === "unauthenticated",
    );
    appendFileSync(join(etc, "passwd"), "ann:x:1500:1500:Ann:/home/ann:/bin/sh\n");
    assert.equal((await users.lookup("ann")).home, "/home/ann");
    appendFileSync(join(etc, "group"), "docker:x:999:ann\n");
    assert.deepEqual((await users.lookup("ann")).groups, [1500, 999]);
  } finally {
    rmSync(etc, { recursive: true, force: true });
  }
});

test("owner names are cached, and read again once the files change", async () => {
  const etc = mkdtempSync(join(tmpdir(), "cached-etc-"));
  const passwd = (name: string) =>
    `root:x:0:0:root:/root:/bin/bash\n${name}:x:1500:1500::/home/${name}:/bin/sh\n`;
  try {
    writeFileSync(join(etc, "passwd"), passwd("ann"));
    writeFileSync(join(etc, "group"), "root:x:0:\nann:x:1500:\n");
    const users = createCachedUserDirectory(etc);
    assert.equal(await users.userName(1500), "ann");
    assert.equal(await users.groupName(1500), "ann");
    assert.equal(await users.userName(1500), "ann");
    // A changed file is read again: the same ids now have other names.
    writeFileSync(join(etc, "passwd"), passwd("bob"));
    writeFileSync(join(etc, "group"), "root:x:0:\nbobs:x:1500:\n");
    assert.equal(await users.userName(1500), "bob");
    assert.equal(await users.groupName(1500), "bobs");
    assert.equal(await users.userName(4242), "4242");
  } finally {
    rmSync(etc, { recursive: true, force: true });
  }
});
