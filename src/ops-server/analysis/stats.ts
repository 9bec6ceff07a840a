/** Small deterministic statistics for sample analysis (no dependencies, no clocks, no randomness). */

/** Nearest-rank percentile (p in 0..100) of the finite values; null when there are none. */
export function percentile(values: readonly number[], p: number): number | null {
  const xs = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const rank = Math.ceil((p / 100) * xs.length);
  return xs[Math.min(xs.length - 1, Math.max(0, rank - 1))];
}

export function median(values: readonly number[]): number | null {
  const xs = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

export function mean(values: readonly number[]): number | null {
  const xs = values.filter(Number.isFinite);
  return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function max(values: readonly number[]): number | null {
  const xs = values.filter(Number.isFinite);
  return xs.length === 0 ? null : Math.max(...xs);
}

export interface LinearFit {
  /** y units per x unit. */
  slope: number;
  intercept: number;
  /** Coefficient of determination, 0..1 (1 when y is constant and so perfectly "fit"). */
  r2: number;
  n: number;
}

/** Ordinary least squares y = slope * x + intercept; null with fewer than 2 distinct x. */
export function linearRegression(points: readonly { x: number; y: number }[]): LinearFit | null {
  const ps = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const n = ps.length;
  if (n < 2) return null;
  const mx = ps.reduce((a, p) => a + p.x, 0) / n;
  const my = ps.reduce((a, p) => a + p.y, 0) / n;
  let sxx = 0, sxy = 0, syy = 0;
  for (const p of ps) {
    sxx += (p.x - mx) ** 2;
    sxy += (p.x - mx) * (p.y - my);
    syy += (p.y - my) ** 2;
  }
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { slope, intercept: my - slope * mx, r2, n };
}

/** At most `limit` points, keeping each bucket's largest value (a chart should still show a spike). */
export function downsample<T extends { v: number | null }>(points: readonly T[], limit: number): T[] {
  if (points.length <= limit) return [...points];
  const out: T[] = [];
  const size = points.length / limit;
  for (let b = 0; b < limit; b++) {
    const bucket = points.slice(Math.floor(b * size), Math.floor((b + 1) * size));
    let best = bucket[0];
    for (const p of bucket) if ((p.v ?? -Infinity) > (best.v ?? -Infinity)) best = p;
    out.push(best);
  }
  return out;
}

export const round = (v: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};
