import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/daemon/engine/types.js';
import { summarize } from '../../src/daemon/memory/summary.js';
import { analyzeSamples } from '../../src/ops-server/tools/analyze-samples.js';

function run(steps: RunRecord['steps'], params: Record<string, unknown> = { service: 'checkout' }): RunRecord {
  return {
    id: 'r_test0001', workflow: 'investigate', def_hash: 'x', status: 'succeeded', params, created_at: '2026-11-30T00:00:00Z', started_at: '2026-11-30T00:00:00Z', ended_at: '2026-11-30T00:10:00Z',
    current_step: null, waiting_for: null, steps, usage: { prompt_tokens: 0, completion_tokens: 0, tool_calls: 0 }, error: null, trigger: 'cli', actor: 'cli:me', seq: 1,
    pause_requested: false, pause_reason: null, budget_grants: 0, timeout_at: null,
  };
}

const st = (output: unknown, extra: Partial<RunRecord['steps'][string]> = {}): RunRecord['steps'][string] => ({ status: 'succeeded', attempts: 1, started_at: null, ended_at: null, output, error: null, ...extra });

describe('run summaries', () => {
  it('keep what was found and what fixed it, and never a secret', () => {
    const s = summarize(
      run({
        think: st({ summary: 'pool exhausted; token xoxb-1234567890-abcdefghijkl leaked in logs', fixes: ['raise the pool to 20', 'rotate AKIAABCDEFGHIJKLMNOP'] }),
        gate: st({ decision: 'approved', by: 'slack:U0123', comment: 'go' }),
      }),
      [/\bcust-[0-9]+\b/g],
    );
    expect(s.service).toBe('checkout');
    expect(s.findings.join(' ')).toContain('pool exhausted');
    expect(s.fixes).toEqual(expect.arrayContaining(['raise the pool to 20', 'approved by slack:U0123 (go)']));
    expect(JSON.stringify(s)).not.toMatch(/xoxb-1234567890|AKIAABCDEFGHIJKLMNOP/);
    const custom = summarize(run({ think: st({ summary: 'customer cust-991 saw 504s' }) }), [/\bcust-[0-9]+\b/g]);
    expect(custom.text).not.toContain('cust-991');
  });

  it('an SLO watch: the remediation approved in one breach is kept with its effect, the one rejected in another with the comment', () => {
    const T0 = Date.parse('2026-11-30T00:00:00Z');
    const probe = (i: number, code: string) => ({ url: 'http://127.0.0.1:8080/api/checkout', method: 'GET', started_at: new Date(T0 + i * 30_000).toISOString(), duration_ms: 100, count: 10, responses: 10, ok: code === '200' ? 10 : 0, errors: 0, timeouts: 0, status_codes: { [code]: 10 }, latency_ms: { min: 1, mean: 5, p50: 5, p95: 9, p99: 9, max: 9 }, error_samples: [] });
    const objectives = { availability_pct: 99, latency_ms: 500, latency_percentile: 'p95' as const };
    const check = (i: number, code: string) => analyzeSamples({ iterations: [probe(i, code)], objectives });
    const breach = (i: number, decision: object, fixed: boolean) => ({
      probe: probe(i, '504'),
      check: check(i, '504'),
      approve: decision,
      ...(fixed ? { remediate: { url: 'http://127.0.0.1:8080/admin/timeout', method: 'POST', status: 200, ok: true, body: '{}' } } : {}),
      recheck: [{ reprobe: probe(i + 1, fixed ? '200' : '504'), verify: check(i + 1, fixed ? '200' : '504') }],
      recovery: analyzeSamples({ iterations: [probe(i, '504'), probe(i + 1, fixed ? '200' : '504')], objectives }),
    });
    const monitor = [
      { probe: probe(0, '200'), check: check(0, '200') },
      breach(1, { decision: 'approved', by: 'slack:U0BOB', comment: 'fix it', at: '2026-11-30T00:00:40Z' }, true),
      breach(5, { decision: 'rejected', by: 'cli:alice', comment: 'payments is in maintenance', at: '2026-11-30T00:03:00Z' }, false),
    ];
    const s = summarize(run({ monitor: st(monitor) }, { service: 'checkout', remediation_url: 'http://127.0.0.1:8080/admin/timeout', remediation_method: 'POST' }));
    expect(s.applied).toEqual([expect.objectContaining({ fix: 'POST http://127.0.0.1:8080/admin/timeout', by: 'slack:U0BOB', comment: 'fix it', effect: 'checkout availability 0% -> 100%, recovered in 30s', confirmed: true })]);
    expect(s.rejected).toEqual([expect.objectContaining({ proposal: 'POST http://127.0.0.1:8080/admin/timeout', by: 'cli:alice', comment: 'payments is in maintenance' })]);
    expect(s.rejected![0].for).toMatch(/^availability 0% < 99% on GET \/api\/checkout/);
    expect(s.text).toContain('fix rejected: POST http://127.0.0.1:8080/admin/timeout');
  });
});
