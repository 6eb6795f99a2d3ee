// Finds the fenced code blocks of a Markdown document and the `doc-test` directives written in
// an HTML comment right above each one (see quickstart.test.ts for what the directives mean).

/** What kind of code a block holds, by its fence's language tag. */
export type DocBlockKind = "shell" | "js" | "other";

/** A directive of a `<!-- doc-test: NAME ARG… -->` comment. */
export interface DocDirective {
  name: string;
  args: string[];
}

/** One fenced code block. */
export interface DocBlock {
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  kind: DocBlockKind;
  code: string;
  directives: DocDirective[];
}

const shellLangs = new Set(["sh", "bash", "shell"]);
const jsLangs = new Set(["js", "javascript", "mjs", "ts", "typescript"]);

/** Words and "quoted strings" of a directive comment; `;` separates directives. */
function parseDirectives(text: string, line: number): DocDirective[] {
  const directives: DocDirective[] = [];
  for (const part of text.split(";")) {
    const tokens = [...part.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? "");
    const [name, ...args] = tokens;
    if (!name) continue;
    if (!/^[a-z][a-z-]*$/.test(name)) throw new Error(`line ${line}: bad doc-test directive '${name}'`);
    directives.push({ name, args });
  }
  return directives;
}

/** The code blocks of `markdown`, in document order. */
export function extractDocBlocks(markdown: string): DocBlock[] {
  const lines = markdown.split("\n");
  const blocks: DocBlock[] = [];
  let pending: { directives: DocDirective[]; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] ?? "";
    const comment = /^\s*<!--\s*doc-test:(.*?)-->\s*$/.exec(text);
    if (comment) {
      pending = { directives: parseDirectives(comment[1] ?? "", i + 1), line: i + 1 };
      continue;
    }
    const fence = /^(`{3,})\s*([A-Za-z0-9_-]*)/.exec(text);
    if (!fence) {
      // A directive belongs to the very next block: only blank lines may come between.
      if (pending && text.trim() !== "") {
        throw new Error(`line ${pending.line}: a doc-test comment must stand right above a code block`);
      }
      continue;
    }
    const marker = fence[1] ?? "```";
    const lang = (fence[2] ?? "").toLowerCase();
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !(lines[j] ?? "").startsWith(marker)) body.push(lines[j++] ?? "");
    if (j >= lines.length) throw new Error(`line ${i + 1}: code block is not closed`);
    blocks.push({
      line: i + 1,
      lang,
      kind: shellLangs.has(lang) ? "shell" : jsLangs.has(lang) ? "js" : "other",
      code: `${body.join("\n")}\n`,
      directives: pending?.directives ?? [],
    });
    pending = undefined;
    i = j;
  }
  return blocks;
}

/** The arguments of a block's directive `name`, or undefined when it has none. */
export function directive(block: DocBlock, name: string): string[] | undefined {
  return block.directives.find((d) => d.name === name)?.args;
}
