/**
 * A log-scale histogram of positive values (milliseconds), stored sparse as `{ bucket: count }` so it
 * is small JSON in the store and merges by addition. Bucket i holds [G^i, G^(i+1)) with G = 1.05, so
 * a quantile read from it is within about 2.5% of the exact one, at any count.
 */
export type Hist = Record<string, number>;

const G = 1.05;
const LOG_G = Math.log(G);

export function bucketOf(v: number): number {
  return v < 1 ? 0 : Math.floor(Math.log(v) / LOG_G);
}

export function observe(h: Hist, v: number): void {
  const b = bucketOf(Math.max(0, v));
  h[b] = (h[b] ?? 0) + 1;
}

export function merge(into: Hist, from: Hist): void {
  for (const [b, n] of Object.entries(from)) into[b] = (into[b] ?? 0) + n;
}

export function countOf(h: Hist): number {
  let n = 0;
  for (const c of Object.values(h)) n += c;
  return n;
}

/** Nearest-rank quantile, reported as the geometric middle of its bucket. Null when empty. */
export function quantile(h: Hist, q: number): number | null {
  const entries = Object.entries(h).map(([b, n]) => [Number(b), n] as const).sort((a, b) => a[0] - b[0]);
  const total = entries.reduce((a, [, n]) => a + n, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const [b, n] of entries) {
    seen += n;
    if (seen >= rank) return b === 0 ? 1 : Math.round(G ** (b + 0.5));
  }
  return null;
}
