// `npm start`: builds the agent bundle the sandboxes run, then `sandpit serve` on its
// embedded defaults (SQLite in /var/lib/sandpit, runsc, base template built on first use).
// Arguments after `npm start --` go to `sandpit serve`.
import { spawn, spawnSync } from "node:child_process";

const root = new URL("..", import.meta.url).pathname;
const built = spawnSync("npm", ["run", "build:bundle", "-w", "@sandpit/agent"], {
  cwd: root,
  stdio: "inherit",
});
if (built.status !== 0) process.exit(built.status ?? 1);
const server = spawn(process.execPath, ["packages/cli/bin/sandpit.mjs", "serve", ...process.argv.slice(2)], {
  cwd: root,
  stdio: "inherit",
});
// The server stops cleanly on these; pass them on instead of dying first.
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.kill(signal));
server.on("exit", (code) => process.exit(code ?? 1));
