import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config/schema.js';
import { AnalyzeOutput } from '../../src/ops-server/analysis/schema.js';
import { analyzeSamples } from '../../src/ops-server/tools/analyze-samples.js';
import { approvalDecision } from '../../src/daemon/chat/intent.js';

// The pieces of the stories that are pure functions: remediations attached to findings by the
// deterministic analysis and the verification of an applied fix, the `services:` config section,
// and the thread replies that count as a decision on an approval.

const T0 = Date.parse('2026-01-01T10:00:00.000Z');
const BASE = 'http://127.0.0.1:8080';

/** An ops.http_probe-shaped result. */
function probe(path: string, i: number, p95: number, codes: Record<string, number> = { '200': 10 }) {
  const count = Object.values(codes).reduce((a, b) => a + b, 0);
  return {
    url: BASE + path,
    method: 'GET',
    started_at: new Date(T0 + i * 60_000).toISOString(),
    duration_ms: 100,
    count,
    responses: count,
    ok: codes['200'] ?? 0,
    errors: 0,
    timeouts: 0,
    status_codes: codes,
    latency_ms: { min: 1, mean: p95 / 2, p50: p95 / 2, p95, p99: p95 * 1.1, max: p95 * 1.2 },
    error_samples: [],
  };
}

const slowSearch = (n: number, p95: number) => Array.from({ length: n }, (_, i) => ({ search: probe('/api/search?q=a', i, p95), checkout: probe('/api/checkout', i, 20, { '504': 10 }) }));

const REMEDIATIONS = {
  'latency:/api/search': { method: 'POST' as const, path: '/admin/pool', body: { size: 20 }, description: 'raise the search pool' },
  '/api/checkout': { method: 'POST' as const, path: '/admin/timeout', body: { ms: 2000 } },
  cpu_saturation: { method: 'POST' as const, path: '/admin/restart-worker' },
};

