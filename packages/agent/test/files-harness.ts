import { execFileSync } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Client, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport } from "@connectrpc/connect-node";
import { filesystemPb } from "@sandpit/protocol";
import type { AgentContext } from "../src/agent-context.js";
import { type AgentState, initialAgentState } from "../src/agent-state.js";
import { createDualProtocolServer } from "../src/dual-protocol-server.js";
import { createFileMetadata, type FileMetadata } from "../src/file-metadata.js";
import { registerFilesystemService } from "../src/filesystem/filesystem-service.js";
import type { WatcherRegistry } from "../src/filesystem/watchers.js";
import { createHttpRoutes, type HttpRoutesOptions } from "../src/http/http-routes.js";
import { createAccessTokenGate } from "../src/rpc-auth.js";
import { rpcErrorInterceptor } from "../src/rpc-error-interceptor.js";
import { reportParseErrorsAsInvalidArgument } from "../src/rpc-parse-errors.js";
import { createUserDirectory } from "../src/users.js";

/** uid/gid of the test's `user`; chown works for it as root even if the host lacks the user. */
export const testUid = 1000;

/**
 * The agent's HTTP routes and filesystem service on one local port, over a throwaway tree:
 * `<root>/etc` names `root` and `user` (uid 1000, home `<root>/home/user`), the default user.
 */
export interface FilesAgent extends AsyncDisposable {
  baseUrl: string;
  port: number;
  root: string;
  home: string;
  state: AgentState;
  fileMetadata: FileMetadata;
  watchers: WatcherRegistry;
  fs: Client<typeof filesystemPb.Filesystem>;
  close(): Promise<void>;
}

/** Options of {@link startFilesAgent}. */
export interface FilesAgentOptions extends HttpRoutesOptions {
  /**
   * Treat the tree's filesystem as one without xattrs, as gVisor's root filesystem is, so file
   * metadata goes to the linked store in `<root>/file-metadata`.
   */
  withoutXattrs?: boolean;
  /** More paths whose filesystems are to be treated so. */
  otherPathsWithoutXattrs?: readonly string[];
  /** The linked store's sweep interval. */
  metadataSweepIntervalMs?: number;
}

/** Starts a FilesAgent; `await using` closes it and removes its tree. */
export async function startFilesAgent(options: FilesAgentOptions = {}): Promise<FilesAgent> {
  const root = mkdtempSync(join(tmpdir(), "sandpit-files-"));
  const home = join(root, "home", "user");
  mkdirSync(join(root, "etc"));
  mkdirSync(join(root, "root"));
  mkdirSync(home, { recursive: true });
  if (process.getuid?.() === 0) chownSync(home, testUid, testUid);
  writeFileSync(
    join(root, "etc", "passwd"),
    `root:x:0:0:root:${root}/root:/bin/bash\nuser:x:${testUid}:${testUid}::${home}:/bin/bash\n`,
  );
  writeFileSync(join(root, "etc", "group"), `root:x:0:\nuser:x:${testUid}:\n`);
  const state = initialAgentState();
  state.defaultUser = "user";
  const fileMetadata = createFileMetadata({
    storeDir: join(root, "file-metadata"),
    devicesWithoutXattrs: [
      ...(options.withoutXattrs ? [root] : []),
      ...(options.otherPathsWithoutXattrs ?? []),
    ].map((path) => statSync(path, { bigint: true }).dev),
    sweepIntervalMs: options.metadataSweepIntervalMs,
  });
  const ctx: AgentContext = { state, users: createUserDirectory(join(root, "etc")), fileMetadata };

  let watchers: WatcherRegistry | undefined;
  const handler = connectNodeAdapter({
    routes(router) {
      watchers = registerFilesystemService(router, ctx);
      router.handlers.splice(
        0,
        router.handlers.length,
        ...router.handlers.map(reportParseErrorsAsInvalidArgument),
      );
    },
    interceptors: [rpcErrorInterceptor],
    requestGate: createAccessTokenGate(state),
    jsonOptions: { ignoreUnknownFields: true },
    acceptCompression: [],
    fallback: createHttpRoutes(ctx, options),
  });
  const dual = createDualProtocolServer((req, res) => {
    if (req.headers["connect-timeout-ms"] === "0") delete req.headers["connect-timeout-ms"];
    handler(req, res);
  });
  await new Promise<void>((resolve) => dual.server.listen(0, "127.0.0.1", resolve));
  const port = (dual.server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const transport = createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    watchers?.closeAll();
    fileMetadata.close();
    await new Promise<void>((resolve) => {
      dual.server.close(() => resolve());
      dual.destroyConnections();
    });
    rmSync(root, { recursive: true, force: true });
  };
  return {
    baseUrl,
    port,
    root,
    home,
    state,
    fileMetadata,
    watchers: watchers as unknown as WatcherRegistry,
    fs: createClient(filesystemPb.Filesystem, transport),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Headers that select a user on an RPC (spec §6.2). */
export function asUser(user: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:`).toString("base64")}` };
}

/**
 * A 64 KiB tmpfs at `<root>/small`, to fill a filesystem; undefined where mounts are not allowed.
 * Unmount it with {@link unmountSmallDisk}.
 */
export function mountSmallDisk(root: string): string | undefined {
  const small = join(root, "small");
  mkdirSync(small);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", small], { stdio: "ignore" });
    return small;
  } catch {
    return undefined;
  }
}

/** Unmounts a {@link mountSmallDisk}, lazily: the agent may still hold a refused file open. */
export function unmountSmallDisk(small: string): void {
  execFileSync("umount", ["-l", small]);
}
