/** Writes one line to standard output. */
export function print(line = ""): void {
  process.stdout.write(`${line}\n`);
}

/** Writes a value as JSON for scripts. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows under upper-case headers, columns padded to their widest cell. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  print(line(headers.map((h) => h.toUpperCase())));
  for (const r of rows) print(line(r));
}

/** A time as a short local ISO string, or "-". */
export function formatTime(value: Date | string | number | undefined): string {
  if (value === undefined) return "-";
  const d = new Date(value);
  return Number.isNaN(d.getTime())
    ? "-"
    : d
        .toISOString()
        .replace("T", " ")
        .replace(/\.\d+Z$/, "Z");
}

/** Bytes as B, KiB, MiB or GiB with one decimal. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
