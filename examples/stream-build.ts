// Stream a long build's output as it happens, and cancel it once we have seen enough.
//
//   export SANDPIT_URL=http://localhost:3000 SANDPIT_API_KEY=e2b_…
//   npx tsx examples/stream-build.ts
import { Sandbox } from "@sandpit/sdk";

// A stand-in for `make`: 100 steps, one every 100 ms, errors on stderr now and then.
const build = `for i in $(seq 1 100); do echo "[build] step $i/100"; [ $((i % 4)) -eq 0 ] && echo "[warn] step $i is slow" >&2; sleep 0.1; done; echo done`;

const sandbox = await Sandbox.create({ timeoutMs: 120_000 });
try {
  const handle = await sandbox.commands.run(build, { background: true, timeoutMs: 0 });
  let steps = 0;
  // Iterating the handle yields stdout and stderr chunks in the order they arrived.
  for await (const chunk of handle) {
    if (chunk.type === "pty") continue;
    for (const line of chunk.data.split("\n").filter(Boolean)) {
      console.log(`${chunk.type === "stderr" ? "ERR" : "OUT"} ${line}`);
      if (line.startsWith("[build]")) steps++;
    }
    if (steps >= 10) break;
  }
  console.log(`cancelling after ${steps} steps`);
  await handle.kill();
  const result = await handle.wait({ throwOnError: false });
  console.log(`build ended with exit code ${result.exitCode} (${result.error ?? "no error"})`);
} finally {
  await sandbox.kill();
}
