import type { RunJson } from '../../protocol/methods/runs.js';
import type { Workflow } from '../../workflows/schema.js';
import { TERMINAL_STEP, type RunRecord, type StepState } from './types.js';

/**
 * Durations of earlier successful runs of a workflow, for ETAs. The figures live in the runs
 * summary (store/run-index.ts), which the engine persists with every run that ends, so a start
 * does not have to read every finished run to know them.
 */
export class DurationStats {
  constructor(private byWf: Record<string, { n: number; total: number }> = {}) {}

  /** Takes the stored figures (start). */
  use(byWf: Record<string, { n: number; total: number }>): void {
    this.byWf = byWf;
  }

  add(workflow: string, ms: number): void {
    const s = (this.byWf[workflow] ??= { n: 0, total: 0 });
    // a moving window: recent runs weigh more once there are many
    if (s.n >= 50) {
      s.total -= s.total / s.n;
      s.n -= 1;
    }
    s.n += 1;
    s.total += ms;
  }

  mean(workflow: string): number | null {
    const s = this.byWf[workflow];
    return s && s.n > 0 ? s.total / s.n : null;
  }
}

/**
 * A watch: the run's last top-level step is a timed repeat without `until` (the SLO monitor). Its
 * end is not the point of the run, so it reports checks, breaches and the next check, not an ETA.
 */
function isWatch(def: Workflow, stepId: string): boolean {
  const last = def.steps[def.steps.length - 1];
  return last !== undefined && last.id === stepId && last.repeat !== undefined && last.repeat.until === undefined;
}

/** An iteration is a breach when one of its steps reports an objective not met (`slo.met: false`). */
function isBreach(iteration: unknown): boolean {
  if (!iteration || typeof iteration !== 'object') return false;
  return Object.values(iteration as Record<string, unknown>).some((v) => {
    const slo = v && typeof v === 'object' ? (v as { slo?: { met?: unknown } }).slo : undefined;
    return slo?.met === false;
  });
}

function watchOf(cur: StepState): NonNullable<RunJson['progress']['watch']> {
  const started = Date.parse(cur.repeat_started_at!);
  return {
    checks: cur.iteration ?? cur.outputs?.length ?? 0,
    breaches: (cur.outputs ?? []).filter(isBreach).length,
    next_check: cur.next_at ?? null,
    ends_at: new Date(started + cur.for_ms!).toISOString(),
  };
}

/**
 * Progress: a watch (see isWatch) reports its checks; a repeat with `for` reports elapsed/total of that loop; otherwise the run's elapsed
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
    if (run.current_step && isWatch(def, run.current_step)) return { fraction: Math.min(1, elapsed / total), eta: null, elapsed_ms: elapsed, total_ms: total, watch: watchOf(cur) };
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

/**
 * A step still running or waiting when its run ended did not finish: it was cancelled with the run,
 * or interrupted by the run's failure (a run timeout). Its stored state is left as it was.
 */
function stepStatus(run: RunRecord, s: StepState): { status: string; error: string | null } {
  if (TERMINAL_STEP.has(s.status) || (run.status !== 'cancelled' && run.status !== 'failed')) return { status: s.status, error: s.error };
  if (run.status === 'cancelled') return { status: 'cancelled', error: s.error };
  return { status: 'failed', error: s.error ?? (run.error ? `the run failed: ${run.error}` : 'the run failed') };
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
    steps: Object.entries(run.steps).map(([id, s]) => {
      const { status, error } = stepStatus(run, s);
      return {
        id,
        status,
        attempts: s.attempts,
        started_at: s.started_at,
        ended_at: s.ended_at,
        output: s.outputs && s.status !== 'succeeded' ? s.outputs : s.output,
        error,
        ...(s.usage ? { usage: s.usage } : {}),
        ...(s.warnings?.length ? { warnings: s.warnings } : {}),
        ...(s.agent ? { agent: { turns: s.agent.turns.length, tool_calls: s.agent.calls.map((c) => ({ turn: c.turn, tool: c.name, status: c.status, args_hash: c.args_hash })) } } : {}),
      };
    }),
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
