import { getAttribute, listAttributes, removeAttribute, setAttribute } from "fs-xattr";

/** Prefix of the extended attributes that hold a file's user metadata (spec §5.4). */
export const metadataXattrPrefix = "user.e2b.";

function isMissingOrUnsupported(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "ENODATA";
}

/**
 * The `user.e2b.*` xattrs of a path (following symlinks), prefix stripped. Filesystems without
 * xattr support and dangling links read as no metadata, so a listing never fails on them.
 */
export async function readFileMetadata(path: string): Promise<Record<string, string>> {
  let names: string[];
  try {
    names = await listAttributes(path);
  } catch (error) {
    if (isMissingOrUnsupported(error)) return {};
    throw error;
  }
  const metadata: Record<string, string> = {};
  for (const name of names) {
    if (!name.startsWith(metadataXattrPrefix)) continue;
    try {
      metadata[name.slice(metadataXattrPrefix.length)] = (await getAttribute(path, name)).toString("utf8");
    } catch (error) {
      // Removed between list and get: it simply is not there any more.
      if (!isMissingOrUnsupported(error)) throw error;
    }
  }
  return metadata;
}

/**
 * Makes `metadata` the file's whole metadata: every existing `user.e2b.*` xattr goes first, so
 * an upload without metadata headers clears what an earlier one set.
 */
export async function replaceFileMetadata(path: string, metadata: Record<string, string>): Promise<void> {
  let names: string[] = [];
  try {
    names = await listAttributes(path);
  } catch (error) {
    if (!isMissingOrUnsupported(error) || Object.keys(metadata).length > 0) throw error;
  }
  for (const name of names) {
    if (!name.startsWith(metadataXattrPrefix)) continue;
    try {
      await removeAttribute(path, name);
    } catch (error) {
      if (!isMissingOrUnsupported(error)) throw error;
    }
  }
  for (const [key, value] of Object.entries(metadata)) {
    await setAttribute(path, metadataXattrPrefix + key, value);
  }
}
