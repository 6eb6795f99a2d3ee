import { SandpitError } from "@sandpit/protocol";
import * as pty from "node-pty";
import type { ProcessIo, ProcessListener } from "./managed-process.js";
import { raiseOomScore } from "./pipe-process.js";
import { processEnd } from "./process-end.js";
import { assertExecutable, type Credentials, type Launch } from "./process-launch.js";

// node-pty's child keeps the agent's supplementary groups across setgid/setuid, so the agent
// takes the user's groups for the instant of the (synchronous) fork and then restores its own.
function withGroups<T>(creds: Credentials | undefined, fork: () => T): T {
  if (!creds || !process.setgroups || !process.getgroups) return fork();
  const own = process.getgroups();
  process.setgroups(creds.groups);
  try {
    return fork();
  } finally {
    process.setgroups(own);
  }
}

/** Spawns a process on a new pseudo-terminal of the given size. */
export async function spawnPtyProcess(launch: Launch, cols: number, rows: number): Promise<ProcessIo> {
  // A PTY child reports a failed exec only as exit status 1 on the terminal; envd fails Start.
  await assertExecutable(launch);
  let term: pty.IPty;
  try {
    term = withGroups(launch.credentials, () =>
      pty.spawn(launch.cmd, launch.args, {
        cols: cols || 80,
        rows: rows || 24,
        cwd: launch.cwd,
        env: launch.env,
        uid: launch.credentials?.uid,
        gid: launch.credentials?.gid,
        // Raw bytes: clients decode UTF-8 themselves, across chunk boundaries.
        encoding: null,
      }),
    );
  } catch (error) {
    throw new SandpitError(
      "invalid_argument",
      `error starting pty process '${launch.cmd}': ${String(error)}`,
      {
        cause: error,
      },
    );
  }
  raiseOomScore(term.pid);

  return {
    pid: term.pid,
    isPty: true,
    writeInput(data) {
      term.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    },
    closeInput() {
      throw new SandpitError("unknown", "cannot close stdin of a pty process");
    },
    resize(c, r) {
      term.resize(c, r);
    },
    kill(signal) {
      // node-pty itself stops waiting for terminal EOF 200 ms after the exit.
      term.kill(signal);
    },
    pauseOutput() {
      term.pause();
    },
    resumeOutput() {
      term.resume();
    },
    attach(sink: ProcessListener) {
      // With `encoding: null` node-pty hands out Buffers although its types say string.
      term.onData((data) => sink.onData("pty", data as unknown as Buffer));
      term.onExit(({ exitCode, signal }) => {
        sink.onEnd(processEnd(exitCode, signal ? signal : null));
      });
    },
  };
}
