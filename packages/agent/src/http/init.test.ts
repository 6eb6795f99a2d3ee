import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { globalEnv, initialAgentState } from "../agent-state.js";
import type { CaBundlePaths } from "../install-ca-bundle.js";
import { handleInit, type InitEffects } from "./init.js";

const pem = "-----BEGIN CERTIFICATE-----\nQUFBQQ==\n-----END CERTIFICATE-----\n";

/** `/init` alone on a local port, installing into a throwaway tree and logging into an array. */
async function startInit(paths: CaBundlePaths) {
  const state = initialAgentState();
  const logged: Record<string, unknown>[] = [];
  const effects: InitEffects = { caBundlePaths: paths, log: (event) => logged.push(event) };
  const server = createHttpServer((req, res) => void handleInit(state, req, res, effects));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/init`;
  const post = async (body: unknown) => {
    const res = await fetch(url, { method: "POST", body: JSON.stringify(body) });
    return { status: res.status, text: await res.text() };
  };
  return {
    state,
    logged,
    post,
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function tempPaths(): CaBundlePaths & { dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "init-ca-"));
  mkdirSync(join(dir, "certs"));
  writeFileSync(join(dir, "certs", "ca-certificates.crt"), "");
  return {
    dir,
    systemBundle: join(dir, "certs", "ca-certificates.crt"),
    localCertificate: join(dir, "local", "sandpit-init.crt"),
  };
}

test("/init installs caBundle once however often it is sent", async () => {
  const paths = tempPaths();
  try {
    await using init = await startInit(paths);
    for (let i = 0; i < 3; i++) assert.equal((await init.post({ caBundle: pem })).status, 204);
    const bundle = readFileSync(paths.systemBundle, "utf8");
    assert.equal(bundle.split("QUFBQQ==").length - 1, 1);
    assert.equal(readFileSync(paths.localCertificate, "utf8"), pem);
  } finally {
    rmSync(paths.dir, { recursive: true, force: true });
  }
});

test("/init refuses a caBundle that is not PEM with 400 and installs nothing", async () => {
  const paths = tempPaths();
  try {
    await using init = await startInit(paths);
    for (const caBundle of ["not a certificate", 42]) {
      const res = await init.post({ caBundle, envVars: { A: "1" } });
      assert.equal(res.status, 400);
      const message = (JSON.parse(res.text) as { message: string }).message;
      assert.match(message, caBundle === 42 ? /caBundle must be a string/ : /caBundle must be PEM text/);
    }
    assert.deepEqual(init.state.envVars, {});
    assert.equal(existsSync(paths.localCertificate), false);
    assert.equal((await init.post({ caBundle: "" })).status, 204, "an empty caBundle means none");
  } finally {
    rmSync(paths.dir, { recursive: true, force: true });
  }
});

test("/init answers 500 when the bundle cannot be installed, and changes no state", async () => {
  const paths = tempPaths();
  try {
    // A file where the certificate's directory should be.
    writeFileSync(join(paths.dir, "local"), "");
    await using init = await startInit(paths);
    const res = await init.post({ caBundle: pem, envVars: { A: "1" }, timestamp: new Date().toISOString() });
    assert.equal(res.status, 500);
    assert.match(res.text, /error installing caBundle/);
    assert.deepEqual(init.state.envVars, {});
    assert.equal(init.state.lastInitAt, undefined, "a retry with the same timestamp is not stale");
  } finally {
    rmSync(paths.dir, { recursive: true, force: true });
  }
});

test("/init accepts volumeMounts, ignores them and says so in one log line", async () => {
  const paths = tempPaths();
  try {
    await using init = await startInit(paths);
    const mounts = [{ nfs_target: "10.0.0.1:/export", path: "/mnt/data" }];
    assert.equal((await init.post({ volumeMounts: mounts, envVars: { A: "1" } })).status, 204);
    assert.deepEqual(init.state.envVars, { A: "1" });
    assert.deepEqual(init.logged, [
      { msg: "init: volumeMounts ignored, NFS mounts are not supported", sandboxId: undefined },
    ]);
    assert.equal((await init.post({ volumeMounts: [] })).status, 204);
    assert.equal(init.logged.length, 1, "an empty list asks for nothing");
  } finally {
    rmSync(paths.dir, { recursive: true, force: true });
  }
});

test("/init gives the sandbox its identity: E2B_SANDBOX_ID and E2B_TEMPLATE_ID of every process", async () => {
  const paths = tempPaths();
  try {
    await using init = await startInit(paths);
    assert.deepEqual(globalEnv(init.state), { E2B_SANDBOX: "true" }, "a pooled agent has none yet");
    const identity = { sandboxId: "isbx123", templateId: "base" };
    assert.equal((await init.post({ ...identity, envVars: { A: "1" } })).status, 204);
    const ids = { E2B_SANDBOX_ID: "isbx123", E2B_TEMPLATE_ID: "base" };
    assert.deepEqual(globalEnv(init.state), { A: "1", E2B_SANDBOX: "true", ...ids });
    // A resume re-sends it; one without it keeps what the sandbox is.
    assert.equal((await init.post({ envVars: { E2B_SANDBOX_ID: "spoofed" } })).status, 204);
    assert.deepEqual(globalEnv(init.state), { E2B_SANDBOX: "true", ...ids });
    assert.equal((await init.post({ sandboxId: 7 })).status, 400);
  } finally {
    rmSync(paths.dir, { recursive: true, force: true });
  }
});