describe('remediations in the analysis', () => {
  it('attaches the most specific mapping to each finding and names the worst one', () => {
    const out = analyzeSamples({ iterations: slowSearch(6, 640), remediations: REMEDIATIONS, base_url: BASE });
    const byKind = Object.fromEntries(out.findings.map((f) => [`${f.kind} ${f.endpoint}`, f.remediation]));
    expect(byKind['latency /api/search?q=a']).toMatchObject({ key: 'latency:/api/search', method: 'POST', url: `${BASE}/admin/pool`, body: { size: 20 }, call: 'POST /admin/pool {"size":20}', subject: '/api/search?q=a p95 latency 640 ms (limit 500 ms)' });
    expect(byKind['error_rate /api/checkout']).toMatchObject({ key: '/api/checkout', url: `${BASE}/admin/timeout`, call: 'POST /admin/timeout {"ms":2000}' });
    // the critical 504s come first, so theirs is the remediation the run offers
    expect(out.remediation?.finding_id).toBe(`error_rate:${BASE}/api/checkout`);
    expect(AnalyzeOutput.parse(out)).toEqual(out);
  });

  it('without a mapping the output is as before (no remediation fields)', () => {
    const out = analyzeSamples({ iterations: slowSearch(6, 640) });
    expect(out).not.toHaveProperty('remediation');
    expect(out.findings.every((f) => !('remediation' in f))).toBe(true);
    const unmapped = analyzeSamples({ iterations: slowSearch(6, 640), remediations: { memory_growth: { method: 'POST', path: '/admin/restart-worker' } } });
    expect(unmapped.remediation).toBeNull();
  });

  it('rejects a mapping that is not one HTTP call', () => {
    expect(() => analyzeSamples({ remediations: { latency: { method: 'POST', path: '/a', url: 'http://x/b' } } })).toThrow(/exactly one of path/);
    expect(() => analyzeSamples({ remediations: { latency: { method: 'POST', path: 'admin/pool' } } })).toThrow(/a path starts with \//);
    expect(() => analyzeSamples({ remediations: { latency: { method: 'SHUTDOWN', path: '/x' } as never } })).toThrow();
  });

  it('verifies an applied fix on new samples of the same target, honestly', () => {
    const before = analyzeSamples({ iterations: slowSearch(6, 640), remediations: { 'latency:/api/search': REMEDIATIONS['latency:/api/search'] }, base_url: BASE });
    const fix = before.findings.find((f) => f.kind === 'latency')!.remediation!;
    const fixed = analyzeSamples({ iterations: [0, 1, 2].map((i) => ({ p: probe('/api/search?q=a', i, 70) })), verify: fix });
    expect(fixed.verification).toMatchObject({ confirmed: true, before: 640, after: 70, unit: 'ms', samples: 3, target: `${BASE}/api/search?q=a`, metric: 'latency_ms', percentile: 'p95', label: '/api/search p95 latency', effect: '/api/search p95 latency 640 ms -> 70 ms', text: 'Fix confirmed: /api/search p95 latency 640 ms -> 70 ms' });
    const still = analyzeSamples({ iterations: [0, 1, 2].map((i) => ({ p: probe('/api/search?q=a', i, 610) })), verify: fix });
    expect(still.verification).toMatchObject({ confirmed: false, text: 'Fix not confirmed: /api/search p95 latency 640 ms -> 610 ms (still over the 500 ms threshold)' });
    const none = analyzeSamples({ iterations: [{ p: probe('/health', 0, 3) }], verify: fix });
    expect(none.verification?.confirmed).toBe(false);
    expect(none.verification?.text).toMatch(/^Fix not confirmed: no new samples of \/api\/search\?q=a/);
    expect(none.verification?.effect).toBeNull();
  });

  it('a CPU verdict names the process, the metric and its percentile, and compares median with median', () => {
    const proc = (i: number, cpu: number) => ({ sampled_at: new Date(T0 + i * 60_000).toISOString(), sample_ms: 500, query: 'pid 4242', pid: 4242, name: 'demo', count: 1, cpu_percent: cpu, rss_bytes: 100 * 1024 * 1024, threads: 11, open_fds: 24, uptime_s: 100 + i * 60, processes: [] });
    const busy = analyzeSamples({ iterations: [99, 99, 98, 99, 99, 99].map((c, i) => ({ s: proc(i, c) })), remediations: { cpu_saturation: REMEDIATIONS.cpu_saturation }, base_url: BASE });
    const fix = busy.remediation!;
    expect(fix.kind).toBe('cpu_saturation');
    // mean 21.7, median 5.3: the finding was a median, so is its verdict
    const after = analyzeSamples({ iterations: [5.3, 5.1, 60, 5.4, 5.3].map((c, i) => ({ s: proc(10 + i, c) })), verify: fix });
    expect(after.verification).toMatchObject({ confirmed: true, label: 'demo#4242 CPU p50', before: 99, after: 5.3, unit: '%', text: 'Fix confirmed: demo#4242 CPU p50 99% -> 5.3%' });
  });
});

describe('services: in config.yaml', () => {
  it('takes param defaults per service and per workflow, and refuses keys that are not param names', () => {
    const ok = ConfigSchema.parse({ services: { 'demo-service': { url: 'http://127.0.0.1:8080', endpoints: ['/health'], workflows: { slo: { url: 'http://127.0.0.1:8080/api/checkout' } } } } });
    expect(ok.services['demo-service']).toMatchObject({ url: 'http://127.0.0.1:8080', workflows: { slo: { url: 'http://127.0.0.1:8080/api/checkout' } } });
    expect(ConfigSchema.parse({}).services).toEqual({});
    expect(ConfigSchema.safeParse({ services: { 'demo service': {} } }).success).toBe(false);
    const bad = ConfigSchema.safeParse({ services: { demo: { 'End-Points': [] } } });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain('is not a param name');
  });
});

describe('a thread reply that decides an approval', () => {
  it('takes short yes/no phrases only', () => {
    for (const t of ['fix it', 'Fix it!', 'go ahead', 'approve', 'yes, fix it', 'ok do it', 'please apply the fix', 'LGTM']) expect(approvalDecision(t), t).toBe('approved');
    for (const t of ['not now', "don't", 'reject', 'no, leave it', 'Don’t fix it', 'hold off']) expect(approvalDecision(t), t).toBe('rejected');
    for (const t of ['why?', 'show me the details', 'can we fix it later?', 'I think we should fix it after lunch', 'fixed?', '']) expect(approvalDecision(t), t).toBeNull();
  });
});
