import { describe, expect, it } from 'vitest';
import { countOf, merge, observe, quantile, type Hist } from '../../src/daemon/stats/histogram.js';

describe('stats histogram', () => {
  it('reads quantiles within 2.5% at any count, and merges by addition', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => 50 + ((i * 7919) % 100_000));
    const h: Hist = {};
    for (const v of values) observe(h, v);
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1];
      expect(Math.abs(quantile(h, q)! - exact) / exact).toBeLessThan(0.026);
    }
    const a: Hist = {};
    const b: Hist = {};
    values.forEach((v, i) => observe(i % 2 ? a : b, v));
    merge(a, b);
    expect(a).toEqual(h);
    expect(countOf(a)).toBe(10_000);
    expect(quantile({}, 0.5)).toBeNull();
    expect(Object.keys(h).length).toBeLessThan(150); // small enough to store per hour and workflow
  });
});
