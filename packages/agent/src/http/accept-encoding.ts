/** The content codings a download can be served in. */
export type ResponseEncoding = "gzip" | "identity";

interface Weighted {
  coding: string;
  q: number;
}

function parseWeighted(item: string): Weighted {
  const [rawCoding = "", ...params] = item.split(";");
  let q = 1;
  for (const param of params) {
    const [name = "", value = ""] = param.split("=").map((s) => s.trim());
    if (name.toLowerCase() === "q") {
      const parsed = Number(value);
      if (value !== "" && Number.isFinite(parsed)) q = parsed;
    }
  }
  return { coding: rawCoding.trim().toLowerCase(), q };
}

function parseHeader(header: string): Weighted[] {
  return header
    .split(",")
    .map(parseWeighted)
    .filter((w) => w.coding !== "");
}

function identityWeight(items: readonly Weighted[]): number | undefined {
  return items.find((w) => w.coding === "identity")?.q ?? items.find((w) => w.coding === "*")?.q;
}

/** Whether `Accept-Encoding` still allows an unencoded body (it does unless refused, RFC 9110). */
export function acceptsIdentity(header: string | undefined): boolean {
  if (header === undefined || header.trim() === "") return true;
  return identityWeight(parseHeader(header)) !== 0;
}

/**
 * Picks the encoding of a download from `Accept-Encoding` (spec §5.3): gzip when it is the
 * highest-ranked acceptable coding, identity when that is still acceptable (implicitly it is,
 * unless `identity;q=0` or `*;q=0`), otherwise undefined → 406.
 */
export function negotiateEncoding(header: string | undefined): ResponseEncoding | undefined {
  if (header === undefined || header.trim() === "") return "identity";
  const items = parseHeader(header);
  // Stable sort keeps the client's order among equal weights.
  items.sort((a, b) => b.q - a.q);
  const identityQ = identityWeight(items);
  for (const { coding, q } of items) {
    if (q <= 0) continue;
    if (coding === "identity") return "identity";
    if (coding === "gzip") return "gzip";
    if (coding === "*") return identityQ === 0 ? "gzip" : "identity";
  }
  return identityQ === 0 ? undefined : "identity";
}
