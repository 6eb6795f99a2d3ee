import type { Stats } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { basename } from "node:path";
import { pipeline } from "node:stream/promises";
import { isBadPath } from "../filesystem/fs-errors.js";
import { resolveUserPath } from "../paths.js";
import { acceptsIdentity, negotiateEncoding, type ResponseEncoding } from "./accept-encoding.js";
import { parseByteRange } from "./byte-range.js";
import { contentDisposition } from "./content-disposition.js";
import { contentTypeOf } from "./content-type.js";
import { createGzipStream } from "./gzip-stream.js";
import type { HttpRoutesContext } from "./http-routes.js";
import { type HttpRequest, type HttpResponse, headerOf } from "./http-types.js";
import { sendError } from "./send-json.js";
import { fileRequestRefusal, userOfRequest } from "./user-of-request.js";
import { compressionSampleBytes, worthCompressing } from "./worth-compressing.js";

// Larger reads than the default 64 KiB: every read and socket write is a syscall, and gVisor
// makes those costly (256 MiB under runsc: ~58 MiB/s with 64 KiB chunks, ~250 with 1 MiB;
// 4 MiB needs ~30 % less of the sandbox's CPU again: 0.6-0.9 s per 256 MiB against 0.8-1.15).
const readChunkBytes = 4 * 1024 * 1024;

/**
 * `GET /files` (spec §5.3). Checks run in envd's order: signature → user → path → existence →
 * directory → Accept-Encoding. The body is streamed from the open file with backpressure and
 * never sized by st_size alone: procfs files report 0 and still have content. Large files that
 * do not compress go out as identity even when gzip was negotiated (see encodingFor).
 */
