// ops.analyze_samples cost on realistic profiling data: the analysis runs once at the end of a
// profiling run (and on every SLO check), so it should stay well under a second for long runs.
import { analyzeSamples } from '../dist/ops-server/analysis/analyze.js';

function iterations(n) {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const probe = (path, i, p95, codes) => ({ url: `http://127.0.0.1:8080${path}`, method: 'GET', started_at: new Date(t0 + i * 60_000).toISOString(), count: 10, responses: 10, ok: 10, errors: 0, timeouts: 0, status_codes: codes, latency_ms: { min: 1, mean: p95 / 2, p50: p95 / 2, p95, p99: p95 * 1.1, max: p95 * 1.2 }, error_samples: [] });
  return Array.from({ length: n }, (_, i) => ({
    probes: {
      p1: probe('/health', i, 3 + (i % 5), { 200: 10 }),
      p2: probe('/api/orders', i, 20 + (i % 7), { 200: 10 }),
      p3: probe('/api/search', i, 640 + (i % 50), { 200: 10 }),
      p4: probe('/api/checkout', i, 8, { 504: 10 }),
    },
    stats: { sampled_at: new Date(t0 + i * 60_000 + 500).toISOString(), pid: 42, name: 'node', cpu_percent: 30 + (i % 20), rss_bytes: (60 + i * 0.5) * 1048576, threads: 12, open_fds: 30 },
    logs: { path: '/var/log/app.log', error_count: 10 * i, patterns: [], top_messages: [{ message: 'payments timed out', count: 10 * i }] },
  }));
}

function time(its, rounds) {
  analyzeSamples({ iterations: its });
  const t = performance.now();
  for (let r = 0; r < rounds; r++) analyzeSamples({ iterations: its });
  return (performance.now() - t) / rounds;
}

export async function run() {
  const twoHours = iterations(120);
  const day = iterations(1440);
  const bytes = JSON.stringify(twoHours).length;
  return [
    { id: 'analyze_2h_ms', name: 'analyze 2h @1m (120 iterations, 4 endpoints + process + log)', value: time(twoHours, 50), unit: 'ms', goal: { op: '<', value: 100 } },
    { id: 'analyze_24h_ms', name: 'analyze 24h @1m (1440 iterations)', value: time(day, 5), unit: 'ms', goal: { op: '<', value: 1000 } },
    { id: 'samples_2h_json_kib', name: 'samples of a 2h run as JSON', value: bytes / 1024, unit: 'KiB' },
  ];
}
