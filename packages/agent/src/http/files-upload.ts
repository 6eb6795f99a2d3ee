import { constants as fsConstants } from "node:fs";
import { open, rmdir, stat, unlink } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { SandpitError } from "@sandpit/protocol";
import busboy from "busboy";
import { chownToUser, ensureDirs } from "../ensure-dirs.js";
import { type FileMetadata, replaceFileMetadata } from "../file-metadata.js";
import { errnoOf, isBadPath } from "../filesystem/fs-errors.js";
import { resolveUserPath } from "../paths.js";
import type { SandboxUser } from "../users.js";
import { drainRefusedBody } from "./drain-refused-body.js";
import type { HttpRoutesContext } from "./http-routes.js";
import { type HttpRequest, type HttpResponse, headerOf } from "./http-types.js";
import { parseMetadataHeaders } from "./metadata-headers.js";
import { sendError, sendJson } from "./send-json.js";
import { fileRequestRefusal, userOfRequest } from "./user-of-request.js";

/** One written file in the upload response (spec §5.4). */
export interface UploadedEntry {
  path: string;
  name: string;
  type: "file";
  metadata?: Record<string, string>;
}

/** An upload failure with the HTTP status it answers with. */
class UploadError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** What a request created, so a failed request can take it back. */
interface Journal {
  files: string[];
  dirs: string[];
}

// Fields are held in memory by busboy; a part named `file` without a filename is one of them.
const maxFieldBytes = 8 * 1024 * 1024;
// What a file's write stream buffers before pushing back on the request. With the default
// 16 KiB every 64 KiB socket read paused and resumed the upload, and under gVisor those extra
// syscalls halved the throughput (45 → 100 MiB/s for 256 MiB with 1 MiB). 4 MiB took another
// ~20 % off the sandbox's CPU per upload under gVisor (2.0-2.8 s per 256 MiB against 2.3-3.5),
// which is what bounds the upload on a 2-core host; two such buffers per upload in flight.
const writeBufferBytes = 4 * 1024 * 1024;

/**
 * `POST /files` (spec §5.4): octet-stream or multipart bodies, optionally gzip-encoded,
 * streamed to disk part by part with backpressure. Files and directories the request created
 * are removed again when it fails, so a malformed body leaves nothing behind.
 */
export async function handleFileUpload(
  ctx: HttpRoutesContext,
  req: HttpRequest,
  res: HttpResponse,
  query: Map<string, string>,
): Promise<void> {
  const journal: Journal = { files: [], dirs: [] };
  try {
    const entries = await receiveUpload(ctx, req, query, journal);
    sendJson(res, 200, entries);
  } catch (error) {
    await rollBack(journal);
    await drainRefusedBody(req, res);
    if (error instanceof UploadError) sendError(res, error.status, error.message);
    else sendError(res, 500, `error uploading file: ${(error as Error).message}`);
  }
}

