import { describe, expect, it } from 'vitest';
import { toRunJson } from '../../src/daemon/engine/run-json.js';
import type { RunRecord, StepState } from '../../src/daemon/engine/types.js';
import type { Workflow } from '../../src/workflows/schema.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const iso = (ms: number): string => new Date(T0 + ms).toISOString();

function record(over: Partial<RunRecord>): RunRecord {
  return {
    id: 'r_test1234', workflow: 'w', def_hash: 'h', status: 'running', params: {}, created_at: iso(0), started_at: iso(0), ended_at: null,
    current_step: null, waiting_for: null, steps: {}, usage: { prompt_tokens: 0, completion_tokens: 0, tool_calls: 0 }, error: null,
    trigger: 'cli', actor: 'cli:me', seq: 1, pause_requested: false, pause_reason: null, budget_grants: 0, timeout_at: null, ...over,
  };
}

const step = (over: Partial<StepState>): StepState => ({ status: 'running', attempts: 1, started_at: iso(0), ended_at: null, output: null, error: null, ...over });

describe('run JSON', () => {
  it('lists the steps of a cancelled run that were still in flight as cancelled (the stored states stay)', () => {
    const steps = { one: step({ status: 'succeeded', ended_at: iso(10) }), loop: step({ status: 'waiting' }), 'loop[0].probe': step({ status: 'running' }) };
    const run = record({ status: 'cancelled', ended_at: iso(20), current_step: 'loop', steps });
    const json = toRunJson(run, undefined);
    expect(json.steps.map((s) => [s.id, s.status])).toEqual([['one', 'succeeded'], ['loop', 'cancelled'], ['loop[0].probe', 'cancelled']]);
    expect(run.steps.loop.status).toBe('waiting');
    const failed = toRunJson(record({ status: 'failed', error: 'timed out after 2s in step nap', steps: { nap: step({ status: 'waiting' }) } }), undefined);
    expect(failed.steps[0]).toMatchObject({ status: 'failed', error: 'the run failed: timed out after 2s in step nap' });
  });

  it('a watch (last step a timed repeat without until) reports checks, breaches and the next check instead of an ETA', () => {
    const def = { id: 'slo', steps: [{ id: 'monitor', repeat: { every: '5m', for: '24h' }, steps: [] }] } as unknown as Workflow;
    const outputs = [{ check: { slo: { met: true } } }, { check: { slo: { met: false } } }, { probe: {}, check: { slo: { met: true } } }];
    const monitor = step({ status: 'waiting', for_ms: 86_400_000, every_ms: 300_000, repeat_started_at: iso(0), iteration: 3, outputs, next_at: iso(900_000) });
    const run = record({ status: 'waiting', current_step: 'monitor', steps: { monitor } });
    const json = toRunJson(run, def);
    expect(json.progress.eta).toBeNull();
    expect(json.progress.watch).toMatchObject({ checks: 3, breaches: 1, next_check: iso(900_000), ends_at: iso(86_400_000) });

    // a timed repeat followed by more steps (profiling's sampling) still has an ETA
    const profiling = { id: 'p', steps: [{ id: 'sample', repeat: { every: '1m', for: '2h' }, steps: [] }, { id: 'analyze', tool: 'ops.analyze_samples' }] } as unknown as Workflow;
    const sampling = toRunJson(record({ current_step: 'sample', steps: { sample: step({ for_ms: 7_200_000, every_ms: 60_000, repeat_started_at: iso(0), iteration: 1, outputs: [{}] }) } }), profiling);
    expect(sampling.progress.eta).toBe(iso(7_200_000));
    expect(sampling.progress.watch).toBeUndefined();
  });
});
