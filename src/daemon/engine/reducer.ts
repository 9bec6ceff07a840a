import { clearChildren, topLevel } from './step-paths.js';
import type { AgentCall, AgentState, AgentTurn, RunRecord, StepState, StepUsage, WaitingFor } from './types.js';

type AgentTurnCalls = AgentTurn['tool_calls'];
type AgentCallStatus = AgentCall['status'];

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
      const w = e.waiting_for as WaitingFor;
      if (w.kind === 'llm') st.llm_waits = w.llm_attempt ?? (st.llm_waits ?? 0) + 1;
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
        else if (e.kind === 'llm') st.status = 'running';
      }
      run.waiting_for = null;
      if (run.status === 'waiting') run.status = 'running';
      break;
    }
    case 'approval.answered': {
      const st = steps[path!];
      if (e.args_hash) {
        // an agent's destructive call: the decision binds to those exact arguments; the step goes on
        const a = agentOf(st);
        a.approvals[e.args_hash as string] = { decision: e.decision as 'approved' | 'rejected', by: e.by as string, at, ...(e.policy ? { policy: true } : {}) };
        st.status = 'running';
        if (run.waiting_for?.step === path) run.waiting_for = null;
        if (run.status === 'waiting') run.status = 'running';
        break;
      }
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
    case 'agent.started': {
      const st = steps[path!];
      if (st) Object.assign(agentOf(st), { started: true, prompt: e.prompt as string, system: e.system as string, ...(Array.isArray(e.untrusted) && e.untrusted.length ? { untrusted: e.untrusted as string[] } : {}) });
      break;
    }
    case 'agent.turn': {
      const st = steps[path!];
      if (!st) break;
      const a = agentOf(st);
      const pt = e.prompt_tokens as number | null;
      const ct = e.completion_tokens as number | null;
      a.turns.push({ turn: e.turn as number, phase: e.phase as 'tools' | 'final', content: e.content as string, tool_calls: (e.tool_calls as AgentTurnCalls) ?? [], prompt_tokens: pt, completion_tokens: ct, done_reason: (e.done_reason as string | null) ?? null });
      st.llm_waits = 0;
      const u = usageOf(st);
      u.llm_calls += 1;
      u.prompt_tokens += pt ?? 0;
      u.completion_tokens += ct ?? 0;
      if (pt === null || ct === null) u.unknown_counts += 1;
      run.usage.prompt_tokens += pt ?? 0;
      run.usage.completion_tokens += ct ?? 0;
      run.usage.llm_calls = (run.usage.llm_calls ?? 0) + 1;
      if (pt === null || ct === null) run.usage.unknown_counts = (run.usage.unknown_counts ?? 0) + 1;
      for (const w of (e.warnings as string[] | undefined) ?? []) (st.warnings ??= []).push(w);
      break;
    }
    case 'agent.tool': {
      const st = steps[path!];
      if (!st) break;
      const a = agentOf(st);
      a.calls.push({ turn: e.turn as number, index: e.index as number, name: e.name as string, args_hash: e.args_hash as string, status: e.status as AgentCallStatus, content: e.content as string });
      // a result served from the cache cost no tool call (counted apart as a cache hit)
      if (e.cached === true) {
        const u = usageOf(st);
        u.cache_hits = (u.cache_hits ?? 0) + 1;
      } else if (e.status === 'ok' || e.status === 'error') {
        run.usage.tool_calls += 1;
        const u = usageOf(st);
        u.tool_calls += 1;
      }
      break;
    }
    case 'step.warning': {
      const st = steps[path!];
      if (st) (st.warnings ??= []).push(e.warning as string);
      break;
    }
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

function agentOf(st: StepState): AgentState {
  return (st.agent ??= { turns: [], calls: [], approvals: {} });
}

function usageOf(st: StepState): StepUsage {
  return (st.usage ??= { prompt_tokens: 0, completion_tokens: 0, llm_calls: 0, unknown_counts: 0, tool_calls: 0 });
}

function blank(): StepState {
  return { status: 'running', attempts: 0, started_at: null, ended_at: null, output: null, error: null };
}
