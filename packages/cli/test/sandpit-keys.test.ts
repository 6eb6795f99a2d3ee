import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { createSqliteStore } from "@sandpit/server";

const run = promisify(execFile);
const bin = new URL("../bin/sandpit.mjs", import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), "sandpit-keys-"));

after(() => rmSync(dataDir, { recursive: true, force: true }));

async function sandpit(...args: string[]) {
  return run(process.execPath, [bin, ...args, "--data-dir", dataDir]);
}

test("keys create, list and revoke manage a team's keys in the store", async () => {
  const created = (await sandpit("keys", "create", "--team", "blue", "--name", "ci")).stdout.trim();
  assert.match(created, /^e2b_[0-9a-f]{40}$/);
  const listed = (await sandpit("keys", "ls", "--team", "blue")).stdout;
  assert.match(listed, /^ID\s+PREFIX\s+TEAM\s+STATE\s+CREATED\s+NAME\n/);
  assert.match(listed, new RegExp(`${created.slice(0, 12)}.*active.*ci`));
  assert.doesNotMatch(listed, new RegExp(created), "a listing never shows the whole key");

  const store = createSqliteStore({ path: join(dataDir, "sandpit.db") });
  try {
    assert.equal((await store.findTeamByApiKey(created))?.name, "blue");
    const id = listed.trim().split("\n")[1]?.split(/\s+/)[0] ?? "";
    assert.match((await sandpit("keys", "revoke", id)).stdout, /revoked/);
    assert.equal(await store.findTeamByApiKey(created), undefined);
  } finally {
    await store.close();
  }
});

test("bad usage exits with a message, not a stack", async () => {
  await assert.rejects(sandpit("keys", "frobnicate"), (e: { code: number; stderr: string }) => {
    return e.code === 2 && /unknown command .frobnicate./.test(e.stderr) && !/\n\s+at /.test(e.stderr);
  });
  await assert.rejects(sandpit("keys", "list", "--team", "nosuch"), (e: { code: number; stderr: string }) => {
    return e.code === 1 && /team 'nosuch' not found/.test(e.stderr);
  });
});
