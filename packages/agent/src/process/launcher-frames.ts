/**
 * Encodes one message to the launcher: a 4-byte little-endian length, then each field
 * NUL-terminated (native/launcher.c describes the messages).
 */
export function encodeFrame(fields: readonly string[]): Buffer {
  const parts = fields.map((f) => Buffer.from(`${f}\0`, "utf8"));
  const length = parts.reduce((n, p) => n + p.length, 0);
  const header = Buffer.alloc(4);
  header.writeUInt32LE(length);
  return Buffer.concat([header, ...parts], 4 + length);
}

/** Turns a byte stream of frames into calls of `onFrame` with each frame's fields. */
export function createFrameDecoder(onFrame: (fields: string[]) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    while (pending.length - at >= 4) {
      const length = pending.readUInt32LE(at);
      if (pending.length - at - 4 < length) break;
      const body = pending.subarray(at + 4, at + 4 + length);
      at += 4 + length;
      // Every field ends with NUL, so the split leaves one empty string after the last.
      onFrame(body.toString("utf8").split("\0").slice(0, -1));
    }
    pending = at === pending.length ? Buffer.alloc(0) : pending.subarray(at);
  };
}
