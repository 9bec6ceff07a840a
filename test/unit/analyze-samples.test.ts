import { describe, expect, it } from 'vitest';
import { AnalyzeOutput } from '../../src/ops-server/analysis/schema.js';
import { linearRegression, percentile } from '../../src/ops-server/analysis/stats.js';
import tool, { analyzeSamples } from '../../src/ops-server/tools/analyze-samples.js';

const T0 = Date.parse('2026-01-01T10:00:00.000Z');
const at = (i: number, stepS = 60) => new Date(T0 + i * stepS * 1000).toISOString();
const BASE = 'http://127.0.0.1:8080';
const MB = 1024 * 1024;

/** An ops.http_probe-shaped result (as the tool returns it). */
function probe(path: string, i: number, o: { p50?: number; p95?: number; p99?: number; max?: number; codes?: Record<string, number>; errors?: number; timeouts?: number; count?: number } = {}) {
  const count = o.count ?? 10;
  const p95 = o.p95 ?? 12 + (i % 3);
  const codes = o.codes ?? { '200': count - (o.errors ?? 0) - (o.timeouts ?? 0) };
  const responses = Object.values(codes).reduce((a, b) => a + b, 0);
  return {
    url: BASE + path,
    method: 'GET',
    started_at: at(i),
    duration_ms: 100,
    count,
    responses,
    ok: codes['200'] ?? 0,
    errors: o.errors ?? 0,
    timeouts: o.timeouts ?? 0,
    status_codes: codes,
    latency_ms: { min: 1, mean: p95 / 2, p50: o.p50 ?? p95 / 2, p95, p99: o.p99 ?? p95 * 1.1, max: o.max ?? p95 * 1.2 },
    error_samples: [],
  };
}

function proc(i: number, cpu: number, rssMb: number) {
  // ops.process_stats-shaped
  return { sampled_at: at(i), sample_ms: 500, query: 'pid 4242', pid: 4242, name: 'demo', count: 1, cpu_percent: cpu, rss_bytes: Math.round(rssMb * MB), threads: 11, open_fds: 24, uptime_s: 100 + i * 60, processes: [] };
}

/** An ops.log_scan-shaped result: a scan of the file's tail, so counts include older lines; no time of its own. */
function logScan(i: number, errors: number, top: { message: string; count: number }[] = []) {
  const occ = errors > 0 ? { line: 1, at: at(0), text: 'ERROR' } : null;
  return {
    path: '/var/log/demo.log',
    file_bytes: 5000 + i * 100,
    bytes_scanned: 5000 + i * 100,
    from_offset: 0,
    lines_scanned: 100 + i * 50,
    error_count: errors,
    patterns: [{ pattern: '\\berror\\b', count: errors, first: occ, last: occ && { ...occ, at: at(i) } }],
    errors_per_minute: [],
    lines_without_time: 0,
    top_messages: top.map((m) => ({ ...m, example: m.message })),
  };
}

/** Ten healthy samples of every kind, with realistic noise. */
function healthyIterations(n = 10) {
  return Array.from({ length: n }, (_, i) => ({
    health: probe('/health', i, { p95: 3 + (i % 4) }),
    orders: probe('/api/orders', i, { p95: 20 + ((i * 7) % 9) }),
    search: probe('/api/search?q=a', i, { p95: 65 + ((i * 5) % 11) }),
    stats: proc(i, 4 + ((i * 3) % 7), 60 + ((i * 13) % 5) - 2),
    logs: logScan(i, 0),
  }));
}

describe('stats helpers', () => {
  it('computes nearest-rank percentiles and a least-squares fit', () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(percentile([], 95)).toBeNull();
    const fit = linearRegression([0, 1, 2, 3].map((x) => ({ x, y: 2 * x + 1 })));
    expect(fit).toMatchObject({ slope: 2, intercept: 1, r2: 1 });
    expect(linearRegression([{ x: 1, y: 1 }])).toBeNull();
  });
});

