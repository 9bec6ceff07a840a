import { describe, expect, it } from 'vitest';
import { analyzeSamples } from '../../src/ops-server/analysis/analyze.js';
import { barChart, findAnalysis, formatValue, renderReport, sparkline } from '../../src/ui/report.js';

// report times are local: these expectations are written for a reader in UTC
process.env.TZ = 'UTC';

const T0 = Date.parse('2026-01-01T10:00:00.000Z');
const at = (i: number) => new Date(T0 + i * 5000).toISOString();
const BASE = 'http://127.0.0.1:8080';
const probe = (path: string, i: number, p95: number, codes: Record<string, number> = { '200': 10 }) => ({
  url: BASE + path,
  at: at(i),
  count: 10,
  status_codes: codes,
  errors: 0,
  timeouts: 0,
  latency_ms: { p50: p95 * 0.9, p95, p99: p95 * 1.1, max: p95 * 1.2 },
});

function faultyAnalysis() {
  return analyzeSamples({
    iterations: Array.from({ length: 12 }, (_, i) => ({
      health: probe('/health', i, 3),
      search: probe('/api/search?q=a', i, 600 + (i % 4) * 30),
      checkout: probe('/api/checkout', i, 8, { '504': 10 }),
      stats: { pid: 77, name: 'node', at: at(i), cpu_percent: 6, rss_bytes: 60 * 1048576 },
    })),
  });
}

describe('text charts', () => {
  it('draws a sparkline scaled between min and max, with gaps', () => {
    expect(sparkline([1, 2, 3, 4, 5, 6, 7, 8])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([5, 5, 5])).toBe('▄▄▄');
    expect(sparkline([0, null, 10])).toBe('▁ █');
    expect(sparkline([])).toBe('');
  });

  it('draws bars proportional to the largest value', () => {
    const text = barChart([{ label: 'a', value: 10 }, { label: 'bb', value: 5 }, { label: 'c', value: null }], 10);
    expect(text.split('\n')).toEqual(['a  │██████████ 10', 'bb │█████      5', 'c  │           -']);
  });

  it('formats values in their units', () => {
    expect(formatValue(0.0523, 'ratio')).toBe('5.2%');
    expect(formatValue(640.4, 'ms')).toBe('640 ms');
    expect(formatValue(12.34, 'ms')).toBe('12.3 ms');
    expect(formatValue(4, 'MB/min')).toBe('4 MB/min');
    expect(formatValue(null, 'ms')).toBe('-');
  });
});

