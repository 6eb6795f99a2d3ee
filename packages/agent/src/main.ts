// The agent's entry point inside a sandbox: `node agent.mjs [--port N] [--host H]`.
import { rmSync } from "node:fs";
import { AGENT_POOLED_ENV, TMP_BOOT_MARKER } from "@sandpit/protocol";
import { readAgentConfig } from "./agent-config.js";
import { bundledLauncherPath, createAgentServer } from "./agent-server.js";
import { type MemoryGuard, memoryGuardFromEnv } from "./memory-guard.js";
import { applyPidsLimit } from "./pids-limit.js";

async function main(): Promise<void> {
  const config = readAgentConfig(process.argv.slice(2), process.env);
  // Kept /tmp on the disk through gVisor's boot (see the constant); users must not see it.
  rmSync(TMP_BOOT_MARKER, { force: true });
  const pidsLimited = applyPidsLimit(process.env);
  const startMemoryGuard = memoryGuardFromEnv(process.env, {
    helperExecutables: [bundledLauncherPath],
    onKill: (victim) =>
      console.log(
        JSON.stringify({
          msg: "out of memory: killed the largest command",
          pid: victim.pid,
          rssMiB: Math.round(victim.rssBytes / 2 ** 20),
          usageMiB: Math.round(victim.usageBytes / 2 ** 20),
          processes: victim.killed,
        }),
      ),
  });
  let memoryGuard: MemoryGuard | undefined;
  // Commands must not inherit it.
  delete process.env[AGENT_POOLED_ENV];

  const server = createAgentServer({
    port: config.port,
    host: config.host,
    // Servers bound to 127.0.0.1 inside the sandbox must still answer the proxy (ARCHITECTURE).
    portForwarding: config.portForwarding ? {} : undefined,
    launcherPath: config.launcher ? undefined : false,
    fileMetadataDir: config.fileMetadataDir,
    pooled: config.pooled,
    onIdentity: () => {
      memoryGuard = startMemoryGuard?.();
    },
  });
  const { port } = await server.listen();
  console.log(
    JSON.stringify({
      msg: "agent listening",
      host: config.host,
      port,
      portForwarding: config.portForwarding,
      launcher: config.launcher,
      pidsLimited,
      pooled: config.pooled,
      memoryGuard: startMemoryGuard !== undefined,
    }),
  );
  const stop = () => {
    memoryGuard?.stop();
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((error: unknown) => {
  console.error(JSON.stringify({ msg: "agent failed to start", error: String(error) }));
  process.exit(1);
});
