import { Transform, type TransformCallback } from "node:stream";
import { createGzip, type Gzip, constants as zlibConstants } from "node:zlib";

// undici's fetch (the JS SDK's transport) slows down more than linearly on a gzip body that
// arrives in many small HTTP/1.1 chunks: 32 MiB in 16 KiB chunks took ~12 s to read, 64 MiB in
// 64 KiB chunks ~2.3 s, in 1 MiB chunks ~0.6 s (measured here with undici 7.30).
const chunkBytes = 1024 * 1024;

/** Collects small chunks into ones of at least `size` bytes (the last may be smaller). */
class ChunkCoalescer extends Transform {
  readonly #size: number;
  #parts: Buffer[] = [];
  #bytes = 0;

  constructor(size: number) {
    super({ highWaterMark: size });
    this.#size = size;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#parts.push(chunk);
    this.#bytes += chunk.byteLength;
    if (this.#bytes >= this.#size) this.#release();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.#bytes > 0) this.#release();
    callback();
  }

  #release(): void {
    this.push(this.#parts.length === 1 ? this.#parts[0] : Buffer.concat(this.#parts, this.#bytes));
    this.#parts = [];
    this.#bytes = 0;
  }
}

/** The gzip encoder of a download body, emitting chunks of about 1 MiB. */
export function createGzipStream(): [Gzip, Transform] {
  return [createGzip({ level: zlibConstants.Z_BEST_SPEED }), new ChunkCoalescer(chunkBytes)];
}