describe('renderReport', () => {
  it('shows the headline, a findings table, each finding with evidence and fix, the worst series and per-target tables', () => {
    const text = renderReport(faultyAnalysis(), { id: 'r_abc123', workflow: 'application_profiling', workflow_name: 'Application Performance Profiling', status: 'succeeded', params: { service: 'demo' } });
    const lines = text.split('\n');
    expect(lines[0]).toBe('Application Performance Profiling report r_abc123 (application_profiling, succeeded)');
    expect(text).toContain('Service: demo');
    expect(text).toContain('Window: 2026-01-01 10:00:00 UTC to 10:00:55 (55s), 48 samples: 36 http, 12 process, 0 log');
    expect(text).toContain('Found 2 performance bottlenecks');
    expect(text).toMatch(/Likely root cause: GET \/api\/checkout fails: 100% 5xx/);
    // the findings table: severity, kind, endpoint, metric with percentile, value, threshold, when
    expect(text).toMatch(/1 {2}CRITICAL {2}error_rate +\/api\/checkout +5xx_rate +100% +5% +10:00:00-10:00:55 \(12\/12\)/);
    expect(text).toMatch(/2 {2}WARNING {3}latency +\/api\/search\?q=a +latency_ms p95 +645 ms +500 ms +10:00:00-10:00:55 \(12\/12\)/);
    expect(text).toContain('1. [critical] GET /api/checkout fails: 100% 5xx (threshold 5%), mostly 504');
    expect(text).toContain('evidence: requests=120 status_5xx=120 top_status=504 status_504=120');
    expect(text).toMatch(/fix: 504 means a dependency behind \/api\/checkout/);
    expect(text).toMatch(/fix: Every request to \/api\/search\?q=a waits on something/);
    // the worst finding's series as a sparkline and a bar chart
    expect(text).toContain('Worst series (finding 1): failed requests of GET /api/checkout (%), 12 samples 10:00:00-10:00:55');
    expect(text).toMatch(/ {2}10:00:00 │█{40} 100%/);
    expect(text).toMatch(/GET \/api\/search\?q=a +12 +120 +581 ms +645 ms +710 ms +828 ms +0% +200:120/);
    expect(text).toMatch(/node#77 +12 +6% +6% +60 MB +60 MB +0 MB\/min/);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(120);
  });

  it('says plainly when nothing was found', () => {
    const healthy = analyzeSamples({ iterations: Array.from({ length: 5 }, (_, i) => ({ h: probe('/health', i, 3) })) });
    const text = renderReport(healthy, { id: 'r_ok' });
    expect(text).toContain('No performance bottlenecks found in 5 samples');
    expect(text).not.toContain('Findings');
    expect(text).not.toContain('Worst series');
    expect(text).toContain('GET /health');
  });

  it('keeps a long series to a few bar rows', () => {
    const a = analyzeSamples({ iterations: Array.from({ length: 100 }, (_, i) => ({ s: probe('/slow', i, 700 + i) })) });
    const text = renderReport(a, {}, { chartRows: 10 });
    const bars = text.split('\n').filter((l) => l.includes('│'));
    expect(bars).toHaveLength(10);
    expect(bars[9]).toMatch(/799 ms$/); // each row shows its bucket's largest value
  });
});

describe('renderReport with SLO objectives', () => {
  it('shows the objectives, the breach and the time to recovery', () => {
    const seq = [false, false, true].map((ok, i) => probe('/api/checkout', i, 10, ok ? { '200': 10 } : { '504': 10 }));
    const text = renderReport(analyzeSamples({ iterations: seq, objectives: { availability_pct: 99.5, latency_ms: 300 } }), { id: 'r_slo1' }, { width: 200 });
    expect(text.split('\n')[0]).toBe('SLO report r_slo1');
    expect(text).toContain('SLO RECOVERED (availability >= 99.5%, p95 <= 300 ms): observed availability 33.3%, p95 10 ms over 3 check(s), 2 breaching');
    expect(text).toContain('Breach since 2026-01-01 10:00:00 UTC: availability 0% < 99.5% on GET /api/checkout; restored at 10:00:10, time to recovery 10s');
  });
});

describe('findAnalysis', () => {
  it('finds the analysis among step outputs, also as JSON text', () => {
    const a = faultyAnalysis();
    expect(findAnalysis([{ id: 'sample', output: [1, 2] }, { id: 'analyze', output: a }, { id: 'report', output: { delivered_to: [] } }])).toEqual({ step: 'analyze', analysis: a });
    expect(findAnalysis([{ id: 'crunch', output: JSON.stringify(a) }])?.step).toBe('crunch');
    expect(findAnalysis([{ id: 'sample', output: { latency: 3 } }])).toBeNull();
  });

  it('reads JSON text only when it can hold one, and misses none: keys spelled with \\u escapes are still found', () => {
    const a = faultyAnalysis();
    // what a run's end sees most: many tool outputs that are JSON text of something else
    const noise = Array.from({ length: 50 }, (_, i) => ({ id: `call${i}`, output: JSON.stringify({ content: [{ type: 'text', text: `echo ${i}` }] }) }));
    expect(findAnalysis([...noise, { id: 'crunch', output: JSON.stringify(a) }, ...noise])?.step).toBe('crunch');
    const escaped = JSON.stringify(a).replace(/"summary"/g, '"\\u0073ummary"');
    expect(escaped).not.toContain('summary');
    expect(findAnalysis([...noise, { id: 'escaped', output: escaped }])).toEqual({ step: 'escaped', analysis: a });
    expect(findAnalysis(noise)).toBeNull();
  });
});
