// Version gates of the agent (spec §8) need only MAJOR.MINOR.PATCH comparison.

/** Compares two `MAJOR.MINOR.PATCH` versions: negative, zero or positive; unparsable parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/, 3).map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split(/[.+-]/, 3).map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
