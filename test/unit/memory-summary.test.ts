import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/daemon/engine/types.js';
import { summarize } from '../../src/daemon/memory/summary.js';

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
});
