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