export async function handleFileDownload(
  ctx: HttpRoutesContext,
  req: HttpRequest,
  res: HttpResponse,
  query: Map<string, string>,
): Promise<void> {
  const rawPath = query.get("path") ?? "";
  const username = query.get("username");
  const refusal = fileRequestRefusal(ctx.state.accessToken, req, query, "read");
  if (refusal) {
    sendError(res, refusal.status, refusal.message);
    return;
  }

  let path: string;
  try {
    const user = await userOfRequest(ctx.users, username, ctx.state.defaultUser);
    try {
      path = resolveUserPath(rawPath, user, ctx.state.defaultWorkdir);
    } catch (error) {
      sendError(res, 400, `error expanding and resolving path '${rawPath}': ${(error as Error).message}`);
      return;
    }
  } catch (error) {
    sendError(res, 401, (error as Error).message);
    return;
  }

  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT" || error.code === "ENOTDIR") return undefined;
    // Too long or looping: the path cannot name a file, which is the client's mistake.
    if (isBadPath(error)) return error;
    throw error;
  });
  if (info instanceof Error) {
    sendError(res, 400, `error expanding and resolving path '${rawPath}': ${info.message}`);
    return;
  }
  if (!info) {
    sendError(res, 404, `path '${path}' does not exist`);
    return;
  }
  if (info.isDirectory()) {
    sendError(res, 400, `path '${path}' is a directory`);
    return;
  }
  if (!info.isFile() && !info.isCharacterDevice()) {
    // Opening a FIFO would park a libuv pool thread until some writer shows up.
    sendError(res, 400, `path '${path}' is not a regular file`);
    return;
  }
  const acceptEncoding = headerOf(req, "accept-encoding");
  let encoding = negotiateEncoding(acceptEncoding);
  if (encoding === undefined) {
    sendError(res, 406, "no acceptable encoding found, supported: [gzip]");
    return;
  }

  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") sendError(res, 404, `path '${path}' does not exist`);
    else if (isBadPath(error))
      sendError(res, 400, `error opening file '${path}': ${(error as Error).message}`);
    else sendError(res, 500, `error opening file '${path}': ${(error as Error).message}`);
    return;
  }
  // Once a read stream exists it owns the handle and closes it however the stream ends.
  let streaming = false;
  try {
    const opened = await handle.stat();
    res.setHeader("Vary", "Accept-Encoding");
    res.setHeader("Content-Type", contentTypeOf(path));
    res.setHeader("Content-Disposition", contentDisposition(basename(path)));
    res.setHeader("Last-Modified", opened.mtime.toUTCString());

    const wantsPart =
      headerOf(req, "range") !== undefined || headerOf(req, "if-modified-since") !== undefined;
    if (encoding === "gzip" && !wantsPart) {
      encoding = await encodingFor(handle, opened, acceptEncoding);
    }
    if (encoding === "gzip" && !wantsPart) {
      res.statusCode = 200;
      res.setHeader("Content-Encoding", "gzip");
      streaming = true;
      await pipeline(handle.createReadStream({ highWaterMark: readChunkBytes }), ...createGzipStream(), res);
      return;
    }

    if (notModified(headerOf(req, "if-modified-since"), opened.mtimeMs)) {
      res.statusCode = 304;
      res.end();
      return;
    }
    // A size of 0 is not proof of emptiness (procfs): then stream to EOF, unsized.
    const sized = opened.isFile() && opened.size > 0;
    res.setHeader("Accept-Ranges", sized ? "bytes" : "none");
    const range =
      sized && ifRangeHolds(headerOf(req, "if-range"), opened.mtimeMs)
        ? parseByteRange(headerOf(req, "range"), opened.size)
        : undefined;
    if (range === "unsatisfiable") {
      res.setHeader("Content-Range", `bytes */${opened.size}`);
      sendError(res, 416, "requested range not satisfiable");
      return;
    }
    let start = 0;
    let end: number | undefined;
    if (range) {
      res.statusCode = 206;
      res.setHeader("Content-Range", `bytes ${range.start}-${range.end}/${opened.size}`);
      res.setHeader("Content-Length", range.end - range.start + 1);
      ({ start, end } = range);
    } else {
      res.statusCode = 200;
      if (sized) {
        res.setHeader("Content-Length", opened.size);
        end = opened.size - 1;
      }
    }
    // Character devices cannot seek: read them from their current position.
    const source = opened.isFile()
      ? handle.createReadStream({ start, end, highWaterMark: readChunkBytes })
      : handle.createReadStream();
    streaming = true;
    await pipeline(source, res);
  } catch (error) {
    // The client went away or the file broke mid-stream; headers are out, so just cut it.
    if (!res.headersSent) sendError(res, 500, `error reading file '${path}': ${(error as Error).message}`);
    else res.destroy();
  } finally {
    if (!streaming) await handle.close();
  }
}

/**
 * gzip as negotiated, unless the file is large and its first bytes do not compress while the
 * client also takes identity (spec §5.3: serving identity is always correct). A small file is
 * gzipped either way: it costs next to nothing.
 */
async function encodingFor(
  handle: FileHandle,
  info: Stats,
  acceptEncoding: string | undefined,
): Promise<ResponseEncoding> {
  if (!info.isFile() || info.size <= compressionSampleBytes || !acceptsIdentity(acceptEncoding)) {
    return "gzip";
  }
  const sample = Buffer.alloc(compressionSampleBytes);
  const { bytesRead } = await handle.read(sample, 0, sample.byteLength, 0);
  return (await worthCompressing(sample.subarray(0, bytesRead))) ? "gzip" : "identity";
}

function notModified(header: string | undefined, mtimeMs: number): boolean {
  if (header === undefined) return false;
  const since = Date.parse(header);
  return Number.isFinite(since) && Math.floor(mtimeMs / 1000) * 1000 <= since;
}

function ifRangeHolds(header: string | undefined, mtimeMs: number): boolean {
  if (header === undefined) return true;
  const date = Date.parse(header);
  return Number.isFinite(date) && Math.floor(mtimeMs / 1000) * 1000 <= date;
}
