import { SandpitError } from "@sandpit/protocol";
import type { HttpRequest } from "./http-types.js";

/** Reads a small request body whole; more than `limit` bytes → resource_exhausted. */
export async function readSmallBody(req: HttpRequest, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buffer.length;
    if (size > limit)
      throw new SandpitError("resource_exhausted", `request body is larger than ${limit} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}
