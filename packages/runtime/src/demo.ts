// Starts one sandbox on the defaults, runs a command as `user`, removes the sandbox.
import { createLocalRuntime } from "./local-runtime.js";

const runtime = createLocalRuntime({
  runtime: process.env.SANDPIT_RUNTIME === "runc" ? "runc" : "runsc",
  dataDir: process.env.SANDPIT_DATA_DIR ?? "/var/lib/sandpit",
});
const id = `demo${Date.now().toString(36)}`;
const started = Date.now();
const sandbox = await runtime.create({ id, template: "base", command: ["sleep", "infinity"] });
console.log(`sandbox ${id} (${sandbox.runtime}) at ${sandbox.address} in ${Date.now() - started} ms`);
try {
  const r = await runtime.exec(
    id,
    ["/bin/bash", "-lc", 'echo "hello from $(whoami) on $(uname -sr)"; python --version'],
    {
      user: 1000,
      env: { HOME: "/home/user", USER: "user" },
    },
  );
  process.stdout.write(r.stdout + r.stderr);
} finally {
  await runtime.remove(id);
  await runtime.close();
  console.log(`sandbox ${id} removed`);
}
