import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { processPb } from "@sandpit/protocol";
import { createUserDirectory } from "../src/users.js";
import {
  basicAuth,
  childPids,
  createTestEtc,
  isAlive,
  isRunning,
  startTestAgent,
  type TestAgent,
  type TestEtc,
  testLauncherPath,
} from "./agent-harness.js";

type ProcessClient = Client<typeof processPb.Process>;
type Event = processPb.ProcessEvent["event"];

const isRoot = process.getuid?.() === 0;
const decoder = new TextDecoder();

/** Reads a whole Start/Connect stream into events and the text of each output stream. */
async function collect(stream: AsyncIterable<{ event?: processPb.ProcessEvent }>) {
  const events: Event[] = [];
  const out = { stdout: "", stderr: "", pty: "" };
  for await (const res of stream) {
    const event = res.event?.event;
    if (!event) continue;
    events.push(event);
    if (event.case === "data" && event.value.output.case) {
      out[event.value.output.case] += decoder.decode(event.value.output.value);
    }
  }
  const end = events.at(-1);
  assert.equal(end?.case, "end", "stream ends with an end event");
  return { events, ...out, end: end.value };
}

/** Iterates a stream until `until` matches the output so far; returns the pid and the rest. */
async function readUntil(
  stream: AsyncIterable<{ event?: processPb.ProcessEvent }>,
  until: (text: string) => boolean,
) {
  const it = stream[Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal(first.value?.event?.event.case, "start", "first event is start");
  const pid = (first.value.event.event.value as processPb.ProcessEvent_StartEvent).pid;
  let text = "";
  while (!until(text)) {
    const next = await it.next();
    assert.ok(!next.done, `stream ended before the expected output; got ${JSON.stringify(text)}`);
    const event = next.value.event?.event;
    if (event?.case === "data") text += decoder.decode(event.value.output.value);
  }
  return { pid, text, it };
}

/** An iterator that first yields a start event, so readUntil can continue a running stream. */
function prepend(
  it: AsyncIterator<{ event?: processPb.ProcessEvent }>,
): AsyncIterator<{ event?: processPb.ProcessEvent }> {
  let started = false;
  return {
    next: () => {
      if (started) return it.next();
      started = true;
      return Promise.resolve({
        done: false,
        value: { event: { event: { case: "start", value: { pid: 0 } } } } as {
          event?: processPb.ProcessEvent;
        },
      });
    },
  };
}

async function rejectsWith(promise: Promise<unknown>, code: Code, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    const e = ConnectError.from(err);
    assert.equal(Code[e.code], Code[code], e.rawMessage);
    if (message) assert.match(e.rawMessage, message);
    return true;
  });
}

async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream);
}

function start(
  client: ProcessClient,
  cmd: string,
  args: string[],
  extra: { pty?: { size: { cols: number; rows: number } }; tag?: string; stdin?: boolean } = {},
) {
  return client.start({ process: { cmd, args, envs: {} }, ...extra });
}