describe('analyzeSamples', () => {
  it('finds nothing in healthy data', () => {
    const out = analyzeSamples({ iterations: healthyIterations(30) });
    expect(out.findings).toEqual([]);
    expect(out.summary).toMatchObject({ healthy: true, bottlenecks: 0, root_cause: null });
    expect(out.summary.headline).toBe('No performance bottlenecks found in 150 samples');
    expect(out.window.samples).toEqual({ http: 90, process: 30, log: 30, ignored: 0 });
    expect(out.endpoints.map((e) => e.endpoint)).toEqual(['GET /health', 'GET /api/orders', 'GET /api/search?q=a']);
    expect(out.processes[0]).toMatchObject({ target: 'demo#4242', samples: 30 });
    expect(AnalyzeOutput.parse(out)).toEqual(out);
  });

  it('says so when there is nothing to analyze', () => {
    const out = analyzeSamples({});
    expect(out.summary).toMatchObject({ headline: 'No samples to analyze', healthy: true });
    expect(out.window).toMatchObject({ from: null, to: null, duration_ms: 0 });
  });

  it('reports a slow endpoint with its percentile, time and evidence, and nothing else', () => {
    const its = healthyIterations(10).map((it, i) => ({ ...it, search: probe('/api/search?q=a', i, { p50: 610, p95: 640, p99: 700, max: 720 }) }));
    const out = analyzeSamples({ iterations: its });
    expect(out.findings).toHaveLength(1);
    const f = out.findings[0];
    expect(f).toMatchObject({
      id: `latency:${BASE}/api/search?q=a`,
      kind: 'latency',
      severity: 'warning',
      endpoint: '/api/search?q=a',
      metric: 'latency_ms',
      percentile: 'p95',
      value: 640,
      threshold: 500,
      unit: 'ms',
      first_at: at(0),
      last_at: at(9),
      samples_affected: 10,
      samples_total: 10,
      evidence: { p50_ms: 610, p95_ms: 640, p99_ms: 700, max_ms: 720, requests: 100 },
    });
    expect(f.suggested_fix).toMatch(/pool size/);
    expect(f.series?.points).toHaveLength(10);
    expect(out.summary.headline).toBe('Found 1 performance bottleneck');
    expect(out.summary.root_cause).toContain('GET /api/search?q=a is slow: p95 640 ms');
  });

  it('rates latency over the critical threshold as critical, and honours custom thresholds', () => {
    const slow = Array.from({ length: 5 }, (_, i) => probe('/api/report', i, { p95: 2500 }));
    expect(analyzeSamples({ iterations: slow }).findings[0]).toMatchObject({ kind: 'latency', severity: 'critical' });
    const strict = analyzeSamples({ iterations: healthyIterations(5), thresholds: { latency_p95_ms: 50 } });
    expect(strict.findings.map((f) => f.endpoint)).toEqual(['/api/search?q=a']);
  });

  it('tells a spike from sustained slowness', () => {
    const xs = Array.from({ length: 12 }, (_, i) => probe('/api/orders', i, { p95: i === 7 ? 1500 : 20 }));
    const out = analyzeSamples({ iterations: xs });
    expect(out.findings).toHaveLength(1);
    expect(out.findings[0]).toMatchObject({ kind: 'latency_spike', severity: 'info', value: 1500, first_at: at(7), last_at: at(7), samples_affected: 1 });
    expect(out.summary.bottlenecks).toBe(0);
    // two spikes make it a warning
    const two = analyzeSamples({ iterations: xs.map((p, i) => (i === 3 ? probe('/api/orders', 3, { p95: 1200 }) : p)) });
    expect(two.findings[0]).toMatchObject({ kind: 'latency_spike', severity: 'warning', samples_affected: 2, first_at: at(3) });
  });

  it('reports a 5xx rate dominated by 504 as a dependency timeout problem', () => {
    const its = healthyIterations(10).map((it, i) => ({ ...it, checkout: probe('/api/checkout', i, { p95: 8, codes: { '504': 10 } }) }));
    const out = analyzeSamples({ iterations: its });
    expect(out.findings).toHaveLength(1);
    expect(out.findings[0]).toMatchObject({
      kind: 'error_rate',
      severity: 'critical',
      endpoint: '/api/checkout',
      metric: '5xx_rate',
      value: 1,
      threshold: 0.05,
      evidence: { requests: 100, status_5xx: 100, top_status: '504', status_504: 100 },
    });
    expect(out.findings[0].suggested_fix).toMatch(/dependency .* timeout/);
    expect(out.endpoints.find((e) => e.endpoint === 'GET /api/checkout')).toMatchObject({ error_rate: 1, status_codes: { '504': 100 } });
  });

  it('reports a short error burst without calling the whole window failing', () => {
    const xs = Array.from({ length: 20 }, (_, i) => probe('/api/orders', i, i === 13 ? { codes: { '200': 4, '500': 6 } } : {}));
    const out = analyzeSamples({ iterations: xs });
    expect(out.findings).toHaveLength(1);
    expect(out.findings[0]).toMatchObject({ kind: 'error_burst', severity: 'warning', value: 6, first_at: at(13), samples_affected: 1 });
    expect(out.findings[0].suggested_fix).toContain(at(13));
  });

  it('reports timeouts and unreachable targets', () => {
    const hanging = Array.from({ length: 5 }, (_, i) => probe('/api/export', i, { timeouts: 3, codes: { '200': 7 } }));
    expect(analyzeSamples({ iterations: hanging }).findings.map((f) => [f.kind, f.severity])).toEqual([['timeouts', 'critical']]);
    const nulls = { min: null, mean: null, p50: null, p95: null, p99: null, max: null };
    const down = Array.from({ length: 4 }, (_, i) => ({ url: 'http://127.0.0.1:9/health', method: 'GET', started_at: at(i), count: 5, responses: 0, ok: 0, status_codes: {}, errors: 5, timeouts: 0, latency_ms: nulls, error_samples: ['connect ECONNREFUSED 127.0.0.1:9'] }));
    const out = analyzeSamples({ iterations: down });
    expect(out.findings).toHaveLength(1);
    expect(out.findings[0]).toMatchObject({ kind: 'unreachable', severity: 'critical', evidence: { error: 'connect ECONNREFUSED 127.0.0.1:9' } });
  });

  it('reports sustained CPU saturation, not a single busy sample', () => {
    const busy = analyzeSamples({ iterations: Array.from({ length: 10 }, (_, i) => proc(i, 96 + (i % 3), 60)) });
    expect(busy.findings).toHaveLength(1);
    expect(busy.findings[0]).toMatchObject({ kind: 'cpu_saturation', severity: 'critical', target: 'demo#4242', metric: 'cpu_percent', percentile: 'p50', threshold: 70 });
    const warm = analyzeSamples({ iterations: Array.from({ length: 10 }, (_, i) => proc(i, 78, 60)) });
    expect(warm.findings[0]).toMatchObject({ kind: 'cpu_saturation', severity: 'warning', value: 78 });
    const blip = analyzeSamples({ iterations: Array.from({ length: 10 }, (_, i) => proc(i, i === 4 ? 100 : 8, 60)) });
    expect(blip.findings).toEqual([]);
  });

  it('finds a memory growth trend by linear regression, and ignores noise and GC sawtooth', () => {
    const leak = analyzeSamples({ iterations: Array.from({ length: 10 }, (_, i) => proc(i, 5, 60 + i * 4 + (i % 2))) });
    expect(leak.findings).toHaveLength(1);
    const f = leak.findings[0];
    expect(f).toMatchObject({ kind: 'memory_growth', metric: 'rss_growth_mb_per_min', unit: 'MB/min', first_at: at(0), last_at: at(9) });
    expect(f.value).toBeCloseTo(4, 0); // 4 MB per one-minute sample
    expect(f.evidence.r2 as number).toBeGreaterThan(0.95);
    expect(f.evidence.growth_mb as number).toBeGreaterThan(30);
    expect(f.series?.unit).toBe('MB');

    const flat = analyzeSamples({ iterations: Array.from({ length: 20 }, (_, i) => proc(i, 5, 80 + ((i * 7) % 5))) });
    expect(flat.findings).toEqual([]);
    const sawtooth = analyzeSamples({ iterations: Array.from({ length: 20 }, (_, i) => proc(i, 5, 60 + (i % 5) * 10)) });
    expect(sawtooth.findings).toEqual([]);
    // growth that is real but small relative to the process is not a bottleneck
    const slow = analyzeSamples({ iterations: Array.from({ length: 10 }, (_, i) => proc(i, 5, 800 + i)) });
    expect(slow.findings).toEqual([]);
  });

  it('reports log error rates with the top message, for whole-file and incremental scans', () => {
    // the file already held 7 old errors (3 of them timeouts) when sampling began; 10 new ones per interval
    const whole = Array.from({ length: 6 }, (_, i) => ({
      probe: probe('/health', i),
      logs: logScan(i, 7 + 10 * i, [
        { message: 'payments timed out after <n>ms', count: 3 + 10 * i },
        { message: 'disk almost full', count: 4 },
      ]),
    }));
    const out = analyzeSamples({ iterations: whole });
    expect(out.findings).toHaveLength(1);
    expect(out.findings[0]).toMatchObject({
      kind: 'log_errors',
      target: '/var/log/demo.log',
      first_at: at(1), // the scan beside the probe of iteration 1 saw the first new errors
      last_at: at(5),
      samples_affected: 5,
      evidence: { error_lines: 50, per_min: 10, top_message: 'payments timed out after <n>ms' },
    });
    expect(out.logs[0]).toMatchObject({ errors: 50, top_messages: [{ message: 'payments timed out after <n>ms', count: 50 }] });
    expect(out.findings[0].series?.points.map((p) => p.v)).toEqual([0, 10, 10, 10, 10, 10]);

    const inc = Array.from({ length: 6 }, (_, i) => ({ ...logScan(i, 10), incremental: true, at: at(i) }));
    expect(analyzeSamples({ iterations: inc }).logs[0].errors).toBe(60);
    // old errors in the file and a couple of new ones are not a finding
    const quiet = analyzeSamples({ iterations: Array.from({ length: 6 }, (_, i) => ({ p: probe('/health', i), l: logScan(i, i === 5 ? 42 : 40) })) });
    expect(quiet.findings).toEqual([]);
    expect(quiet.logs[0].errors).toBe(2);
  });

  it('reports each fault of a combined run exactly once, most severe first, with a correlated root cause', () => {
    const its = Array.from({ length: 10 }, (_, i) => ({
      health: probe('/health', i, { p95: 4 }),
      search: probe('/api/search?q=a', i, { p95: 650 }),
      checkout: probe('/api/checkout', i, { codes: { '504': 10 } }),
      stats: proc(i, 97, 60 + i * 5),
      logs: logScan(i, 10 * (i + 1), [{ message: 'ERROR POST /api/checkout 504 dependency timeout', count: 10 * (i + 1) }]),
    }));
    const out = analyzeSamples({ iterations: its });
    expect(out.findings.map((f) => f.kind).sort()).toEqual(['cpu_saturation', 'error_rate', 'latency', 'log_errors', 'memory_growth']);
    const ranks = out.findings.map((f) => ({ critical: 0, warning: 1, info: 2 })[f.severity]);
    expect(ranks).toEqual([...ranks].sort());
    expect(out.summary.headline).toBe('Found 5 performance bottlenecks');
    expect(out.summary.root_cause).toMatch(/at the same time/);
  });

  it('reads generic {t, kind, target, data} samples, with times as ISO, epoch ms or seconds', () => {
    const samples = [
      ...Array.from({ length: 6 }, (_, i) => ({ t: T0 + i * 1000, kind: 'http_probe', target: `${BASE}/slow`, data: { count: 5, status_codes: { '200': 5 }, latency_ms: { p50: 900, p95: 990 } } })),
      ...Array.from({ length: 6 }, (_, i) => ({ t: i * 10, kind: 'process_stats', target: 'api', data: { cpu: 3, rss_mb: 100 + i * 20 } })),
      { kind: 'something_else', data: { foo: 1 } },
    ];
    const out = analyzeSamples({ samples, started_at: at(0) });
    expect(out.findings.map((f) => [f.kind, f.target])).toEqual([
      ['memory_growth', 'api'],
      ['latency', `${BASE}/slow`],
    ]);
    expect(out.findings[0].last_at).toBe(new Date(T0 + 50_000).toISOString());
    expect(out.window.samples.ignored).toBe(1);
  });

  it('places samples without times by started_at and interval, and flattens multi-URL probes', () => {
    const its = Array.from({ length: 4 }, (_, i) => ({
      probe: { results: [{ url: `${BASE}/a`, count: 2, status_codes: { '200': 2 }, latency_ms: { p95: 700 } }, { url: `${BASE}/b`, count: 2, status_codes: { '200': 2 }, latency_ms: { p95: 5 } }], index: i },
    }));
    const out = analyzeSamples({ iterations: its, started_at: at(0), interval: '30s' });
    expect(out.endpoints.map((e) => e.endpoint)).toEqual(['GET /a', 'GET /b']);
    expect(out.findings).toHaveLength(1);
    expect(out.findings[0]).toMatchObject({ kind: 'latency', endpoint: '/a', first_at: at(0), last_at: new Date(T0 + 90_000).toISOString() });
  });

  it('does not take an earlier analysis among the iterations for samples', () => {
    const its = healthyIterations(3).map((it) => ({ probe: it.search }));
    const withChecks = its.map((it) => ({ ...it, check: analyzeSamples({ iterations: [it] }) }));
    expect(analyzeSamples({ iterations: withChecks }).window.samples).toEqual({ http: 3, process: 0, log: 0, ignored: 0 });
  });

  it('is deterministic and independent of sample order', () => {
    const its = healthyIterations(12).map((it, i) => ({ ...it, search: probe('/api/search?q=a', i, { p95: 800 }), stats: proc(i, 90, 60 + i * 6) }));
    const a = analyzeSamples({ iterations: its });
    const b = analyzeSamples({ iterations: [...its].reverse() });
    expect(b).toEqual(a);
    expect(JSON.stringify(analyzeSamples({ iterations: its }))).toBe(JSON.stringify(a));
  });
});

