import { promisify } from "node:util";
import { deflateRaw, constants as zlibConstants } from "node:zlib";

const deflateRawAsync = promisify(deflateRaw);

/** How much of a file is test-compressed before deciding to gzip it. */
export const compressionSampleBytes = 64 * 1024;

// Deflate must save at least a tenth: below that, gzip costs CPU on both ends for nothing.
const maxWorthwhileRatio = 0.9;

/**
 * Whether gzip pays off for data that starts with `sample`: archives, images, model weights
 * and random bytes do not compress, and gzipping them only slows the transfer down.
 */
export async function worthCompressing(sample: Uint8Array): Promise<boolean> {
  if (sample.byteLength === 0) return true;
  const packed = await deflateRawAsync(sample, { level: zlibConstants.Z_BEST_SPEED });
  return packed.byteLength <= sample.byteLength * maxWorthwhileRatio;
}
