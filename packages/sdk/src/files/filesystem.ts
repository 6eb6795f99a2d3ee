// `sandbox.files`: file transfer over the agent's `/files` (spec §5.3/§5.4) and everything else over
// its filesystem.Filesystem service (spec §6.5).
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { filesystemPb } from "@sandpit/protocol";
import type { CommandRequestOptions } from "../commands/command-handle.js";
import { deadlineOf, unary } from "../commands/commands.js";
import { requestSignal, streamSignal } from "../connection-config.js";
import { type EnvdClient, KEEPALIVE_HEADERS } from "../envd-client.js";
import { InvalidArgumentError, SandboxError, SandboxNotFoundError, TemplateError } from "../errors.js";
import { compareVersions } from "../version.js";
import {
  createPolledWatchHandle,
  createStreamWatchHandle,
  type FilesystemEvent,
  type WatchHandle,
} from "../watch-handle.js";
import { type EntryInfo, entryInfoOf, fileTypeOf, type WriteInfo } from "./entry-info.js";

/** Options of filesystem calls. */
export interface FilesystemRequestOptions extends CommandRequestOptions {
  /** User whose home relative paths resolve against and who owns created entries. */
  user?: string;
}

/** Options of `files.read`. */
export interface FilesystemReadOptions extends FilesystemRequestOptions {
  /** Ask for a gzip-encoded transfer. */
  gzip?: boolean;
}

/** Options of `files.write`. */
export interface FilesystemWriteOptions extends FilesystemRequestOptions {
  /** Compress the upload with gzip (sent as one octet-stream request per file). */
  gzip?: boolean;
  /** Send raw bytes (one request per file) instead of multipart; default: only for streams. */
  useOctetStream?: boolean;
  /** Metadata stored on the written files (`X-Metadata-*` headers). */
  metadata?: Record<string, string>;
}

/** Options of `files.list`. */
export interface FilesystemListOptions extends FilesystemRequestOptions {
  /** How deep to descend (default 1: the directory's own entries). */
  depth?: number;
}

/** Options of `files.watchDir`. */
export interface WatchOptions extends FilesystemRequestOptions {
  /** Watch subdirectories too. */
  recursive?: boolean;
  /** Attach the entry's info to events. */
  includeEntry?: boolean;
  /** Lifetime of the watch in ms (default 60 000; 0: no limit). Only for the callback form. */
  timeoutMs?: number;
  /** Called once when the watch ends, with the error if it failed. */
  onExit?: (err?: Error) => void | Promise<void>;
}

/** Data a file can be written from. */
export type WriteData = string | ArrayBuffer | Uint8Array | Blob | ReadableStream<Uint8Array>;

/** One file of a multi-file write. */
export interface WriteEntry {
  /** Path in the sandbox. */
  path: string;
  /** Content. */
  data: WriteData;
}

/** Files of a sandbox. */
export interface Filesystem {
  /** Reads a file as text. */
  read(path: string, options?: FilesystemReadOptions & { format?: "text" }): Promise<string>;
  /** Reads a file as bytes. */
  read(path: string, options: FilesystemReadOptions & { format: "bytes" }): Promise<Uint8Array>;
  /** Reads a file as a Blob. */
  read(path: string, options: FilesystemReadOptions & { format: "blob" }): Promise<Blob>;
  /** Reads a file as a stream; the time limit bounds only the handshake. */
  read(
    path: string,
    options: FilesystemReadOptions & { format: "stream" },
  ): Promise<ReadableStream<Uint8Array>>;
  /** Writes one file (creating parent directories); a ReadableStream is streamed, never buffered. */
  write(path: string, data: WriteData, options?: FilesystemWriteOptions): Promise<WriteInfo>;
  /** Writes several files at once. */
  write(files: WriteEntry[], options?: FilesystemWriteOptions): Promise<WriteInfo[]>;
  /** Writes several files at once. */
  writeFiles(files: WriteEntry[], options?: FilesystemWriteOptions): Promise<WriteInfo[]>;
  /** Lists a directory, depth-first in name order. */
  list(path: string, options?: FilesystemListOptions): Promise<EntryInfo[]>;
  /** Whether a path exists. */
  exists(path: string, options?: FilesystemRequestOptions): Promise<boolean>;
  /** Information about a path. */
  getInfo(path: string, options?: FilesystemRequestOptions): Promise<EntryInfo>;
  /** Removes a file or a directory tree; a missing path is fine. */
  remove(path: string, options?: FilesystemRequestOptions): Promise<void>;
  /** Moves a file or directory. */
  rename(oldPath: string, newPath: string, options?: FilesystemRequestOptions): Promise<EntryInfo>;
  /** Creates a directory and its parents; false when it already existed. */
  makeDir(path: string, options?: FilesystemRequestOptions): Promise<boolean>;
  /** Watches a directory, calling `onEvent` for each change (WatchDir stream). */
  watchDir(
    path: string,
    onEvent: (event: FilesystemEvent) => void | Promise<void>,
    options?: WatchOptions,
  ): Promise<WatchHandle>;
  /** Watches a directory for polling with `getNewEvents()` (a watcher kept by the agent). */
  watchDir(path: string, options?: WatchOptions): Promise<WatchHandle>;
}

