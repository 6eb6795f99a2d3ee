import { statSync } from "node:fs";
import { join } from "node:path";
import { createLocalRuntime } from "@sandpit/runtime";
import { loadConfig } from "@sandpit/server";
import type { Command } from "commander";
import { formatTime, print, printJson, printTable } from "../output.js";
import { UserError } from "../user-error.js";

interface TemplateFlags {
  dataDir?: string;
  templatesDir?: string;
  json?: boolean;
}

/** The template cache of a server on this host, as `serve` would open it. */
function templateStoreOf(flags: TemplateFlags, onProgress?: (line: string) => void) {
  const config = loadConfig({ dataDir: flags.dataDir, templatesDir: flags.templatesDir });
  const runtime = createLocalRuntime({
    runtime: config.runtime,
    dataDir: config.dataDir,
    templatesDir: config.templatesDir ?? join(config.dataDir, "templates"),
    prefix: config.prefix,
    addressPool: config.addressPool,
    ...(onProgress ? { onTemplateProgress: onProgress } : {}),
  });
  return { runtime, templates: runtime.templates };
}

/** `sandpit template ls|build`: the templates of a server on this host. */
export function registerTemplate(program: Command): void {
  const template = program.command("template").description("list and build templates (on the server's host)");

  template
    .command("ls")
    .alias("list")
    .description("list templates and whether each is built")
    .option("--data-dir <dir>", "the server's data dir (default /var/lib/sandpit)")
    .option("--templates-dir <dir>", "the template cache (default <data-dir>/templates)")
    .option("--json", "print JSON")
    .action(async (flags: TemplateFlags) => {
      const { runtime, templates } = templateStoreOf(flags);
      try {
        const rows = [...templates.recipes.keys()].map((name) => {
          const built = templates.find(name);
          const at = built ? statSync(built.rootfs).mtimeMs : undefined;
          return { name, built: built !== undefined, rootfs: built?.rootfs ?? null, builtAt: at ?? null };
        });
        if (flags.json) return printJson(rows);
        printTable(
          ["name", "state", "built", "rootfs"],
          rows.map((r) => [
            r.name,
            r.built ? "ready" : "not built",
            formatTime(r.builtAt ?? undefined),
            r.rootfs ?? "-",
          ]),
        );
      } finally {
        await runtime.close();
      }
    });

  template
    .command("build [name]")
    .description("build a template now (otherwise the first sandbox builds it); shows progress")
    .option("--data-dir <dir>", "the server's data dir (default /var/lib/sandpit)")
    .option("--templates-dir <dir>", "the template cache (default <data-dir>/templates)")
    .action(async (name: string | undefined, flags: TemplateFlags) => {
      const started = Date.now();
      const { runtime, templates } = templateStoreOf(flags, (line) => process.stderr.write(`  ${line}\n`));
      try {
        const which = name ?? "base";
        if (!templates.recipes.has(which)) {
          throw new UserError(`no template '${which}'; known: ${[...templates.recipes.keys()].join(", ")}`);
        }
        const was = templates.find(which);
        const built = await templates.ensure(which);
        const took = ((Date.now() - started) / 1000).toFixed(1);
        print(
          was
            ? `${which}: already built at ${built.rootfs}`
            : `${which}: built in ${took} s at ${built.rootfs}`,
        );
      } finally {
        await runtime.close();
      }
    });
}
