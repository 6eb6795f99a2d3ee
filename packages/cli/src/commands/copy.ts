import { createReadStream, createWriteStream, existsSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Sandbox } from "@sandpit/sdk";
import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { formatBytes, print } from "../output.js";
import { UserError } from "../user-error.js";
import { clientCommand, clientOf } from "./sandboxes.js";

/** A side of a copy: a local path, or a path in a sandbox written `ID:PATH`. */
type Side = { local: string } | { sandboxId: string; path: string };

function parseSide(spec: string): Side {
  const m = /^([a-z0-9]+):(.*)$/.exec(spec);
  // A local file that happens to look like ID:PATH stays local; `./name` always is.
  if (!m?.[1] || existsSync(spec)) return { local: spec };
  return { sandboxId: m[1], path: m[2] || "." };
}

/** Files from 4 MiB up get a bar on a terminal; --progress forces it, --no-progress hides it. */
const BAR_FROM_BYTES = 4 * 1024 * 1024;

function progress(label: string, total: number, wanted: boolean | undefined): Transform {
  const show = wanted ?? (process.stderr.isTTY === true && total >= BAR_FROM_BYTES);
  const bar = show
    ? new SingleBar({
        stream: process.stderr,
        format: `${label} [{bar}] {percentage}% | {done} / {size} | {speed}/s | eta {eta_formatted}`,
        hideCursor: true,
        noTTYOutput: true,
        notTTYSchedule: 1000,
      })
    : undefined;
  const started = Date.now();
  let done = 0;
  bar?.start(Math.max(total, 1), 0, {
    done: formatBytes(0),
    size: formatBytes(total),
    speed: formatBytes(0),
  });
  return new Transform({
    transform(chunk: Buffer, _enc, next) {
      done += chunk.length;
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      bar?.update(done, { done: formatBytes(done), speed: formatBytes(Math.round(done / seconds)) });
      next(null, chunk);
    },
    flush(next) {
      bar?.update(Math.max(total, 1), { done: formatBytes(done) });
      bar?.stop();
      next();
    },
  });
}

async function isRemoteDir(sandbox: Sandbox, path: string): Promise<boolean> {
  try {
    return (await sandbox.files.getInfo(path)).type === "dir";
  } catch {
    return false;
  }
}

async function copy(
  source: string,
  target: string,
  flags: { progress?: boolean },
  cmd: Command,
): Promise<void> {
  const from = parseSide(source);
  const to = parseSide(target);
  if ("local" in from && "local" in to) throw new UserError("one side must be in a sandbox: ID:PATH", 2);
  if ("sandboxId" in from && "sandboxId" in to)
    throw new UserError("copy between sandboxes through a local file", 2);
  const client = clientOf(cmd);

  if ("local" in from && "sandboxId" in to) {
    let size: number;
    try {
      const st = statSync(from.local);
      if (st.isDirectory())
        throw new UserError(`${from.local} is a directory; cp copies one file (use tar)`, 2);
      size = st.size;
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`cannot read ${from.local}: ${(e as Error).message}`);
    }
    const sandbox = await Sandbox.connect(to.sandboxId, client);
    const path = (await isRemoteDir(sandbox, to.path))
      ? `${to.path.replace(/\/+$/, "")}/${basename(from.local)}`
      : to.path;
    const counted = createReadStream(from.local).pipe(progress("upload", size, flags.progress));
    await sandbox.files.write(path, Readable.toWeb(counted) as ReadableStream<Uint8Array>);
    print(`${from.local} -> ${to.sandboxId}:${path} (${formatBytes(size)})`);
    return;
  }

  if ("sandboxId" in from && "local" in to) {
    const sandbox = await Sandbox.connect(from.sandboxId, client);
    const info = await sandbox.files.getInfo(from.path);
    if (info.type === "dir")
      throw new UserError(`${from.sandboxId}:${from.path} is a directory; cp copies one file`, 2);
    const local =
      existsSync(to.local) && statSync(to.local).isDirectory()
        ? join(to.local, basename(from.path))
        : to.local;
    const stream = await sandbox.files.read(from.path, { format: "stream" });
    await pipeline(
      Readable.fromWeb(stream as import("node:stream/web").ReadableStream<Uint8Array>),
      progress("download", info.size, flags.progress),
      createWriteStream(local),
    );
    print(`${from.sandboxId}:${from.path} -> ${local} (${formatBytes(info.size)})`);
  }
}

/** `sandpit cp LOCAL ID:PATH` and `sandpit cp ID:PATH LOCAL`: streamed, with a progress bar. */
export function registerCopy(program: Command): void {
  clientCommand(program, "cp <source> <target>")
    .description("copy a file into or out of a sandbox (ID:PATH names the sandbox side)")
    .option("--progress", "always show a progress bar")
    .option("--no-progress", "never show a progress bar")
    .action(copy);
}