const METADATA_KEY = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const METADATA_VALUE = /^[\x20-\x7e]*$/;

function metadataHeaders(metadata: Record<string, string> | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (!METADATA_KEY.test(key))
      throw new InvalidArgumentError(`Invalid metadata key ${JSON.stringify(key)}`);
    if (!METADATA_VALUE.test(value)) {
      throw new InvalidArgumentError(
        `Invalid metadata value for key ${JSON.stringify(key)}: printable ASCII only`,
      );
    }
    headers[`X-Metadata-${key}`] = value;
  }
  return headers;
}

function isStream(data: WriteData): data is ReadableStream<Uint8Array> {
  return typeof (data as ReadableStream).getReader === "function";
}

function toBlob(data: Exclude<WriteData, ReadableStream<Uint8Array>>): Blob {
  return data instanceof Blob ? data : new Blob([data as ArrayBuffer]);
}

/** `?path=…&username=…` as the official SDK encodes it. */
function filesQuery(path: string | undefined, user: string | undefined): string {
  const parts: string[] = [];
  if (path !== undefined) parts.push(`path=${encodeURIComponent(path)}`);
  if (user !== undefined) parts.push(`username=${encodeURIComponent(user)}`);
  return parts.length ? `?${parts.join("&")}` : "";
}

/** Creates `sandbox.files` over one sandbox's agent. */
export function createFilesystem(envd: EnvdClient): Filesystem {
  const rpc = createClient(filesystemPb.Filesystem, envd.transport);
  const version = envd.target.envdVersion;
  const timeoutOf = (o: CommandRequestOptions | undefined) =>
    o?.requestTimeoutMs ?? envd.target.config.requestTimeoutMs;

  const writeInfos = async (res: Response): Promise<WriteInfo[]> => {
    if (!res.ok) throw await envd.httpError(res, true);
    const files = (await res.json()) as WriteInfo[];
    if (!Array.isArray(files) || files.length === 0) {
      throw new SandboxError("Expected to receive information about written file", "internal");
    }
    return files.map((f) => {
      const { metadata, ...rest } = f;
      return metadata && Object.keys(metadata).length > 0 ? { ...rest, metadata } : rest;
    });
  };

  const uploadOne = async (
    path: string,
    data: WriteData,
    user: string | undefined,
    options: FilesystemWriteOptions | undefined,
    extra: Record<string, string>,
  ): Promise<WriteInfo[]> => {
    const headers: Record<string, string> = { "Content-Type": "application/octet-stream", ...extra };
    let body: Blob | ReadableStream<Uint8Array>;
    let streamed: boolean;
    if (options?.gzip) {
      const source = isStream(data) ? data : toBlob(data).stream();
      body = source.pipeThrough<Uint8Array>(new CompressionStream("gzip"));
      headers["Content-Encoding"] = "gzip";
      streamed = true;
    } else if (isStream(data)) {
      body = data;
      streamed = true;
    } else {
      body = toBlob(data);
      streamed = false;
    }
    // A streamed body has no client-side time limit: the producer is the caller's own code.
    const { signal, dispose } = streamed
      ? { signal: options?.signal, dispose: () => {} }
      : requestSignal(timeoutOf(options), options?.signal);
    try {
      const res = await envd.fetch(`/files${filesQuery(path, user)}`, {
        method: "POST",
        headers,
        body,
        signal,
        ...(streamed && { duplex: "half" as const }),
      });
      return await writeInfos(res);
    } finally {
      dispose();
    }
  };

  const write = async (
    pathOrFiles: string | WriteEntry[],
    dataOrOptions?: WriteData | FilesystemWriteOptions,
    maybeOptions?: FilesystemWriteOptions,
  ): Promise<WriteInfo | WriteInfo[]> => {
    const single = typeof pathOrFiles === "string";
    const files: Array<{ path: string; data: WriteData }> = single
      ? [{ path: pathOrFiles, data: dataOrOptions as WriteData }]
      : pathOrFiles;
    const options = (single ? maybeOptions : dataOrOptions) as FilesystemWriteOptions | undefined;
    if (files.length === 0) return [];
    const user = envd.fileUser(options?.user);
    const extra = metadataHeaders(options?.metadata);
    if (
      options?.metadata &&
      Object.keys(options.metadata).length > 0 &&
      compareVersions(version, "0.6.2") < 0
    ) {
      throw new TemplateError("File metadata requires envd 0.6.2 or later.");
    }
    const octet =
      ((options?.useOctetStream ?? files.some((f) => isStream(f.data))) || options?.gzip === true) &&
      compareVersions(version, "0.5.7") >= 0;
    let results: WriteInfo[];
    if (octet) {
      const all = await Promise.all(files.map((f) => uploadOne(f.path, f.data, user, options, extra)));
      results = all.flat();
    } else {
      const form = new FormData();
      for (const f of files) {
        if (isStream(f.data)) {
          throw new InvalidArgumentError("Streams need an agent that accepts octet-stream uploads (0.5.7+)");
        }
        form.append("file", toBlob(f.data), f.path);
      }
      const { signal, dispose } = requestSignal(timeoutOf(options), options?.signal);
      try {
        const res = await envd.fetch(`/files${filesQuery(single ? pathOrFiles : undefined, user)}`, {
          method: "POST",
          headers: extra,
          body: form,
          signal,
        });
        results = await writeInfos(res);
      } finally {
        dispose();
      }
    }
    return single && results.length === 1 ? (results[0] as WriteInfo) : results;
  };

  const read = async (
    path: string,
    options?: FilesystemReadOptions & { format?: string },
  ): Promise<unknown> => {
    const format = options?.format ?? "text";
    const user = envd.fileUser(options?.user);
    const headers: Record<string, string> = options?.gzip ? { "Accept-Encoding": "gzip" } : {};
    const url = `/files${filesQuery(path, user)}`;
    if (format === "stream") {
      const stream = streamSignal(timeoutOf(options), options?.signal);
      try {
        const res = await envd.fetch(url, { method: "GET", headers, signal: stream.signal });
        if (!res.ok) throw await envd.httpError(res, true);
        stream.clearStartTimeout();
        const body = res.body;
        if (!body) {
          stream.cleanup();
          return new Blob([]).stream();
        }
        const reader = body.getReader();
        return new ReadableStream<Uint8Array>({
          async pull(controller) {
            try {
              const { done, value } = await reader.read();
              if (done) {
                stream.cleanup();
                controller.close();
              } else controller.enqueue(value);
            } catch (err) {
              stream.cleanup();
              controller.error(await envd.rpcError(err, true));
            }
          },
          async cancel(reason) {
            try {
              await reader.cancel(reason);
            } finally {
              stream.cleanup();
            }
          },
        });
      } catch (err) {
        stream.cleanup();
        throw err;
      }
    }
    const { signal, dispose } = requestSignal(timeoutOf(options), options?.signal);
    try {
      const res = await envd.fetch(url, { method: "GET", headers, signal });
      if (!res.ok) throw await envd.httpError(res, true);
      try {
        if (format === "bytes") return new Uint8Array(await res.arrayBuffer());
        if (format === "blob") return await res.blob();
        return await res.text();
      } catch (err) {
        throw await envd.rpcError(err, true);
      }
    } finally {
      dispose();
    }
  };

  const filesystem = {
    read,
    write,
    async writeFiles(files: WriteEntry[], options?: FilesystemWriteOptions) {
      return (await write(files, options)) as WriteInfo[];
    },

    async list(path: string, options?: FilesystemListOptions): Promise<EntryInfo[]> {
      if (typeof options?.depth === "number" && options.depth < 1) {
        throw new InvalidArgumentError("depth should be at least one");
      }
      const res = await unary(
        envd,
        options,
        (signal) =>
          rpc.listDir(
            { path, depth: options?.depth ?? 1 },
            { headers: envd.authHeader(options?.user), signal },
          ),
        true,
      );
      return res.entries.filter((e) => fileTypeOf(e.type) !== undefined).map(entryInfoOf);
    },

    async exists(path: string, options?: FilesystemRequestOptions): Promise<boolean> {
      try {
        await unary(envd, options, (signal) =>
          rpc.stat({ path }, { headers: envd.authHeader(options?.user), signal }),
        );
        return true;
      } catch (err) {
        if (
          err instanceof SandboxError &&
          err.code === "not_found" &&
          !(err instanceof SandboxNotFoundError)
        ) {
          return false;
        }
        throw err;
      }
    },

    async getInfo(path: string, options?: FilesystemRequestOptions): Promise<EntryInfo> {
      const res = await unary(
        envd,
        options,
        (signal) => rpc.stat({ path }, { headers: envd.authHeader(options?.user), signal }),
        true,
      );
      if (!res.entry) throw new SandboxError("Expected to receive information about the file", "internal");
      return entryInfoOf(res.entry);
    },

    async remove(path: string, options?: FilesystemRequestOptions): Promise<void> {
      await unary(
        envd,
        options,
        (signal) => rpc.remove({ path }, { headers: envd.authHeader(options?.user), signal }),
        true,
      );
    },

    async rename(oldPath: string, newPath: string, options?: FilesystemRequestOptions): Promise<EntryInfo> {
      const res = await unary(
        envd,
        options,
        (signal) =>
          rpc.move(
            { source: oldPath, destination: newPath },
            { headers: envd.authHeader(options?.user), signal },
          ),
        true,
      );
      if (!res.entry)
        throw new SandboxError("Expected to receive information about moved object", "internal");
      return entryInfoOf(res.entry);
    },

    async makeDir(path: string, options?: FilesystemRequestOptions): Promise<boolean> {
      try {
        await unary(
          envd,
          options,
          (signal) => rpc.makeDir({ path }, { headers: envd.authHeader(options?.user), signal }),
          true,
        );
        return true;
      } catch (err) {
        if (err instanceof SandboxError && err.code === "already_exists") return false;
        throw err;
      }
    },

    async watchDir(
      path: string,
      onEventOrOptions?: ((event: FilesystemEvent) => void | Promise<void>) | WatchOptions,
      maybeOptions?: WatchOptions,
    ): Promise<WatchHandle> {
      const onEvent = typeof onEventOrOptions === "function" ? onEventOrOptions : undefined;
      const options = typeof onEventOrOptions === "function" ? maybeOptions : onEventOrOptions;
      if (options?.recursive && compareVersions(version, "0.1.4") < 0) {
        throw new TemplateError("You need to update the template to use recursive watching.");
      }
      if (options?.includeEntry && compareVersions(version, "0.6.3") < 0) {
        throw new TemplateError("You need to update the template to include entry info in watch events.");
      }
      const auth = envd.authHeader(options?.user);
      if (!onEvent) {
        const created = await unary(
          envd,
          options,
          (signal) =>
            rpc.createWatcher(
              { path, recursive: options?.recursive ?? false, includeEntry: options?.includeEntry ?? false },
              { headers: auth, signal },
            ),
          true,
        );
        const watcherId = created.watcherId;
        return createPolledWatchHandle({
          getEvents: async () =>
            (await unary(envd, options, (signal) => rpc.getWatcherEvents({ watcherId }, { signal }), true))
              .events,
          remove: async () => {
            await unary(envd, options, (signal) => rpc.removeWatcher({ watcherId }, { signal }), true);
          },
        });
      }
      const stream = streamSignal(timeoutOf(options), options?.signal);
      const events = rpc
        .watchDir(
          {
            path,
            recursive: options?.recursive ?? false,
            includeEntry: options?.includeEntry ?? false,
            allowNetworkMounts: false,
          },
          {
            headers: { ...auth, ...KEEPALIVE_HEADERS },
            signal: stream.signal,
            timeoutMs: deadlineOf(options?.timeoutMs, 60_000),
          },
        )
        [Symbol.asyncIterator]();
      try {
        const first = await events.next();
        if (first.done || first.value.event.case !== "start") {
          throw new SandboxError("Expected start event", "internal");
        }
        stream.clearStartTimeout();
      } catch (err) {
        stream.cleanup();
        if (err instanceof ConnectError && err.code === Code.Unavailable) {
          throw new SandboxNotFoundError("Sandbox is probably not running anymore", { cause: err });
        }
        throw await envd.rpcError(err, true);
      }
      return createStreamWatchHandle({
        events,
        cleanup: stream.cleanup,
        mapError: (err) => envd.rpcError(err, true),
        onEvent,
        onExit: options?.onExit,
      });
    },
  };
  return filesystem as Filesystem;
}