async function receiveUpload(
  ctx: HttpRoutesContext,
  req: HttpRequest,
  query: Map<string, string>,
  journal: Journal,
): Promise<UploadedEntry[]> {
  const queryPath = query.get("path");
  const username = query.get("username");
  const refusal = fileRequestRefusal(ctx.state.accessToken, req, query, "write");
  if (refusal) throw new UploadError(refusal.status, refusal.message);
  const user = await userOfRequest(ctx.users, username, ctx.state.defaultUser).catch((error: Error) => {
    throw new UploadError(401, error.message);
  });

  const encoding = (headerOf(req, "content-encoding") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (encoding !== "" && encoding !== "identity" && encoding !== "gzip") {
    throw new UploadError(
      400,
      `unsupported Content-Encoding: ${headerOf(req, "content-encoding")}, supported: [gzip]`,
    );
  }
  let metadata: Record<string, string>;
  try {
    metadata = parseMetadataHeaders(req.rawHeaders);
  } catch (error) {
    throw new UploadError(400, (error as Error).message);
  }

  const resolve = (raw: string): string => {
    try {
      return resolveUserPath(raw, user, ctx.state.defaultWorkdir);
    } catch (error) {
      throw new UploadError(400, `error resolving path: ${(error as Error).message}`);
    }
  };
  const contentType = headerOf(req, "content-type") ?? "";
  const mediaType = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  const isMultipart = mediaType.startsWith("multipart/");
  if (mediaType !== "application/octet-stream" && !isMultipart) {
    throw new UploadError(
      400,
      `unsupported content type: ${contentType}, expected multipart/form-data or application/octet-stream`,
    );
  }
  if (!isMultipart && queryPath === undefined) {
    throw new UploadError(400, "path query parameter is required for raw body upload");
  }

  // Decoding errors surface on the body stream, so the part writer sees them and answers 400.
  const body = decodedBody(req, encoding === "gzip");
  const entryOf = (path: string): UploadedEntry => ({
    path,
    name: basename(path),
    type: "file",
    ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
  });

  if (!isMultipart) {
    const path = resolve(queryPath ?? "");
    await writeFile(ctx.fileMetadata, path, body, user, metadata, journal);
    return [entryOf(path)];
  }

  const entries: UploadedEntry[] = [];
  const seen = new Set<string>();
  await receiveParts(body, req.headers, async (part) => {
    if (part.name !== "file") return;
    const raw = queryPath ?? part.filename;
    if (raw === undefined) {
      throw new UploadError(
        400,
        "error resolving path: multipart part has no filename and no path was given",
      );
    }
    const path = resolve(raw);
    if (seen.has(path)) {
      throw new UploadError(
        400,
        `you cannot upload multiple files to the same path '${path}' in one upload request`,
      );
    }
    seen.add(path);
    await writeFile(ctx.fileMetadata, path, part.content, user, metadata, journal);
    entries.push(entryOf(path));
  });
  return entries;
}

/**
 * The request body as a stream of its own. Piped, not pipelined: a failed write destroys the
 * stream it reads, and a destroyed request can no longer be drained, which would leave the rest
 * of the body on the connection to be read as the next request.
 */
function decodedBody(req: HttpRequest, gzip: boolean): Readable {
  const out = new PassThrough({ highWaterMark: writeBufferBytes });
  // It may fail before its reader (resolved after some awaits) listens; the reader still
  // sees the failure through the stream's errored state.
  out.on("error", () => {});
  // pipe() forwards neither errors nor an aborted client; the writer must see both.
  req.once("error", (error: Error) => out.destroy(error));
  req.once("close", () => {
    if (!req.complete) out.destroy(new Error("request aborted"));
  });
  if (!gzip) return req.pipe(out);
  const gunzip = createGunzip();
  gunzip.once("error", (error: Error) => {
    req.unpipe(gunzip);
    out.destroy(new UploadError(400, `error decompressing request body: ${error.message}`));
  });
  req.pipe(gunzip).pipe(out);
  return out;
}

/** One multipart part the upload cares about. */
interface Part {
  name: string;
  filename: string | undefined;
  content: Readable;
}

/**
 * Feeds the parts of a multipart body to `onPart` strictly one after another; busboy holds
 * back the next part until the current one is consumed, which keeps memory bounded. On the
 * first failure it stops reading, cuts the part in flight and waits for its handler to settle,
 * so the caller's rollback sees everything that was created.
 */
async function receiveParts(
  body: Readable,
  headers: HttpRequest["headers"],
  onPart: (part: Part) => Promise<void>,
): Promise<void> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: headers as Record<string, string>,
      preservePath: true,
      defParamCharset: "utf8",
      limits: { fieldSize: maxFieldBytes },
    });
  } catch (error) {
    throw new UploadError(400, `error parsing multipart form: ${(error as Error).message}`);
  }
  let failure: UploadError | undefined;
  let current: Readable | undefined;
  let settle = () => {};
  const finished = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const fail = (error: unknown) => {
    if (failure) return;
    failure =
      error instanceof UploadError
        ? error
        : new UploadError(400, `error reading multipart form: ${(error as Error).message}`);
    body.unpipe(parser);
    // Without an error: a part nobody reads yet would have no listener for one.
    current?.destroy();
    settle();
  };
  let chain = Promise.resolve();
  const enqueue = (name: string, content: Readable, filename: string | undefined) => {
    chain = chain
      .then(async () => {
        if (failure || name !== "file") {
          content.resume();
          return;
        }
        current = content;
        await onPart({ name, filename, content });
        current = undefined;
        // A handler that ignored its part must still let busboy move on.
        content.resume();
      })
      .catch(fail);
  };
  parser.on("file", (name, stream, info) => {
    // busboy may destroy a queued part with an error before its writer listens; the writer
    // still sees it through the stream's errored state.
    stream.on("error", () => {});
    enqueue(name, stream, info.filename);
  });
  parser.on("field", (name, value, info) => {
    if (name !== "file") return;
    if (info.valueTruncated) {
      fail(
        new UploadError(400, "multipart field 'file' is too large; send it as a file part with a filename"),
      );
      return;
    }
    const content = new PassThrough();
    content.end(value);
    enqueue(name, content, undefined);
  });
  parser.on("error", fail);
  // busboy closes only after every file stream was consumed, i.e. after the last part's bytes.
  parser.on("close", () => settle());
  body.on("error", fail);
  body.pipe(parser);
  await finished;
  await chain;
  if (failure) throw failure;
}

