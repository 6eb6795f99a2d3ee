// Runs inside a sandbox with the agent bundle's node: the cost of starting /bin/true by node's
// spawn() from a process as large as the agent (what the agent does without its launcher),
// next to the same start through the agent's launcher binary. Prints one JSON line of medians.
// Usage: node start-cost-probe.cjs RUNS LAUNCHER
const { spawn } = require("node:child_process");
const { readdirSync, readFileSync } = require("node:fs");

const runs = Number(process.argv[2] || 30);
const launcherPath = process.argv[3] || "/opt/sandpit/agent/bin/sandpit-launcher";

// The largest process naming agent.mjs: the agent (init names it too, but is small).
function agentRssBytes() {
  let largest = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("agent.mjs")) continue;
      const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
      largest = Math.max(largest, Number(kb ?? 0) * 1024);
    } catch {}
  }
  return largest;
}

// Touched memory, so that a fork copies page tables as large as the agent's.
const ownRss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0) * 1024;
const padding = Buffer.alloc(Math.max(0, agentRssBytes() - ownRss), 1);

const since = (t) => Number(process.hrtime.bigint() - t) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function frame(fields) {
  const body = Buffer.from(fields.map((f) => `${f}\0`).join(""));
  const header = Buffer.alloc(4);
  header.writeUInt32LE(body.length);
  return Buffer.concat([header, body]);
}

async function main() {
  const blocking = [];
  const spawned = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const child = spawn("/bin/true", [], { stdio: ["ignore", "pipe", "pipe"] });
    blocking.push(since(t));
    await new Promise((resolve) => child.on("close", resolve));
    spawned.push(since(t));
  }

  const launcher = spawn(launcherPath, [], { stdio: ["ignore", "ignore", "inherit", "pipe"] });
  const channel = launcher.stdio[3];
  let pending = Buffer.alloc(0);
  const frames = [];
  const waiting = [];
  channel.on("data", (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32LE(0)) {
      const length = pending.readUInt32LE(0);
      const fields = pending
        .subarray(4, 4 + length)
        .toString()
        .split("\0")
        .slice(0, -1);
      pending = pending.subarray(4 + length);
      const waiter = waiting.shift();
      if (waiter) waiter(fields);
      else frames.push(fields);
    }
  });
  const next = () =>
    frames.length > 0 ? Promise.resolve(frames.shift()) : new Promise((resolve) => waiting.push(resolve));
  const toPid = [];
  const launched = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    channel.write(frame(["S", String(i), "-", "-", "", "/", "0", "1", "/bin/true", "1", "PATH=/bin"]));
    const started = await next();
    if (started[0] !== "P") throw new Error(`launcher: ${started.join(" ")}`);
    toPid.push(since(t));
    channel.write(frame(["R", String(i)]));
    await next();
    launched.push(since(t));
  }
  channel.destroy();
  console.log(
    JSON.stringify({
      paddingMiB: Math.round(padding.length / 1048576),
      spawnMs: median(spawned),
      spawnBlockingMs: median(blocking),
      launcherMs: median(launched),
      launcherPidMs: median(toPid),
    }),
  );
}

main().catch((error) => {
  console.error(String(error));
  process.exit(1);
});
