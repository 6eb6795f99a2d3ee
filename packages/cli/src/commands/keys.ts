import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createSqliteStore, generateApiKey, loadConfig, type Store } from "@sandpit/server";
import type { Command } from "commander";
import { formatTime, print, printJson, printTable } from "../output.js";
import { UserError } from "../user-error.js";

/** Opens the server's store in its data dir: keys are managed on the server's host. */
async function withStore<T>(dataDir: string | undefined, use: (store: Store) => Promise<T>): Promise<T> {
  const config = loadConfig({ dataDir });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const store = createSqliteStore({ path: join(config.dataDir, "sandpit.db") });
  try {
    await store.migrate();
    return await use(store);
  } finally {
    await store.close();
  }
}

/** `sandpit keys create|ls|revoke`: API keys, in the store of a server on this host. */
export function registerKeys(program: Command): void {
  const keys = program
    .command("keys")
    .description("manage API keys (on the server's host; writes its store)")
    .option("--data-dir <dir>", "the server's data dir (default /var/lib/sandpit, env SANDPIT_DATA_DIR)");
  const dataDirOf = (cmd: Command) => (cmd.optsWithGlobals() as { dataDir?: string }).dataDir;

  keys
    .command("create")
    .description("create a key and print it (shown once)")
    .option("--team <name>", "team the key belongs to", "default")
    .option("--name <name>", "a note to recognise the key by")
    .option("--data-dir <dir>", "the server's data dir")
    .action(async (opts: { team: string; name?: string }, cmd: Command) => {
      await withStore(dataDirOf(cmd), async (store) => {
        const team = await store.ensureTeam(opts.team);
        const key = generateApiKey();
        await store.addApiKey(team.id, key, opts.name);
        print(key);
      });
    });

  keys
    .command("ls")
    .alias("list")
    .description("list keys (prefixes only)")
    .option("--team <name>", "only this team's keys")
    .option("--json", "print JSON")
    .option("--data-dir <dir>", "the server's data dir")
    .action(async (opts: { team?: string; json?: boolean }, cmd: Command) => {
      await withStore(dataDirOf(cmd), async (store) => {
        const team = opts.team ? await store.findTeamByName(opts.team) : undefined;
        if (opts.team && !team) throw new UserError(`team '${opts.team}' not found`);
        const listed = await store.listApiKeys(team?.id);
        if (opts.json) return printJson(listed);
        printTable(
          ["id", "prefix", "team", "state", "created", "name"],
          listed.map((k) => [
            k.id,
            k.prefix,
            k.teamId,
            k.revokedAt ? "revoked" : "active",
            formatTime(k.createdAt),
            k.name ?? "",
          ]),
        );
      });
    });

  keys
    .command("revoke <idOrPrefix>")
    .description("revoke a key by id or prefix")
    .option("--data-dir <dir>", "the server's data dir")
    .action(async (target: string, _opts: unknown, cmd: Command) => {
      await withStore(dataDirOf(cmd), async (store) => {
        const k = await store.revokeApiKey(target);
        print(`revoked ${k.prefix}`);
      });
    });
}