/**
 * Writes one uploaded file as envd does: parents created and chowned, the file created or
 * truncated in place (same inode, so watchers see WRITE) and chowned, then its metadata replaced.
 */
async function writeFile(
  files: FileMetadata,
  path: string,
  content: Readable,
  user: SandboxUser,
  metadata: Record<string, string>,
  journal: Journal,
): Promise<void> {
  try {
    journal.dirs.push(...(await ensureDirs(dirname(path), user)));
  } catch (error) {
    if (error instanceof SandpitError) throw new UploadError(400, error.message);
    throw new UploadError(500, `error ensuring directories: ${(error as Error).message}`);
  }
  const existing = await stat(path).catch(() => undefined);
  if (existing?.isDirectory()) throw new UploadError(400, `path is a directory: ${path}`);

  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o666);
  } catch (error) {
    if (errnoOf(error) === "ENOSPC") throw new UploadError(507, "not enough inodes available");
    if (isBadPath(error)) throw new UploadError(400, `error opening file: ${(error as Error).message}`);
    throw new UploadError(500, `error opening file: ${(error as Error).message}`);
  }
  if (!existing) journal.files.push(path);
  try {
    await chownToUser(path, user).catch(async (error: unknown) => {
      await handle.close();
      throw error;
    });
    // The stream owns the handle from here and closes it on finish or error.
    await pipeline(content, handle.createWriteStream({ highWaterMark: writeBufferBytes }));
  } catch (error) {
    if (error instanceof UploadError) throw error;
    if (errnoOf(error) === "ENOSPC") throw new UploadError(507, "not enough disk space available");
    if (errnoOf(error) === "EFBIG" || errnoOf(error) === "EDQUOT") {
      throw new UploadError(507, `not enough disk space available: ${(error as Error).message}`);
    }
    // Errors with a syscall come from the file; the rest (truncated form, aborted client,
    // corrupt gzip) are the request's fault.
    if ((error as NodeJS.ErrnoException).syscall !== undefined) {
      throw new UploadError(500, `error writing file: ${(error as Error).message}`);
    }
    throw new UploadError(400, `error reading request body: ${(error as Error).message}`);
  }
  try {
    await replaceFileMetadata(files, path, metadata);
  } catch (error) {
    if (errnoOf(error) === "ENOSPC")
      throw new UploadError(507, "not enough disk space available for metadata");
    throw new UploadError(500, `error setting file metadata: ${(error as Error).message}`);
  }
}

async function rollBack(journal: Journal): Promise<void> {
  for (const file of journal.files.reverse()) await unlink(file).catch(() => undefined);
  // Innermost first; a directory that gained other content meanwhile stays.
  for (const dir of journal.dirs.reverse()) await rmdir(dir).catch(() => undefined);
}