/** Children of this test process named `sandpit-launcher`: the launchers of its agents. */
function launcherPids(): number[] {
  // comm is cut to 15 characters.
  return childPids(process.pid).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/stat`, "utf8").includes("(sandpit-launche)");
    } catch {
      return false;
    }
  });
}

// Every behaviour holds whether commands start through the launcher or by forking the agent.
for (const mode of ["launcher", "fork"] as const) {
  const noLauncher =
    mode === "launcher" && !testLauncherPath() && "needs a C compiler (cc) to build the launcher";
  describe(`process.Process over Connect JSON (${mode})`, { skip: noLauncher }, () => {
    let agent: TestAgent;
    let etc: TestEtc;
    let client: ProcessClient;
    let h2client: ProcessClient;
    const workdir = mkdtempSync(join(tmpdir(), "agent-workdir-"));

    before(async () => {
      etc = createTestEtc();
      agent = await startTestAgent({
        users: createUserDirectory(etc.dir),
        launcherPath: mode === "launcher" ? testLauncherPath() : false,
      });
      client = createClient(
        processPb.Process,
        createConnectTransport({ baseUrl: agent.baseUrl, httpVersion: "1.1" }),
      );
      h2client = createClient(
        processPb.Process,
        createConnectTransport({ baseUrl: agent.baseUrl, httpVersion: "2" }),
      );
    });

    after(async () => {
      await agent.close();
      etc.remove();
      rmSync(workdir, { recursive: true, force: true });
    });

    it("streams start, stdout and stderr, then one end with Go's exit status", async () => {
      const r = await collect(start(client, "/bin/sh", ["-c", "echo out; echo err >&2; exit 3"]));
      assert.equal(r.events[0]?.case, "start");
      assert.equal(r.events.filter((e) => e.case === "end").length, 1);
      assert.equal(r.stdout, "out\n");
      assert.equal(r.stderr, "err\n");
      assert.deepEqual(
        { ...r.end, $typeName: undefined },
        { $typeName: undefined, exitCode: 3, exited: true, status: "exit status 3", error: "exit status 3" },
      );
    });

    it("reports success without an error", async () => {
      const r = await collect(start(client, "/bin/true", []));
      const end = r.end as processPb.ProcessEvent_EndEvent;
      assert.equal(end.exitCode, 0);
      assert.equal(end.exited, true);
      assert.equal(end.status, "exit status 0");
      assert.equal(end.error, undefined);
    });

    it("sends the end only after output EOF, even when a grandchild writes after the exit", async () => {
      const r = await collect(start(client, "/bin/sh", ["-c", "echo a; (sleep 0.2; echo late) & exit 0"]));
      assert.equal(r.stdout, "a\nlate\n");
    });

    it("gives exactly PATH, HOME, USER, LOGNAME, the global env and the request's envs", async () => {
      agent.server.state.envVars = { GLOBAL_ONE: "1", OVERRIDDEN: "global" };
      agent.server.state.sandboxId = "sbx1";
      process.env.AGENT_TEST_MUST_NOT_LEAK = "leak";
      try {
        const r = await collect(
          client.start({
            process: { cmd: "/usr/bin/env", args: [], envs: { OVERRIDDEN: "request", MINE: "x" } },
          }),
        );
        const env = Object.fromEntries(
          r.stdout
            .trim()
            .split("\n")
            .map((l) => l.split(/=(.*)/s).slice(0, 2)),
        );
        assert.deepEqual(Object.keys(env).sort(), [
          "E2B_SANDBOX",
          "E2B_SANDBOX_ID",
          "GLOBAL_ONE",
          "HOME",
          "LOGNAME",
          "MINE",
          "OVERRIDDEN",
          "PATH",
          "USER",
        ]);
        assert.equal(env.OVERRIDDEN, "request");
        assert.equal(env.USER, "root");
        assert.equal(env.HOME, "/root");
        assert.equal(env.E2B_SANDBOX, "true");
      } finally {
        delete process.env.AGENT_TEST_MUST_NOT_LEAK;
        agent.server.state.envVars = {};
        agent.server.state.sandboxId = undefined;
      }
    });

    it("runs in the request's cwd, else the default workdir, else the home; relative is under home", async () => {
      const pwd = async (cwd?: string, user = "root") => {
        const r = await collect(
          client.start(
            { process: { cmd: "/bin/pwd", args: [], envs: {}, cwd } },
            { headers: basicAuth(user) },
          ),
        );
        return r.stdout.trim();
      };
      assert.equal(await pwd(workdir), workdir);
      assert.equal(await pwd(), "/root");
      agent.server.state.defaultWorkdir = workdir;
      try {
        assert.equal(await pwd(), workdir);
      } finally {
        agent.server.state.defaultWorkdir = undefined;
      }
      assert.equal(await pwd(".", "tester"), etc.home);
      assert.equal(await pwd("~", "tester"), etc.home);
    });

    it("rejects a missing cwd with invalid_argument", async () => {
      await rejectsWith(
        drain(client.start({ process: { cmd: "/bin/true", args: [], envs: {}, cwd: "/no/such/dir" } })),
        Code.InvalidArgument,
        /^cwd '\/no\/such\/dir' does not exist$/,
      );
    });

    it("rejects a command that cannot be executed with invalid_argument", async () => {
      await rejectsWith(drain(start(client, "/no/such/binary", [])), Code.InvalidArgument);
    });

    it("rejects an unknown user with unauthenticated", async () => {
      await rejectsWith(
        drain(
          client.start(
            { process: { cmd: "/bin/true", args: [], envs: {} } },
            { headers: basicAuth("nobody-here") },
          ),
        ),
        Code.Unauthenticated,
        /invalid username: 'nobody-here'/,
      );
    });

    it("runs as the chosen user with its supplementary groups", {
      skip: !isRoot && "switching users needs root",
    }, async () => {
      const r = await collect(
        client.start(
          { process: { cmd: "/usr/bin/id", args: [], envs: {} } },
          { headers: basicAuth("tester") },
        ),
      );
      assert.match(r.stdout, /^uid=65534\b.* gid=65534\b/);
      assert.match(r.stdout, /groups=.*\b4242\b/);
      const pty = await collect(
        client.start(
          { process: { cmd: "/usr/bin/id", args: ["-G"], envs: {} }, pty: { size: { cols: 80, rows: 24 } } },
          { headers: basicAuth("tester") },
        ),
      );
      assert.deepEqual(pty.pty.trim().split(/\s+/).sort(), ["4242", "65534"]);
    });

    it("feeds stdin with SendInput and ends it with CloseStdin; closing twice is fine", async () => {
      // The shell outlives cat's EOF, so the second CloseStdin meets a live process.
      const stream = start(client, "/bin/sh", ["-c", 'cat; echo "<eof>"; exec sleep 30'], { stdin: true });
      const selector = { selector: { case: "pid" as const, value: 0 } };
      const first = await readUntil(stream, () => true);
      selector.selector.value = first.pid;
      await client.sendInput({
        process: selector,
        input: { input: { case: "stdin", value: new TextEncoder().encode("hello") } },
      });
      await client.closeStdin({ process: selector });
      const seen = await readUntil({ [Symbol.asyncIterator]: () => prepend(first.it) }, (t) =>
        t.includes("<eof>"),
      );
      assert.equal(seen.text, "hello<eof>\n");
      await client.closeStdin({ process: selector });
      await rejectsWith(
        client.sendInput({
          process: selector,
          input: { input: { case: "stdin", value: new Uint8Array([1]) } },
        }),
        Code.Internal,
      );
      await client.sendSignal({ process: selector, signal: processPb.Signal.SIGKILL });
      await drain({ [Symbol.asyncIterator]: () => seen.it });
    });

    it("gives /dev/null as stdin when stdin is false, and refuses input then", async () => {
      const r = await collect(start(client, "/bin/cat", [], { stdin: false }));
      assert.equal(r.stdout, "");
      const stream = start(client, "/bin/sleep", ["5"], { stdin: false });
      const { pid, it } = await readUntil(stream, () => true);
      try {
        await rejectsWith(
          client.sendInput({
            process: { selector: { case: "pid", value: pid } },
            input: { input: { case: "stdin", value: new Uint8Array([1]) } },
          }),
          Code.Internal,
        );
      } finally {
        await client.sendSignal({
          process: { selector: { case: "pid", value: pid } },
          signal: processPb.Signal.SIGKILL,
        });
        await drain({ [Symbol.asyncIterator]: () => it });
      }
    });

    it("takes ordered input through StreamInput", async () => {
      const stream = start(client, "/bin/cat", []);
      const { pid, it } = await readUntil(stream, () => true);
      const rest = collect({ [Symbol.asyncIterator]: () => it });
      const encoder = new TextEncoder();
      async function* requests(): AsyncGenerator<
        MessageInitShape<typeof processPb.StreamInputRequestSchema>
      > {
        yield { event: { case: "start", value: { process: { selector: { case: "pid", value: pid } } } } };
        yield { event: { case: "keepalive", value: {} } };
        for (const word of ["one ", "two ", "three"]) {
          yield {
            event: {
              case: "data",
              value: { input: { input: { case: "stdin", value: encoder.encode(word) } } },
            },
          };
        }
      }
      await h2client.streamInput(requests());
      await client.closeStdin({ process: { selector: { case: "pid", value: pid } } });
      assert.equal((await rest).stdout, "one two three");
    });

    it("ends a process with SIGTERM or SIGKILL and reports the signal; the PID is gone", async () => {
      for (const [signal, status] of [
        [processPb.Signal.SIGTERM, "signal: terminated"],
        [processPb.Signal.SIGKILL, "signal: killed"],
      ] as const) {
        const stream = start(client, "/bin/sleep", ["30"]);
        const { pid, it } = await readUntil(stream, () => true);
        const rest = collect({ [Symbol.asyncIterator]: () => it });
        await client.sendSignal({ process: { selector: { case: "pid", value: pid } }, signal });
        const end = (await rest).end as processPb.ProcessEvent_EndEvent;
        assert.deepEqual([end.exitCode, end.exited, end.status, end.error], [-1, false, status, status]);
        assert.equal(isAlive(pid), false);
      }
    });

    it("kills what the process started with it, and ends the stream after the kill", async () => {
      const stream = start(client, "/bin/sh", ["-c", 'sleep 30 & echo "started $!."; wait']);
      const { pid, text, it } = await readUntil(stream, (t) => t.includes("."));
      const grandchild = Number(/started (\d+)\./.exec(text)?.[1]);
      try {
        await client.sendSignal({
          process: { selector: { case: "pid", value: pid } },
          signal: processPb.Signal.SIGKILL,
        });
        const r = await collect({ [Symbol.asyncIterator]: () => it });
        assert.equal((r.end as processPb.ProcessEvent_EndEvent).status, "signal: killed");
        // Its process group: a shell's children go with it (envd signals only the PID).
        for (let i = 0; i < 50 && isRunning(grandchild); i++) await sleep(20);
        assert.equal(isRunning(grandchild), false, "the grandchild outlived the kill");
      } finally {
        if (grandchild > 0) process.kill(grandchild, "SIGKILL");
      }
    });

    it("answers unknown processes with not_found and other signals with unimplemented", async () => {
      const nobody = { selector: { case: "pid" as const, value: 999_999_999 } };
      await rejectsWith(
        client.sendSignal({ process: nobody, signal: processPb.Signal.SIGKILL }),
        Code.NotFound,
      );
      await rejectsWith(
        client.sendInput({ process: nobody, input: { input: { case: "stdin", value: new Uint8Array() } } }),
        Code.NotFound,
      );
      await rejectsWith(client.closeStdin({ process: nobody }), Code.NotFound);
      await rejectsWith(
        client.update({ process: nobody, pty: { size: { cols: 1, rows: 1 } } }),
        Code.NotFound,
      );
      await rejectsWith(drain(client.connect({ process: nobody })), Code.NotFound);
      await rejectsWith(
        drain(client.connect({ process: { selector: { case: "tag", value: "no-such-tag" } } })),
        Code.NotFound,
      );

      const stream = start(client, "/bin/sleep", ["30"]);
      const { pid, it } = await readUntil(stream, () => true);
      const selector = { selector: { case: "pid" as const, value: pid } };
      try {
        await rejectsWith(
          client.sendSignal({ process: selector, signal: processPb.Signal.UNSPECIFIED }),
          Code.Unimplemented,
        );
        await rejectsWith(client.sendInput({ process: selector, input: {} }), Code.Unimplemented);
        await rejectsWith(
          client.update({ process: selector, pty: { size: { cols: 10, rows: 10 } } }),
          Code.Internal,
        );
        await rejectsWith(
          client.sendInput({
            process: selector,
            input: { input: { case: "pty", value: new Uint8Array([1]) } },
          }),
          Code.Internal,
        );
      } finally {
        await client.sendSignal({ process: selector, signal: processPb.Signal.SIGKILL });
        await drain({ [Symbol.asyncIterator]: () => it });
      }
    });

    it("keeps a process running when its client goes away; Connect re-attaches by pid or tag", async () => {
      const marker = join(workdir, "second-printed");
      const script = 'echo first; read x; echo second; : > "$MARK"; read y; echo third';
      const abort = new AbortController();
      const stream = client.start(
        {
          process: {
            cmd: "/bin/sh",
            args: ["-c", script],
            envs: { MARK: marker },
          },
          tag: "reader",
        },
        { signal: abort.signal },
      );
      const { pid } = await readUntil(stream, (t) => t.includes("first"));
      abort.abort();
      const selector = { selector: { case: "pid" as const, value: pid } };
      const input = (text: string) =>
        client.sendInput({
          process: selector,
          input: { input: { case: "stdin", value: new TextEncoder().encode(text) } },
        });

      await sleep(50);
      const listed = (await client.list({})).processes.find((p) => p.pid === pid);
      assert.equal(listed?.tag, "reader");
      assert.equal(listed?.config?.cmd, "/bin/sh");
      assert.deepEqual(listed?.config?.args, ["-c", script]);

      // Nobody is subscribed while "second" is printed, so it is dropped, not buffered.
      await input("x\n");
      for (let i = 0; i < 200 && !existsSync(marker); i++) await sleep(10);
      await client.list({}); // one more agent round trip: the pipe has been read by now
      const attached = client.connect({ process: { selector: { case: "tag", value: "reader" } } });
      const { pid: seen, it } = await readUntil(attached, () => true);
      assert.equal(seen, pid);
      const rest = collect({ [Symbol.asyncIterator]: () => it });
      await input("y\n");
      const r = await rest;
      assert.equal(r.stdout, "third\n");
      assert.equal((r.end as processPb.ProcessEvent_EndEvent).exitCode, 0);

      // A late Connect to the process that just ended still gets start + end.
      const late = await collect(client.connect({ process: selector }));
      assert.deepEqual(
        late.events.map((e) => e.case),
        ["start", "end"],
      );
      assert.equal(
        (await client.list({})).processes.some((p) => p.pid === pid),
        false,
      );
    });

    it("sends keepalives at the interval the client asks for", async () => {
      const r = await collect(
        client.start(
          { process: { cmd: "/bin/sleep", args: ["1.3"], envs: {} } },
          { headers: { "keepalive-ping-interval": "1" } },
        ),
      );
      const cases = r.events.map((e) => e.case);
      assert.equal(cases[0], "start");
      assert.equal(cases.at(-1), "end");
      assert.ok(cases.length >= 3 && cases.slice(1, -1).every((c) => c === "keepalive"), cases.join());
    });

    it("kills the process at Connect-Timeout-Ms and ends the stream with deadline_exceeded", async () => {
      const seen: number[] = [];
      const stream = client.start(
        { process: { cmd: "/bin/sleep", args: ["30"], envs: {} } },
        { timeoutMs: 400 },
      );
      await rejectsWith(
        (async () => {
          for await (const res of stream) {
            if (res.event?.event.case === "start") seen.push(res.event.event.value.pid);
          }
        })(),
        Code.DeadlineExceeded,
      );
      const pid = seen[0];
      assert.ok(pid);
      await sleep(100);
      assert.equal(isAlive(pid), false);
    });

    it("runs a PTY: input, output, resize with Update, and refuses CloseStdin", async () => {
      const stream = client.start({
        process: { cmd: "/bin/sh", args: [], envs: { PS1: "$ " } },
        pty: { size: { cols: 80, rows: 24 } },
      });
      const { pid, it } = await readUntil(stream, () => true);
      const selector = { selector: { case: "pid" as const, value: pid } };
      const type = (text: string) =>
        client.sendInput({
          process: selector,
          input: { input: { case: "pty", value: new TextEncoder().encode(text) } },
        });
      const rest = { [Symbol.asyncIterator]: () => it };
      let text = "";
      // Not for-await: leaving that loop would close the stream.
      const until = async (needle: RegExp) => {
        while (!needle.test(text)) {
          const next = await it.next();
          assert.ok(!next.done, `no ${needle} in ${JSON.stringify(text)}`);
          const e = next.value.event?.event;
          if (e?.case === "data") {
            assert.equal(e.value.output.case, "pty");
            text += decoder.decode(e.value.output.value);
          }
        }
      };
      await type("stty size\n");
      await until(/24 80/);
      await client.update({ process: selector, pty: { size: { cols: 100, rows: 30 } } });
      await type("stty size\n");
      await until(/30 100/);
      await rejectsWith(client.closeStdin({ process: selector }), Code.Unknown);
      await rejectsWith(
        client.sendInput({
          process: selector,
          input: { input: { case: "stdin", value: new Uint8Array([1]) } },
        }),
        Code.Internal,
      );
      assert.equal(
        (await client.list({})).processes.some((p) => p.pid === pid),
        true,
      );
      await type("exit 7\n");
      const r = await collect(rest);
      assert.equal((r.end as processPb.ProcessEvent_EndEvent).exitCode, 7);
    });

    it("speaks h2c on the same port", async () => {
      const r = await collect(h2client.start({ process: { cmd: "/bin/echo", args: ["h2"], envs: {} } }));
      assert.equal(r.stdout, "h2\n");
    });

    it("regression: /dev/stdout, /dev/stderr and /dev/stdin can be opened (ENXIO on socket stdio)", {
      skip: mode === "fork" && "the fork fallback's stdio are node's socket pairs, which cannot be opened",
    }, async () => {
      // Another user too: a pipe made by root would refuse its reopening with EACCES.
      for (const user of isRoot ? ["root", "tester"] : ["root"]) {
        const stream = client.start(
          {
            process: {
              cmd: "/bin/sh",
              args: ["-c", "echo hi > /dev/stdout && echo err > /dev/stderr && cat /dev/stdin && echo done"],
              envs: {},
            },
            stdin: true,
          },
          { headers: basicAuth(user) },
        );
        const first = await readUntil(stream, (t) => t.includes("hi"));
        const selector = { selector: { case: "pid" as const, value: first.pid } };
        await client.sendInput({
          process: selector,
          input: { input: { case: "stdin", value: new TextEncoder().encode("in\n") } },
        });
        await client.closeStdin({ process: selector });
        const rest = await collect({ [Symbol.asyncIterator]: () => first.it });
        assert.equal(first.text + rest.stdout, "hi\nin\ndone\n", user);
        assert.equal(rest.stderr, "err\n", user);
        assert.equal((rest.end as processPb.ProcessEvent_EndEvent).exitCode, 0, user);
      }
    });

    it("reports the command's own PID and gives it default signal handling", async () => {
      const r = await collect(start(client, "/bin/sh", ["-c", 'echo "$$"'], { stdin: false }));
      const startEvent = r.events[0]?.value as processPb.ProcessEvent_StartEvent;
      assert.equal(r.stdout.trim(), String(startEvent.pid));
      // A writer to a closed pipe dies of SIGPIPE (141) only if SIGPIPE is not ignored.
      const piped = await collect(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash expansion, not a template
        start(client, "/bin/bash", ["-c", 'yes | head -n1 > /dev/null; echo "${PIPESTATUS[0]}"']),
      );
      assert.equal(piped.stdout, "141\n");
    });

    it("runs an executable file without a #! line with /bin/sh, as execvp does", async () => {
      const script = join(workdir, "no-shebang");
      writeFileSync(script, 'echo "from sh $1"\n', { mode: 0o755 });
      const r = await collect(start(client, script, ["arg"], { stdin: false }));
      assert.equal(r.stdout, "from sh arg\n");
      assert.equal((r.end as processPb.ProcessEvent_EndEvent).exitCode, 0);
    });

    it("runs many commands at once, each with its own output", async () => {
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          collect(start(client, "/bin/sh", ["-c", `echo out${i}; echo err${i} >&2; exit ${i % 7}`])),
        ),
      );
      results.forEach((r, i) => {
        assert.equal(r.stdout, `out${i}\n`);
        assert.equal(r.stderr, `err${i}\n`);
        assert.equal((r.end as processPb.ProcessEvent_EndEvent).exitCode, i % 7);
      });
    });

    it("streams a large output completely and in order", async () => {
      const r = await collect(start(client, "/bin/sh", ["-c", "seq 1 200000"], { stdin: false }));
      const lines = r.stdout.trim().split("\n");
      assert.equal(lines.length, 200000);
      assert.equal(lines[0], "1");
      assert.equal(lines.at(-1), "200000");
    });

    it("falls back to forking when the launcher dies; what it ran ends as killed", {
      skip: mode === "fork" && "only the launcher can die",
    }, async () => {
      const stream = start(client, "/bin/sleep", ["30"]);
      const { pid, it } = await readUntil(stream, () => true);
      const rest = collect({ [Symbol.asyncIterator]: () => it });
      // Only ours: the launcher that started the sleep is its parent.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      assert.ok(launcherPids().includes(parent), "the command is a child of this agent's launcher");
      process.kill(parent, "SIGKILL");
      const end = (await rest).end as processPb.ProcessEvent_EndEvent;
      assert.equal(end.status, "signal: killed");
      // The orphan is init's to reap (which here may never happen): dead means gone or a zombie.
      const state = () => /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, "utf8"))?.[1];
      assert.ok(!isAlive(pid) || state() === "Z", `the command still runs (state ${state()})`);
      const after = await collect(start(client, "/bin/echo", ["still here"]));
      assert.equal(after.stdout, "still here\n");
    });

    it("requires X-Access-Token on every RPC once a token is set", async () => {
      agent.server.state.accessToken = "secret-token";
      try {
        await rejectsWith(client.list({}), Code.Unauthenticated);
        await rejectsWith(client.list({}, { headers: { "x-access-token": "wrong" } }), Code.Unauthenticated);
        await rejectsWith(drain(start(client, "/bin/true", [])), Code.Unauthenticated);
        const ok = await client.list({}, { headers: { "x-access-token": "secret-token" } });
        assert.ok(Array.isArray(ok.processes));
      } finally {
        agent.server.state.accessToken = undefined;
      }
    });
  });
}
