import assert from "node:assert/strict";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { type CaBundlePaths, installCaBundle, withInitBlock } from "./install-ca-bundle.js";

const systemCert = "-----BEGIN CERTIFICATE-----\nU1lTVEVN\n-----END CERTIFICATE-----\n";
const pemA = "-----BEGIN CERTIFICATE-----\nQUFBQQ==\n-----END CERTIFICATE-----\n";
const pemB =
  "-----BEGIN CERTIFICATE-----\nQkJCQg==\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nQjI=\n-----END CERTIFICATE-----";

/** A throwaway root holding the two files the installer writes. */
function tempPaths(): CaBundlePaths & { dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "ca-bundle-"));
  return {
    dir,
    systemBundle: join(dir, "etc/ssl/certs/ca-certificates.crt"),
    localCertificate: join(dir, "usr/local/share/ca-certificates/sandpit-init.crt"),
  };
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

describe("installCaBundle", () => {
  test("appends once between markers, replaces on a new bundle, keeps the system's certificates", async () => {
    const paths = tempPaths();
    try {
      mkdirSync(join(paths.dir, "etc/ssl/certs"), { recursive: true });
      writeFileSync(paths.systemBundle, systemCert, { mode: 0o644 });

      await installCaBundle(pemA, paths);
      const once = readFileSync(paths.systemBundle, "utf8");
      assert.ok(once.startsWith(systemCert));
      assert.equal(count(once, "QUFBQQ=="), 1);
      assert.equal(readFileSync(paths.localCertificate, "utf8"), pemA);
      assert.equal(statSync(paths.systemBundle).mode & 0o777, 0o644, "the bundle keeps its mode");

      await installCaBundle(pemA, paths);
      assert.equal(readFileSync(paths.systemBundle, "utf8"), once, "a repeated /init changes nothing");

      await installCaBundle(pemB, paths);
      const replaced = readFileSync(paths.systemBundle, "utf8");
      assert.ok(replaced.startsWith(systemCert));
      assert.equal(count(replaced, "QUFBQQ=="), 0, "the old bundle is gone");
      assert.equal(count(replaced, "QkJCQg=="), 1);
      assert.equal(count(replaced, "-----BEGIN CERTIFICATE-----"), 3);
      assert.equal(readFileSync(paths.localCertificate, "utf8"), `${pemB}\n`);
    } finally {
      rmSync(paths.dir, { recursive: true, force: true });
    }
  });

  test("without a system bundle only the local certificate is written", async () => {
    const paths = tempPaths();
    try {
      await installCaBundle(pemA, paths);
      assert.equal(readFileSync(paths.localCertificate, "utf8"), pemA);
      assert.throws(() => statSync(paths.systemBundle), { code: "ENOENT" }, "no bundle is invented");
    } finally {
      rmSync(paths.dir, { recursive: true, force: true });
    }
  });

  test("a symlinked bundle stays a symlink; its target gets the block", async () => {
    const paths = tempPaths();
    try {
      const real = join(paths.dir, "real.crt");
      writeFileSync(real, systemCert.trimEnd());
      mkdirSync(join(paths.dir, "etc/ssl/certs"), { recursive: true });
      symlinkSync(real, paths.systemBundle);
      await installCaBundle(pemA, paths);
      assert.ok(lstatSync(paths.systemBundle).isSymbolicLink());
      const text = readFileSync(real, "utf8");
      assert.ok(
        text.startsWith(`${systemCert.trimEnd()}\n# BEGIN`),
        "a missing final newline is added first",
      );
    } finally {
      rmSync(paths.dir, { recursive: true, force: true });
    }
  });
});

test("withInitBlock keeps what follows its block", () => {
  const first = withInitBlock(systemCert, pemA);
  const later = `${first}${systemCert}`;
  const next = withInitBlock(later, pemB);
  assert.equal(count(next, "U1lTVEVN"), 2);
  assert.equal(count(next, "# BEGIN sandpit"), 1);
  assert.ok(next.endsWith(`${pemB}\n# END sandpit /init caBundle\n`));
});
