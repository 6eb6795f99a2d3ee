import { SandpitError } from "@sandpit/protocol";
import { metadataXattrPrefix } from "../file-metadata.js";

const headerPrefix = "x-metadata-";
const maxKeyBytes = 246;
const maxTotalBytes = 4096;
const printable = /^[\x20-\x7e]*$/;

/**
 * The file metadata an upload carries in `X-Metadata-<key>` headers (spec §5.4): key lowercased,
 * first occurrence wins, printable ASCII only, key ≤246 bytes, all `user.e2b.<key><value>`
 * together ≤4096 bytes. Reads rawHeaders because node joins repeated headers with ", ".
 */
export function parseMetadataHeaders(rawHeaders: readonly string[]): Record<string, string> {
  const metadata: Record<string, string> = {};
  let total = 0;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? "").toLowerCase();
    if (!name.startsWith(headerPrefix)) continue;
    const key = name.slice(headerPrefix.length);
    const value = rawHeaders[i + 1] ?? "";
    if (Object.hasOwn(metadata, key)) continue;
    if (key === "" || !printable.test(key)) {
      throw new SandpitError(
        "invalid_argument",
        `invalid metadata key '${key}': must be non-empty printable ASCII`,
      );
    }
    if (key.length > maxKeyBytes) {
      throw new SandpitError("invalid_argument", `metadata key '${key}' is longer than ${maxKeyBytes} bytes`);
    }
    if (!printable.test(value)) {
      throw new SandpitError(
        "invalid_argument",
        `invalid metadata value for key '${key}': must be printable ASCII`,
      );
    }
    total += metadataXattrPrefix.length + key.length + value.length;
    if (total > maxTotalBytes) {
      throw new SandpitError("invalid_argument", `metadata is larger than ${maxTotalBytes} bytes in total`);
    }
    metadata[key] = value;
  }
  return metadata;
}
