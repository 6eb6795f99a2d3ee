import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { processPb } from "@sandpit/protocol";
import { CommandExitError, SandboxError } from "../errors.js";
import { type CommandOutput, createCommandHandle } from "./command-handle.js";

type Event = processPb.StartResponse;
const data = (kind: "stdout" | "stderr" | "pty", bytes: Uint8Array): Event =>
  create(processPb.StartResponseSchema, {
    event: { event: { case: "data", value: { output: { case: kind, value: bytes } } } },
  });
const end = (exitCode: number, error?: string): Event =>
  create(processPb.StartResponseSchema, {
    event: { event: { case: "end", value: { exitCode, exited: true, status: "", error } } },
  });

/** An event stream the test feeds by hand, as the agent would over time. */
function feed() {
  const queue: Array<IteratorResult<Event> | Error> = [];
  let waiting: ((v: IteratorResult<Event> | Error) => void) | undefined;
  const push = (v: IteratorResult<Event> | Error) => {
    if (waiting) {
      const w = waiting;
      waiting = undefined;
      w(v);
    } else queue.push(v);
  };
  const events: AsyncIterator<Event> = {
    async next() {
      const v = queue.shift() ?? (await new Promise<IteratorResult<Event> | Error>((r) => (waiting = r)));
      if (v instanceof Error) throw v;
      return v;
    },
  };
  return {
    events,
    send: (e: Event) => push({ done: false, value: e }),
    close: () => push({ done: true, value: undefined }),
    fail: (err: Error) => push(err),
  };
}

const handleOf = (
  events: AsyncIterator<Event>,
  extra: Partial<Parameters<typeof createCommandHandle>[0]> = {},
) => {
  let cleaned = 0;
  const handle = createCommandHandle({
    pid: 7,
    events,
    cleanup: () => {
      cleaned++;
    },
    mapError: async (err) => new SandboxError(String(err), "unavailable"),
    kill: async () => true,
    ...extra,
  });
  return { handle, cleaned: () => cleaned };
};

describe("command handle", () => {
  test("decodes UTF-8 split across chunks, feeds callbacks, and returns the result", async () => {
    const f = feed();
    const seen: string[] = [];
    const { handle, cleaned } = handleOf(f.events, { onStdout: (d) => void seen.push(d) });
    const euro = new TextEncoder().encode("€!");
    f.send(data("stdout", euro.slice(0, 2)));
    f.send(data("stdout", euro.slice(2)));
    f.send(data("stderr", new TextEncoder().encode("warn")));
    f.send(end(0));
    f.close();
    assert.deepEqual(await handle.wait(), { exitCode: 0, stdout: "€!", stderr: "warn" });
    assert.equal(seen.join(""), "€!");
    assert.equal(cleaned(), 1);
  });

  test("every iterator replays the output from the start, even one that attaches late", async () => {
    const f = feed();
    const { handle } = handleOf(f.events);
    f.send(data("stdout", new TextEncoder().encode("a")));
    const early: CommandOutput[] = [];
    const reading = (async () => {
      for await (const o of handle) early.push(o);
    })();
    f.send(data("pty", new Uint8Array([1, 2])));
    f.send(end(0));
    f.close();
    await reading;
    const late: CommandOutput[] = [];
    for await (const o of handle) late.push(o);
    assert.deepEqual(late, early);
    assert.deepEqual(
      early.map((o) => o.type),
      ["stdout", "pty"],
    );
  });

  test("a non-zero exit throws CommandExitError unless throwOnError is false", async () => {
    const f = feed();
    const { handle } = handleOf(f.events);
    f.send(end(2, "exit status 2"));
    f.close();
    await assert.rejects(handle.wait(), (e: unknown) => e instanceof CommandExitError && e.exitCode === 2);
    assert.equal((await handle.wait({ throwOnError: false })).error, "exit status 2");
    assert.equal(handle.exitCode, 2);
  });

  test("a broken stream reports the mapped error to wait() and to iterators", async () => {
    const f = feed();
    const { handle } = handleOf(f.events);
    f.fail(new Error("cut"));
    await assert.rejects(
      handle.wait(),
      (e: unknown) => e instanceof SandboxError && e.code === "unavailable",
    );
    await assert.rejects(async () => {
      for await (const _ of handle) {
        // drain
      }
    }, SandboxError);
  });

  test("after disconnect() no callback fires and iteration ends quietly", async () => {
    const f = feed();
    const seen: string[] = [];
    const { handle, cleaned } = handleOf(f.events, { onStdout: (d) => void seen.push(d) });
    await handle.disconnect();
    assert.ok(cleaned() >= 1);
    f.send(data("stdout", new TextEncoder().encode("late")));
    f.fail(new Error("aborted"));
    const got: CommandOutput[] = [];
    for await (const o of handle) got.push(o);
    assert.deepEqual(got, []);
    assert.deepEqual(seen, []);
    await assert.rejects(handle.wait(), (e: unknown) => e instanceof SandboxError && e.code === "canceled");
  });
});
