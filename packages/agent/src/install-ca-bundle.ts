import { chmod, mkdir, readFile, realpath, rename, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** Where `/init`'s CA bundle is installed. */
export interface CaBundlePaths {
  /** The bundle most TLS clients read (OpenSSL, curl, Python, Go); changed only if it exists. */
  readonly systemBundle: string;
  /** Read by update-ca-certificates, so a later run of it keeps the certificates. */
  readonly localCertificate: string;
}

/** Debian's locations, which the base template uses. */
export const defaultCaBundlePaths: CaBundlePaths = Object.freeze({
  systemBundle: "/etc/ssl/certs/ca-certificates.crt",
  localCertificate: "/usr/local/share/ca-certificates/sandpit-init.crt",
});

/** The line every PEM certificate starts with. */
export const pemCertificateHeader = "-----BEGIN CERTIFICATE-----";

// PEM readers skip text outside BEGIN/END blocks, so the markers cost nothing and let every
// /init (one per create and per resume) replace its block instead of adding another.
const beginMarker = "# BEGIN sandpit /init caBundle";
const endMarker = "# END sandpit /init caBundle";

/** The system bundle with the `/init` block replaced by (or, the first time, appended as) `pem`. */
export function withInitBlock(bundle: string, pem: string): string {
  let rest = bundle;
  const start = rest.indexOf(beginMarker);
  if (start >= 0) {
    const end = rest.indexOf(endMarker, start);
    const after = end < 0 ? "" : rest.slice(end + endMarker.length).replace(/^\r?\n/, "");
    rest = rest.slice(0, start) + after;
  }
  if (rest.length > 0 && !rest.endsWith("\n")) rest += "\n";
  return `${rest}${beginMarker}\n${pem.trim()}\n${endMarker}\n`;
}

// A reader never sees a half-written bundle: write a sibling, then rename over the real file
// (through a symlink to its target, so the link stays a link).
async function replaceFile(path: string, text: string): Promise<void> {
  const target = await realpath(path);
  const { mode } = await stat(target);
  const temporary = `${target}.sandpit-${process.pid}`;
  await writeFile(temporary, text);
  await chmod(temporary, mode & 0o7777);
  await rename(temporary, target);
}

/**
 * Makes the sandbox trust the certificates of `pem` (spec §5.7): replaces the `/init` block of
 * the system bundle when that file exists, and writes them to update-ca-certificates's
 * directory. Idempotent: repeating it with the same bundle leaves the same files.
 */
export async function installCaBundle(
  pem: string,
  paths: CaBundlePaths = defaultCaBundlePaths,
): Promise<void> {
  const current = await readFile(paths.systemBundle, "utf8").catch((error: unknown) => {
    if ((error as { code?: string }).code === "ENOENT") return undefined;
    throw error;
  });
  if (current !== undefined) {
    const next = withInitBlock(current, pem);
    if (next !== current) await replaceFile(paths.systemBundle, next);
  }
  await mkdir(dirname(paths.localCertificate), { recursive: true, mode: 0o755 });
  await writeFile(paths.localCertificate, `${pem.trim()}\n`, { mode: 0o644 });
}
