import { Sandbox, type SandboxInfo } from "@sandpit/sdk";
import type { Command } from "commander";
import { type ClientFlags, type ClientOptions, resolveClientOptions } from "../client-options.js";
import { formatBytes, formatTime, print, printJson, printTable } from "../output.js";
import { collectPair, parseDurationSec, parsePositiveInt } from "../parse-options.js";
import { UserError } from "../user-error.js";

/** Adds the server flags to a client command, so they work after its name too. */
export function clientCommand(program: Command, spec: string): Command {
  return program
    .command(spec)
    .option("--url <url>", "server URL (env SANDPIT_URL or E2B_API_URL; default http://localhost:3000)")
    .option("--api-key <key>", "API key (env SANDPIT_API_KEY or E2B_API_KEY)");
}

/** The connection options of a command, from its flags and the environment. */
export function clientOf(cmd: Command): ClientOptions {
  return resolveClientOptions(cmd.optsWithGlobals() as ClientFlags);
}

const STATES = ["running", "paused"] as const;

function infoRow(s: SandboxInfo): string[] {
  const meta = Object.entries(s.metadata ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return [s.sandboxId, s.name ?? s.templateId, s.state, formatTime(s.startedAt), formatTime(s.endAt), meta];
}

async function requestLogs(
  client: ClientOptions,
  id: string,
): Promise<{ timestamp: string; level: string; message: string }[]> {
  const res = await fetch(`${client.apiUrl}/sandboxes/${encodeURIComponent(id)}/logs`, {
    headers: { "X-API-Key": client.apiKey },
  });
  const body = (await res.json().catch(() => ({}))) as {
    message?: string;
    logEntries?: { timestamp: string; level: string; message: string }[];
  };
  if (res.status === 404) throw new UserError(`sandbox '${id}' not found`);
  if (!res.ok) throw new UserError(`${res.status}: ${body.message ?? res.statusText}`);
  return body.logEntries ?? [];
}

/** `ls`, `create`, `kill`, `pause`, `resume`, `logs`, `metrics`: sandboxes through the REST API. */
export function registerSandboxCommands(program: Command): void {
  clientCommand(program, "ls")
    .alias("list")
    .description("list sandboxes")
    .option("--state <states>", "running, paused or both (comma-separated)", "running,paused")
    .option("--metadata <key=value>", "only sandboxes with this metadata (repeatable)", collectPair)
    .option("--limit <n>", "at most this many", parsePositiveInt)
    .option("--json", "print JSON")
    .action(
      async (
        opts: { state: string; metadata?: Record<string, string>; limit?: number; json?: boolean },
        cmd: Command,
      ) => {
        const states = opts.state.split(",").map((s) => s.trim());
        for (const s of states) {
          if (!(STATES as readonly string[]).includes(s))
            throw new UserError(`--state takes ${STATES.join(", ")}`, 2);
        }
        const paginator = Sandbox.list({
          ...clientOf(cmd),
          query: {
            state: states as ("running" | "paused")[],
            ...(opts.metadata ? { metadata: opts.metadata } : {}),
          },
          limit: Math.min(opts.limit ?? 100, 100),
        });
        const items: SandboxInfo[] = [];
        while (paginator.hasNext && (opts.limit === undefined || items.length < opts.limit)) {
          items.push(...(await paginator.nextItems()));
        }
        const shown = opts.limit === undefined ? items : items.slice(0, opts.limit);
        if (opts.json) return printJson(shown);
        if (shown.length === 0) return print("no sandboxes");
        printTable(["id", "template", "state", "started", "ends", "metadata"], shown.map(infoRow));
      },
    );

  clientCommand(program, "create [template]")
    .description("create a sandbox and print its id")
    .option("--timeout <duration>", "lifetime: seconds, or 90s, 10m, 1h (default 5m)", parseDurationSec)
    .option("--metadata <key=value>", "metadata (repeatable)", collectPair)
    .option("--env <KEY=VALUE>", "environment variable of every command (repeatable)", collectPair)
    .option("--no-internet", "no outbound internet access")
    .option("--auto-pause", "pause instead of kill at the end of its lifetime")
    .option("--json", "print JSON")
    .action(
      async (
        template: string | undefined,
        opts: {
          timeout?: number;
          metadata?: Record<string, string>;
          env?: Record<string, string>;
          internet: boolean;
          autoPause?: boolean;
          json?: boolean;
        },
        cmd: Command,
      ) => {
        const sandbox = await Sandbox.create(template ?? "base", {
          ...clientOf(cmd),
          ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout * 1000 } : {}),
          ...(opts.metadata ? { metadata: opts.metadata } : {}),
          ...(opts.env ? { envs: opts.env } : {}),
          allowInternetAccess: opts.internet,
          ...(opts.autoPause ? { autoPause: true } : {}),
        });
        if (opts.json) return printJson(await sandbox.getInfo());
        print(sandbox.sandboxId);
      },
    );

  clientCommand(program, "kill <ids...>")
    .description("kill sandboxes (running or paused)")
    .action(async (ids: string[], _opts: unknown, cmd: Command) => {
      const client = clientOf(cmd);
      const missing: string[] = [];
      for (const id of ids) {
        if (await Sandbox.kill(id, client)) print(`killed ${id}`);
        else missing.push(id);
      }
      if (missing.length > 0) throw new UserError(`not found: ${missing.join(" ")}`);
    });

  clientCommand(program, "pause <id>")
    .description("pause a sandbox: its processes and files are kept")
    .option("--no-memory", "keep only the files: its processes end, and resume boots it afresh")
    .action(async (id: string, opts: { memory: boolean }, cmd: Command) => {
      await Sandbox.pause(id, { ...clientOf(cmd), keepMemory: opts.memory });
      print(opts.memory ? `paused ${id}` : `paused ${id} (files only)`);
    });

  clientCommand(program, "resume <id>")
    .description("resume a paused sandbox under the same id")
    .option("--timeout <duration>", "lifetime from now: seconds, or 90s, 10m, 1h", parseDurationSec)
    .action(async (id: string, opts: { timeout?: number }, cmd: Command) => {
      await Sandbox.connect(id, {
        ...clientOf(cmd),
        ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout * 1000 } : {}),
      });
      print(`resumed ${id}`);
    });

  clientCommand(program, "info <id>")
    .description("show one sandbox")
    .option("--json", "print JSON")
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const info = await Sandbox.getInfo(id, clientOf(cmd));
      if (opts.json) return printJson(info);
      printTable(["id", "template", "state", "started", "ends", "metadata"], [infoRow(info)]);
    });

  clientCommand(program, "logs <id>")
    .description("show a sandbox's lifecycle log")
    .option("--json", "print JSON")
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const entries = await requestLogs(clientOf(cmd), id);
      if (opts.json) return printJson(entries);
      for (const e of entries) print(`${formatTime(e.timestamp)}  ${e.level.padEnd(5)}  ${e.message}`);
    });

  clientCommand(program, "metrics <id>")
    .description("show a sandbox's resource samples")
    .option("--json", "print JSON")
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const samples = await Sandbox.getMetrics(id, clientOf(cmd));
      if (opts.json) return printJson(samples);
      if (samples.length === 0) return print("no samples yet");
      printTable(
        ["time", "cpu", "memory", "disk"],
        samples.map((m) => [
          formatTime(m.timestamp),
          `${m.cpuUsedPct.toFixed(1)}% of ${m.cpuCount}`,
          `${formatBytes(m.memUsed)} / ${formatBytes(m.memTotal)}`,
          `${formatBytes(m.diskUsed)} / ${formatBytes(m.diskTotal)}`,
        ]),
      );
    });
}
