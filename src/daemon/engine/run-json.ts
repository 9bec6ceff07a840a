import type { RunJson } from '../../protocol/methods/runs.js';
import type { Workflow } from '../../workflows/schema.js';
import type { RunRecord } from './types.js';

/** Durations of earlier successful runs of a workflow, for ETAs. */
export class DurationStats {
  private readonly byWf = new Map<string, { n: number; total: number }>();

  add(workflow: string, ms: number): void {
    const s = this.byWf.get(workflow) ?? { n: 0, total: 0 };
    // a moving window: recent runs weigh more once there are many
    if (s.n >= 50) {
      s.total -= s.total / s.n;
      s.n -= 1;
    }
    s.n += 1;
    s.total += ms;
    this.byWf.set(workflow, s);
  }

  mean(workflow: string): number | null {
    const s = this.byWf.get(workflow);
    return s && s.n > 0 ? s.total / s.n : null;
  }
}

/**
 * Progress: a repeat with `for` reports elapsed/total of that loop; otherwise the run's elapsed
 * time against the mean duration of earlier successful runs; without history, finished top-level
 * steps over all top-level steps (and no ETA).
 */
export function progressOf(run: RunRecord, def: Workflow | undefined, stats: DurationStats, now = Date.now()): RunJson['progress'] {
  if (run.status === 'succeeded') return { fraction: 1, eta: null };
  if (run.status === 'failed' || run.status === 'cancelled') return { fraction: null, eta: null };
  if (!run.started_at || !def) return { fraction: 0, eta: null };
  const cur = run.current_step ? run.steps[run.current_step] : undefined;
  if (cur && cur.for_ms && cur.repeat_started_at && cur.status !== 'succeeded') {
    const elapsed = Math.max(0, now - Date.parse(cur.repeat_started_at));
    const total = cur.for_ms;
    return { fraction: Math.min(1, elapsed / total), eta: new Date(Date.parse(cur.repeat_started_at) + total).toISOString(), elapsed_ms: elapsed, total_ms: total };
  }
  const started = Date.parse(run.started_at);
  const mean = stats.mean(run.workflow);
  if (mean !== null && mean > 0) {
    const elapsed = now - started;
    return { fraction: Math.min(0.99, elapsed / mean), eta: new Date(Math.max(now, started + mean)).toISOString(), elapsed_ms: elapsed, total_ms: Math.round(mean) };
  }
  const done = def.steps.filter((s) => {
    const st = run.steps[s.id];
    return st && (st.status === 'succeeded' || st.status === 'skipped' || st.status === 'failed');
  }).length;
  return { fraction: def.steps.length ? done / def.steps.length : 0, eta: null };
}

export function toRunJson(run: RunRecord, def: Workflow | undefined, stats: DurationStats): RunJson {
  return {
    id: run.id,
    workflow: run.workflow,
    status: run.status,
    params: run.params,
    created_at: run.created_at,
    started_at: run.started_at,
    ended_at: run.ended_at,
    current_step: run.current_step,
    waiting_for: run.waiting_for as RunJson["waiting_for"],
    steps: Object.entries(run.steps).map(([id, s]) => ({
      id,
      status: s.status,
      attempts: s.attempts,
      started_at: s.started_at,
      ended_at: s.ended_at,
      output: s.outputs && s.status !== 'succeeded' ? s.outputs : s.output,
      error: s.error,
      ...(s.usage ? { usage: s.usage } : {}),
      ...(s.warnings?.length ? { warnings: s.warnings } : {}),
      ...(s.agent ? { agent: { turns: s.agent.turns.length, tool_calls: s.agent.calls.map((c) => ({ turn: c.turn, tool: c.name, status: c.status, args_hash: c.args_hash })) } } : {}),
    })),
    progress: progressOf(run, def, stats),
    usage: run.usage,
    error: run.error,
    trigger: run.trigger,
    scheduled_for: run.scheduled_for ?? null,
    catch_up: run.catch_up ?? false,
    pause_requested: run.pause_requested,
    pause_reason: run.pause_reason,
    seq: run.seq,
  };
}
