// `npm run bench -- NAME [--json]`: runs one benchmark of bench/NAME.ts.
import { benchmarks } from "./benchmarks.js";

const args = process.argv.slice(2);
const name = args.find((a) => !a.startsWith("--"));
const json = args.includes("--json");
const bench = name ? benchmarks[name] : undefined;
if (!bench) {
  console.error(`usage: npm run bench -- <${Object.keys(benchmarks).join("|")}> [--json]`);
  process.exit(2);
}
const results = await bench({ log: json ? () => undefined : (line) => console.error(line) });
if (json) {
  console.log(JSON.stringify(results));
} else {
  const rows = Object.entries(results).map(([metric, r]) => ({
    metric,
    median: r.median_ms !== undefined ? `${r.median_ms.toFixed(1)} ms` : `${r.mib_per_s?.toFixed(0)} MiB/s`,
    baseline: r.median_ms !== undefined ? `${r.baseline.toFixed(1)} ms` : `${r.baseline.toFixed(0)} MiB/s`,
    ratio: r.ratio.toFixed(2),
    note: r.note ?? "",
  }));
  console.table(rows);
}
