import { clearChildren, topLevel } from './step-paths.js';
import type { RunRecord, StepState, WaitingFor } from './types.js';

/**
 * Every change to a run is an event; this applies one to the record. The main thread runs it before
 * committing event + record in one batch; workers run it on their copy so both sides agree.
 * Events are plain data: `{ type, at, step?, ... }`.
 */
export type AnyEvent = { type: string; at: string; step?: string; [k: string]: unknown };

export function applyEvent(run: RunRecord, e: AnyEvent): void {
  const at = e.at;
  const steps = run.steps;
  const path = e.step;
  switch (e.type) {
    case 'run.created':
      break;
    case 'run.queued':
      run.status = 'queued';
      break;
    case 'run.started':
      run.status = 'running';
      run.started_at ??= at;
      break;
    case 'run.recovered':
      break;
    case 'step.started': {
      const p = path!;
      const cur = steps[p];
      const rerun = e.rerun === true;
      if (cur && !rerun && (e.attempt as number) > cur.attempts) clearChildren(steps, p);
      const fresh = !cur || (!rerun && (e.attempt as number) > cur.attempts);
      const next: StepState = {
        ...(fresh ? {} : cur),
        status: 'running',
        attempts: e.attempt as number,
        started_at: fresh || !cur?.started_at ? at : cur.started_at,
        ended_at: null,
        output: null,
        error: null,
        retry_at: null,
      };
      if (e.for_ms !== undefined) {
        next.for_ms = e.for_ms as number | null;
        next.every_ms = e.every_ms as number;
        next.repeat_started_at = fresh ? at : (cur?.repeat_started_at ?? at);
        next.iteration = fresh ? 0 : (cur?.iteration ?? 0);
        next.outputs = fresh ? [] : (cur?.outputs ?? []);
        next.next_at = fresh ? null : (cur?.next_at ?? null);
      }
      steps[p] = next;
      if (!p.includes('.') && !p.includes('[')) run.current_step = p;
      else run.current_step = topLevel(p);
      break;
    }
    case 'step.succeeded':
      steps[path!] = { ...(steps[path!] ?? blank()), status: 'succeeded', output: e.output ?? null, ended_at: at, error: null };
      break;
    case 'step.skipped':
      steps[path!] = { ...blank(), status: 'skipped', ended_at: at };
      break;
    case 'step.failed': {
      const st = (steps[path!] ??= blank());
      st.error = e.error as string;
      st.ended_at = at;
      st.attempts = Math.max(st.attempts, (e.attempt as number) ?? 1);
      if (e.retry_at) {
        st.status = 'retrying';
        st.retry_at = e.retry_at as string;
        run.status = 'waiting';
        run.waiting_for = { kind: 'retry', step: path!, until: e.retry_at as string };
      } else {
        st.status = 'failed';
        st.retry_at = null;
      }
      break;
    }
    case 'step.waiting': {
      const st = (steps[path!] ??= blank());
      st.status = 'waiting';
      run.status = 'waiting';
      run.waiting_for = e.waiting_for as WaitingFor;
      break;
    }
    case 'repeat.iteration': {
      const st = steps[path!];
      st.outputs = [...(st.outputs ?? []), e.output];
      st.iteration = (e.index as number) + 1;
      st.next_at = (e.next_at as string | null) ?? null;
      const prefix = `${path}[${e.index as number}].`;
      for (const k of Object.keys(steps)) if (k.startsWith(prefix)) delete steps[k];
      break;
    }
    case 'timer.fired': {
      // the wait is over: a timer step succeeds, a retry or repeat may proceed
      const st = steps[path!];
      if (st) {
        if (e.kind === 'timer' && st.every_ms === undefined) Object.assign(st, { status: 'succeeded', output: { woke_at: at }, ended_at: at });
        else if (e.kind === 'timer') Object.assign(st, { status: 'running', next_at: null });
        else if (e.kind === 'retry') st.retry_at = null;
      }
      run.waiting_for = null;
      if (run.status === 'waiting') run.status = 'running';
      break;
    }
    case 'approval.answered': {
      const st = steps[path!];
      const output = { decision: e.decision, by: e.by, ...(e.comment ? { comment: e.comment } : {}), at, ...(e.policy ? { policy: true } : {}) };
      if (e.decision === 'rejected' && e.fail_on_reject) Object.assign(st, { status: 'failed', output, ended_at: at, error: `approval rejected by ${e.by as string}${e.comment ? `: ${e.comment as string}` : ''}` });
      else Object.assign(st, { status: 'succeeded', output, ended_at: at, error: null });
      run.waiting_for = null;
      if (run.status === 'waiting') run.status = 'running';
      break;
    }
    case 'input.answered': {
      Object.assign(steps[path!], { status: 'succeeded', output: { text: e.text, by: e.by, at }, ended_at: at, error: null });
      run.waiting_for = null;
      if (run.status === 'waiting') run.status = 'running';
      break;
    }
    case 'wait.timed_out': {
      Object.assign(steps[path!], { status: 'failed', ended_at: at, error: e.error });
      run.waiting_for = null;
      if (run.status === 'waiting') run.status = 'running';
      break;
    }
    case 'run.pause_requested':
      run.pause_requested = true;
      run.pause_reason = (e.reason as string) ?? null;
      break;
    case 'run.paused':
      run.status = 'paused';
      run.pause_requested = false;
      run.pause_reason = (e.reason as string) ?? run.pause_reason;
      break;
    case 'run.resumed':
      run.pause_requested = false;
      run.pause_reason = null;
      run.status = e.to as RunRecord['status'];
      if (e.budget_grant) run.budget_grants += 1;
      break;
    case 'run.succeeded':
      finish(run, 'succeeded', at, null);
      break;
    case 'run.failed':
      finish(run, 'failed', at, e.error as string);
      if (e.step) run.current_step = e.step as string;
      break;
    case 'run.cancelled':
      finish(run, 'cancelled', at, null);
      break;
    case 'tool.called':
      run.usage.tool_calls += 1;
      break;
    case 'notification':
      break;
    default:
      break;
  }
}

function finish(run: RunRecord, status: RunRecord['status'], at: string, error: string | null): void {
  run.status = status;
  run.ended_at = at;
  run.error = error;
  run.waiting_for = null;
  run.pause_requested = false;
}

function blank(): StepState {
  return { status: 'running', attempts: 0, started_at: null, ended_at: null, output: null, error: null };
}
