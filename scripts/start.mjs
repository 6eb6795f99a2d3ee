// `npm start`: until the control plane lands, a demo of the runtime: it starts a sandbox on
// the embedded defaults, runs a command in it and removes it.
import { spawnSync } from "node:child_process";

const result = spawnSync(process.execPath, ["--import", "tsx", "packages/runtime/src/demo.ts"], {
  cwd: new URL("..", import.meta.url).pathname,
  stdio: "inherit",
});
process.exit(result.status ?? 1);
