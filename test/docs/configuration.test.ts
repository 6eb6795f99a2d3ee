// docs/configuration.md lists every setting of packages/server/src/config.ts, every SANDPIT_*
// variable it reads and every flag of `sandpit serve --help`, each with its default; and it
// lists nothing that does not exist. A new option without a line in the doc fails here.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { loadConfig } from "@sandpit/server";
import ts from "typescript";

const repo = new URL("../..", import.meta.url).pathname;
const CONFIG = join(repo, "packages/server/src/config.ts");
const doc = readFileSync(join(repo, "docs/configuration.md"), "utf8");
const source = readFileSync(CONFIG, "utf8");

/** Property names of the object literal given to `z.object(...)` in `const configSchema = …`. */
function schemaKeys(): string[] {
  const file = ts.createSourceFile(CONFIG, source, ts.ScriptTarget.Latest, true);
  let keys: string[] | undefined;
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && node.name.getText() === "configSchema" && node.initializer) {
      const arg = ts.isCallExpression(node.initializer) ? node.initializer.arguments[0] : undefined;
      if (arg && ts.isObjectLiteralExpression(arg)) {
        keys = arg.properties.flatMap((p) => (p.name ? [p.name.getText()] : []));
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  assert.ok(keys && keys.length > 0, "config.ts no longer has `const configSchema = z.object({…})`");
  return keys;
}

/** The table rows of the doc, as their cells. */
function rows(): string[][] {
  return doc
    .split("\n")
    .filter((l) => l.startsWith("|") && !l.startsWith("|---"))
    .map((l) =>
      l
        .slice(1, -1)
        .split("|")
        .map((c) => c.trim()),
    );
}

function rowOf(key: string): string[] | undefined {
  return rows().find((cells) => cells[2] === `\`${key}\``);
}

test("every setting of config.ts has a row with its default", () => {
  const defaults = loadConfig({}, {}) as unknown as Record<string, unknown>;
  for (const key of schemaKeys()) {
    const row = rowOf(key);
    assert.ok(row, `docs/configuration.md has no row for the setting \`${key}\``);
    const value = defaults[key];
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      assert.equal(row[3], `\`${String(value)}\``, `default of \`${key}\``);
    }
  }
});

test("every SANDPIT_* variable of config.ts is listed, and no other", () => {
  const inCode = new Set(source.match(/\bSANDPIT_[A-Z0-9_]+\b/g) ?? []);
  const inDoc = new Set(doc.match(/\bSANDPIT_[A-Z0-9_]+\b/g) ?? []);
  for (const name of inCode) assert.ok(inDoc.has(name), `docs/configuration.md does not list ${name}`);
  for (const name of inDoc)
    assert.ok(inCode.has(name), `docs/configuration.md lists ${name}, unknown to config.ts`);
});

test("every flag of `sandpit serve --help` is listed, and no other", async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [
    join(repo, "packages/cli/bin/sandpit.mjs"),
    "serve",
    "--help",
  ]);
  const inHelp = new Set([...stdout.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]));
  inHelp.delete("--help");
  assert.ok(inHelp.has("--port"), `unexpected help text:\n${stdout}`);
  const flagCells = rows().map((cells) => cells[0] ?? "");
  const inDoc = new Set(flagCells.flatMap((c) => [...c.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0])));
  for (const flag of inHelp) assert.ok(inDoc.has(flag), `docs/configuration.md does not list ${flag}`);
  for (const flag of inDoc)
    assert.ok(inHelp.has(flag), `docs/configuration.md lists ${flag}, unknown to serve`);
});