describe('SLO objectives', () => {
  const check = (i: number, healthy: boolean) => probe('/api/checkout', i, healthy ? { p95: 30 } : { p95: 8, codes: { '200': 2, '504': 8 } });

  it('reports a breach with its reason and the matching finding', () => {
    const out = analyzeSamples({ iterations: [check(0, false)], objectives: { availability_pct: 99, latency_ms: 500 } });
    expect(out.slo).toMatchObject({
      met: false,
      status: 'breached',
      checks: 1,
      breaching_checks: 1,
      availability_pct: 20,
      reason: 'availability 20% < 99% on GET /api/checkout',
      breach_started_at: at(0),
      recovered_at: null,
      time_to_recovery_ms: null,
    });
    expect(out.findings.map((f) => f.kind)).toEqual(['error_rate']);
    expect(out.thresholds.error_rate).toBeCloseTo(0.01);
    expect(out.summary.root_cause).toMatch(/mostly 504/);
  });

  it('names the log\'s most frequent error in the root cause of failing requests, even with too few error lines for a finding', () => {
    // a breach that began during the check: 3 of its 20 requests failed, and the log has their 3 lines
    const iteration = { probe: probe('/api/checkout', 0, { count: 20, codes: { '200': 17, '504': 3 } }), logs: logScan(0, 3, [{ message: 'payments timed out after <n>ms', count: 3 }]) };
    const out = analyzeSamples({ iterations: [iteration], objectives: { availability_pct: 99, latency_ms: 500 } });
    expect(out.findings.map((f) => f.kind)).toEqual(['error_rate']);
    expect(out.summary.root_cause).toMatch(/mostly 504; most frequent log error: "payments timed out after <n>ms"$/);
    // not for a slow endpoint: a few error lines do not explain latency
    const slow = analyzeSamples({ iterations: [{ probe: probe('/api/checkout', 0, { p95: 900 }), logs: iteration.logs }], objectives: { availability_pct: 99, latency_ms: 500 } });
    expect(slow.summary.root_cause).not.toMatch(/log error/);
  });

  it('measures the time to recovery from the first breaching check to the first good one after the last breach', () => {
    const seq = [true, false, false, true, false, false, false, true, true].map((ok, i) => check(i, ok));
    const out = analyzeSamples({ iterations: seq, objectives: { availability_pct: 99 } });
    expect(out.slo).toMatchObject({ met: true, status: 'recovered', checks: 9, breaching_checks: 5, breach_started_at: at(4), recovered_at: at(7), time_to_recovery_ms: 180_000, time_to_recovery: '3m' });
  });

  it('checks latency objectives at the chosen percentile', () => {
    const slow = Array.from({ length: 3 }, (_, i) => probe('/search', i, { p50: 100, p95: 900, p99: 950 }));
    expect(analyzeSamples({ iterations: slow, objectives: { latency_ms: 800 } }).slo).toMatchObject({ status: 'breached', reason: 'p95 latency 900 ms > 800 ms on GET /search', latency_ms: 900 });
    expect(analyzeSamples({ iterations: slow, objectives: { latency_ms: 800, latency_percentile: 'p50' } }).slo).toMatchObject({ status: 'met', met: true, breach_started_at: null });
  });

  it('says when there is no data, and rejects objectives that say nothing', () => {
    expect(analyzeSamples({ objectives: { availability_pct: 99 } }).slo).toMatchObject({ status: 'no_data', met: false });
    expect(analyzeSamples({ iterations: [check(0, true)] }).slo).toBeNull();
    expect(tool.input.safeParse({ objectives: {} }).success).toBe(false);
    expect(tool.input.safeParse({ objectives: { availability_pct: 120 } }).success).toBe(false);
  });
});

describe('ops.analyze_samples tool', () => {
  const ctx = { allowedCommands: [], signal: new AbortController().signal };

  it('is a read-only ops tool whose output matches its schema', async () => {
    expect(tool.name).toBe('analyze_samples');
    expect(tool.annotations.readOnlyHint).toBe(true);
    const args = tool.input.parse({ iterations: healthyIterations(3) });
    const out = await tool.run(args, ctx);
    expect(tool.output.parse(out)).toEqual(out);
  });

  it('rejects bad input before running', () => {
    expect(tool.input.safeParse({ thresholds: { latency_p95_ms: -1 } }).success).toBe(false);
    expect(tool.input.safeParse({ thresholds: { latency_p95: 100 } }).success).toBe(false); // typo: strict
    expect(tool.input.safeParse({ samples: [{ t: 1 }] }).success).toBe(false); // no data
    expect(tool.input.safeParse({ iterations: 'nope' }).success).toBe(false);
  });
});
