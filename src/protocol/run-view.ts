/**
 * THE run projection: one reducer from run events to the run's state (`applyEvent`) and one pure
 * view of that state (`projectRun`) that every screen renders: `status` and `list` (text and
 * `--json`), `logs`, the dashboard, Slack and notifications. The engine's main thread applies each
 * event before committing it; a worker applies the same events to its copy; the dashboard applies
 * the pushed ones to the states it keeps. No screen derives run state on its own.
 *
 * Imports types only (plus the duration parser): worker threads and the dashboard load it, and
 * neither may pay for zod or node modules here.
 */
import { parseDuration } from '../config/duration.js';
import type { Workflow } from '../workflows/schema.js';
import type { EventBody } from './events.js';
import type { RunJson } from './methods/runs.js';
import type { AgentState, Decision, RunOutline, RunRecord, StepState, StepUsage, WaitingFor } from './run-state.js';

export type { RunJson as RunView } from './methods/runs.js';

/** An event as the reducer takes it: a body with its time (seq/run_id when recorded). */
export type AnyEvent = EventBody & { at: string; seq?: number; run_id?: string };

const TERMINAL_STEP = new Set(['succeeded', 'failed', 'skipped', 'rejected']);
const TERMINAL_RUN = new Set(['succeeded', 'failed', 'cancelled']);

export function topLevel(path: string): string {
  const i = path.search(/[.[]/);
  return i < 0 ? path : path.slice(0, i);
}

function clearChildren(states: Record<string, unknown>, path: string): void {
  for (const k of Object.keys(states)) if (k.startsWith(`${path}.`) || k.startsWith(`${path}[`)) delete states[k];
}

// ------------------------------------------------------------------ the reducer

export function applyEvent(run: RunRecord, e: AnyEvent): void {
  const at = e.at;
  const steps = run.steps;
  // the count of finished top-level steps follows the events (counting them per event would make a
  // long run quadratic): only an event of a top-level step can change it, and only that step
  const top = typeof e.step === 'string' && !/[.[]/.test(e.step) ? e.step : null;
  const wasDone = top !== null && TERMINAL_STEP.has(steps[top]?.status ?? '');
  switch (e.type) {
    case 'run.created':
      if (e.outline) run.outline = e.outline as RunOutline;
      if (e.history_ms !== undefined) run.history_ms = e.history_ms;
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
      const p = e.step;
      const cur = steps[p];
      const rerun = e.rerun === true;
      if (cur && !rerun && e.attempt > cur.attempts) clearChildren(steps, p);
      const fresh = !cur || (!rerun && e.attempt > cur.attempts);
      const next: StepState = {
        ...(fresh ? {} : cur),
        status: 'running',
        attempts: e.attempt,
        started_at: fresh || !cur?.started_at ? at : cur.started_at,
        ended_at: null,
        output: null,
        error: null,
        retry_at: null,
      };
      if (e.for_ms !== undefined) {
        next.for_ms = e.for_ms;
        next.every_ms = e.every_ms;
        next.repeat_started_at = fresh ? at : (cur?.repeat_started_at ?? at);
        next.iteration = fresh ? 0 : (cur?.iteration ?? 0);
        next.outputs = fresh ? [] : (cur?.outputs ?? []);
        next.next_at = fresh ? null : (cur?.next_at ?? null);
        next.breaches = fresh ? 0 : (cur?.breaches ?? 0);
      }
      steps[p] = next;
      run.current_step = topLevel(p);
      break;
    }
    case 'step.succeeded':
      steps[e.step] = { ...(steps[e.step] ?? blank()), status: 'succeeded', output: e.output ?? null, ended_at: at, error: null };
      break;
    case 'step.skipped':
      steps[e.step] = { ...blank(), status: 'skipped', ended_at: at };
      break;
    case 'step.failed': {
      const st = (steps[e.step] ??= blank());
      st.error = e.error;
      st.ended_at = at;
      st.attempts = Math.max(st.attempts, e.attempt ?? 1);
      if (e.retry_at) {
        st.status = 'retrying';
        st.retry_at = e.retry_at;
        run.status = 'waiting';
        run.waiting_for = { kind: 'retry', step: e.step, until: e.retry_at, since: at };
      } else {
        st.status = 'failed';
        st.retry_at = null;
      }
      break;
    }
    case 'step.waiting': {
      const st = (steps[e.step] ??= blank());
      st.status = 'waiting';
      const w = e.waiting_for as WaitingFor;
      if (w.kind === 'llm') st.llm_waits = w.llm_attempt ?? (st.llm_waits ?? 0) + 1;
      run.status = 'waiting';
      run.waiting_for = { ...w, since: at };
      break;
    }
    case 'repeat.iteration': {
      const st = steps[e.step];
      // appended in place: a copy per iteration would make a long watch quadratic (states are
      // serialised when committed, before the next event of the run is applied)
      (st.outputs ??= []).push(e.output);
      st.iteration = e.index + 1;
      st.next_at = e.next_at ?? null;
      if (isBreach(e.output)) st.breaches = (st.breaches ?? 0) + 1;
      const prefix = `${e.step}[${e.index}].`;
      for (const k of Object.keys(steps)) if (k.startsWith(prefix)) delete steps[k];
      break;
    }
    case 'timer.fired': {
      // the wait is over: a timer step succeeds, a retry or repeat may proceed
      const st = steps[e.step];
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
      const st = steps[e.step];
      const decision: Decision = { step: e.step, decision: e.decision, by: e.by, at, comment: e.comment ?? null, policy: e.policy === true, ...(e.args_hash ? { args_hash: e.args_hash } : {}) };
      run.decisions = [...(run.decisions ?? []), decision];
      if (e.args_hash) {
        // an agent's destructive call: the decision binds to those exact arguments; the step goes on
        const a = agentOf(st);
        a.approvals[e.args_hash] = { decision: e.decision, by: e.by, at, ...(e.policy ? { policy: true } : {}) };
        st.status = 'running';
        if (run.waiting_for?.step === e.step) run.waiting_for = null;
        if (run.status === 'waiting') run.status = 'running';
        break;
      }
      const output = { decision: e.decision, by: e.by, ...(e.comment ? { comment: e.comment } : {}), at, ...(e.policy ? { policy: true } : {}) };
      // a rejection ends the step as rejected; `error` is set when it must fail the run
      if (e.decision === 'rejected') Object.assign(st, { status: 'rejected', output, ended_at: at, error: e.fail_on_reject ? `approval rejected by ${e.by}${e.comment ? `: ${e.comment}` : ''}` : null });
      else Object.assign(st, { status: 'succeeded', output, ended_at: at, error: null });
      run.waiting_for = null;
      if (run.status === 'waiting') run.status = 'running';
      break;
    }
    case 'input.answered':
      Object.assign(steps[e.step], { status: 'succeeded', output: { text: e.text, by: e.by, at }, ended_at: at, error: null });
      run.waiting_for = null;
      if (run.status === 'waiting') run.status = 'running';
      break;
    case 'wait.timed_out':
      Object.assign(steps[e.step], { status: 'failed', ended_at: at, error: e.error });
      run.waiting_for = null;
      if (run.status === 'waiting') run.status = 'running';
      break;
    case 'run.pause_requested':
      run.pause_requested = true;
      run.pause_reason = e.reason ?? null;
      break;
    case 'run.paused':
      run.status = 'paused';
      run.pause_requested = false;
      run.pause_reason = e.reason ?? run.pause_reason;
      break;
    case 'run.resumed':
      run.pause_requested = false;
      run.pause_reason = null;
      run.status = e.to;
      if (e.budget_grant) run.budget_grants += 1;
      break;
    case 'run.succeeded':
      finish(run, 'succeeded', at, null);
      break;
    case 'run.failed':
      finish(run, 'failed', at, e.error);
      if (e.step) run.current_step = e.step;
      break;
    case 'run.cancelled':
      finish(run, 'cancelled', at, null);
      break;
    case 'agent.started': {
      const st = steps[e.step];
      if (st) Object.assign(agentOf(st), { started: true, prompt: e.prompt, system: e.system, ...(e.untrusted?.length ? { untrusted: e.untrusted } : {}) });
      break;
    }
    case 'agent.turn': {
      const st = steps[e.step];
      if (!st) break;
      const a = agentOf(st);
      const pt = e.prompt_tokens;
      const ct = e.completion_tokens;
      a.turns.push({ turn: e.turn, phase: e.phase, content: e.content, tool_calls: (e.tool_calls as AgentState['turns'][number]['tool_calls']) ?? [], prompt_tokens: pt, completion_tokens: ct, done_reason: e.done_reason ?? null });
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
      for (const w of e.warnings ?? []) (st.warnings ??= []).push(w);
      break;
    }
    case 'agent.tool': {
      const st = steps[e.step];
      if (!st) break;
      agentOf(st).calls.push({ turn: e.turn, index: e.index, name: e.name, args_hash: e.args_hash, status: e.status, content: e.content });
      // a result served from the cache cost no tool call (counted apart as a cache hit)
      if (e.cached === true) {
        const u = usageOf(st);
        u.cache_hits = (u.cache_hits ?? 0) + 1;
      } else if (e.status === 'ok' || e.status === 'error') {
        run.usage.tool_calls += 1;
        usageOf(st).tool_calls += 1;
      }
      break;
    }
    case 'step.warning': {
      const st = steps[e.step];
      if (st) (st.warnings ??= []).push(e.warning);
      break;
    }
    default:
      break;
  }
  if (run.steps_done === undefined || (top === null && !e.step)) run.steps_done = countDone(run);
  else if (top !== null) {
    const isDone = TERMINAL_STEP.has(run.steps[top]?.status ?? '');
    if (isDone !== wasDone) run.steps_done += isDone ? 1 : -1;
  }
  // what the run has shown so far stays shown: progress never goes back. Only run events and
  // top-level steps change what the figure is based on (inside a loop it is the loop's time).
  if (run.started_at && (e.step === undefined || e.step === null || top !== null)) {
    const f = timing(run, Date.parse(at)).fraction;
    if (f !== null && f > (run.progress_floor ?? 0)) run.progress_floor = f;
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

/** A new run's state before its first event (what run.created then fills in). */
export function emptyRun(id: string, workflow: string, at: string, params: Record<string, unknown> = {}): RunRecord {
  return {
    id, workflow, def_hash: '', status: 'queued', params, created_at: at, started_at: null, ended_at: null, current_step: null, waiting_for: null,
    steps: {}, usage: { prompt_tokens: 0, completion_tokens: 0, tool_calls: 0 }, error: null, trigger: '', actor: '', seq: 0,
    pause_requested: false, pause_reason: null, budget_grants: 0, timeout_at: null,
  };
}

// ------------------------------------------------------------------ the outline

function literalMs(v: unknown): number | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  if (typeof v === 'string' && v.includes('{{')) return undefined;
  return parseDuration(v) ?? undefined;
}

const KINDS = ['tool', 'agent', 'wait', 'repeat', 'parallel', 'approval', 'input', 'notify'] as const;

/** What the projection needs of a definition; recorded in run.created so events alone rebuild the view. */
export function outlineOf(def: Workflow): RunOutline {
  const kindOf = (s: Workflow['steps'][number]): string => KINDS.find((k) => s[k] !== undefined) ?? 'tool';
  const last = def.steps[def.steps.length - 1];
  return {
    steps: def.steps.map((s) => {
      const wait_ms = typeof s.wait === 'string' || typeof s.wait === 'number' ? literalMs(s.wait) : undefined;
      const kids = s.steps ?? s.parallel;
      return {
        id: s.id,
        kind: kindOf(s),
        ...(s.name ? { name: s.name } : {}),
        ...(wait_ms !== undefined ? { wait_ms } : {}),
        ...(s === last && s.repeat && s.repeat.until === undefined && s.repeat.for !== undefined ? { watch: true } : {}),
        ...(kids ? { children: kids.map((c) => ({ id: c.id, kind: kindOf(c), ...(c.name ? { name: c.name } : {}) })) } : {}),
      };
    }),
    defaults: Object.fromEntries(Object.entries(def.params ?? {}).filter(([, p]) => (p as { default?: unknown }).default !== undefined).map(([k, p]) => [k, (p as { default?: unknown }).default])),
  };
}

/** The outline of a run recorded before outlines were: its top-level steps as they happened. */
/** Top-level steps in a terminal state (what `steps_done` keeps up to date event by event). */
function countDone(run: RunRecord): number {
  let n = 0;
  for (const [p, st] of Object.entries(run.steps)) if (!/[.[]/.test(p) && TERMINAL_STEP.has(st.status)) n++;
  return n;
}

function fallbackOutline(run: RunRecord): RunOutline {
  return { steps: Object.keys(run.steps).filter((p) => !/[.[]/.test(p)).map((id) => ({ id, kind: run.steps[id].every_ms !== undefined ? 'repeat' : 'tool' })), defaults: {} };
}

// ------------------------------------------------------------------ names people read

/**
 * A step path as people read it: the name they wrote (or the id), and for a step inside a loop
 * its position (`approve (check 9)`) rather than `monitor[8].approve`.
 */
export function stepLabel(path: string, outline?: RunOutline): string {
  const m = /^([^.[]+)(?:\[(\d+)\])?(?:\.(.+))?$/.exec(path);
  if (!m) return path;
  const [, top, iter, rest] = m;
  const o = outline?.steps.find((s) => s.id === top);
  const topName = o?.name ?? top;
  if (rest === undefined) return topName;
  const childId = rest.split(/[.[]/)[0];
  const child = o?.children?.find((c) => c.id === childId);
  const childName = child?.name ?? rest.replace(/\[(\d+)\]/g, (_, n: string) => ` #${Number(n) + 1}`);
  if (iter === undefined) return `${childName} (in ${topName})`;
  return `${childName} (${o?.watch ? 'check' : 'iteration'} ${Number(iter) + 1})`;
}

// ------------------------------------------------------------------ measurements

export type Measurement = NonNullable<RunJson['steps'][number]['measurements']>[number];

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const rec = (v: unknown): Record<string, unknown> | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

/**
 * What a step's output measured, as data: metric, value, unit and (for objectives) the threshold
 * and whether it was met. Known shapes: an HTTP probe, an analysis with an SLO, process and system
 * stats. Renderers format these; nobody reads raw output keys for figures.
 */
export function measurementsOf(output: unknown): Measurement[] {
  const o = rec(output);
  if (!o) return [];
  const out: Measurement[] = [];
  const slo = rec(o.slo);
  if (slo && Array.isArray(o.breached_slos) && 'slow_dependency' in o) {
    // ops.appsignals_facts: the SLOs by name (a verdict, no figure of ours) and the slow dependency's p99
    const names = o.breached_slos.filter((n): n is string => typeof n === 'string');
    const noData = slo.status === 'no_data';
    // a profile's facts read no SLI report: no verdict on SLOs it never looked at
    if (o.slis_read !== false) out.push({ metric: names.length ? `SLO ${names.join(', ')}` : 'SLOs', value: null, unit: '', threshold: null, op: null, ok: noData ? null : slo.met === true });
    const dep = rec(o.slow_dependency);
    if (dep && typeof dep.name === 'string') out.push({ metric: `slow dependency ${dep.name}${typeof dep.operation === 'string' ? ` ${dep.operation}` : ''} p99`, value: num(dep.p99_ms), unit: 'ms', threshold: null, op: null, ok: null });
    return out;
  }
  if (slo) {
    const obj = rec(slo.objectives) ?? {};
    const avail = num(slo.availability_pct);
    const availObj = num(obj.availability_pct);
    out.push({ metric: 'availability', value: avail, unit: '%', threshold: availObj, op: '>=', ok: avail === null || availObj === null ? null : avail >= availObj });
    const lat = num(slo.latency_ms);
    const latObj = num(obj.latency_ms);
    out.push({ metric: `latency ${String(obj.latency_percentile ?? 'p95')}`, value: lat, unit: 'ms', threshold: latObj, op: '<=', ok: lat === null || latObj === null ? null : lat <= latObj });
    return out;
  }
  const lat = rec(o.latency_ms);
  if (lat && typeof o.count === 'number') {
    // a probe: every request that did not get a 2xx/3xx answer failed, whatever the reason
    const count = o.count;
    const ok = num(o.ok) ?? 0;
    out.push({ metric: 'latency p95', value: num(lat.p95), unit: 'ms', threshold: null, op: null, ok: null });
    out.push({ metric: 'ok', value: ok, unit: `of ${count} requests`, threshold: null, op: null, ok: null });
    out.push({ metric: 'failed', value: count - ok, unit: count - ok === 1 ? 'request' : 'requests', threshold: null, op: null, ok: null });
    return out;
  }
  const cpu = num(o.cpu_percent) ?? num(rec(o.cpu)?.percent);
  if (cpu !== null) out.push({ metric: 'CPU', value: cpu, unit: '%', threshold: null, op: null, ok: null });
  const rss = num(o.rss_bytes) ?? num(rec(o.memory)?.rss_bytes);
  if (rss !== null) out.push({ metric: 'memory (RSS)', value: rss / 1048576, unit: 'MB', threshold: null, op: null, ok: null });
  const used = num(rec(o.memory)?.used_percent);
  if (used !== null) out.push({ metric: 'memory used', value: used, unit: '%', threshold: null, op: null, ok: null });
  return out;
}

/** `availability 0% (objective >= 99%)`, `latency p95 212 ms (<= 500 ms)`, `failed 20 requests`. */
export function formatMeasurement(m: Measurement): string {
  // a verdict without a figure (an Application Signals SLO by name): `SLO x on POST /checkout BREACHED`
  if (m.value === null && m.unit === '') return `${m.metric}${m.ok === false ? ' BREACHED' : m.ok ? ' met' : ' (no data)'}`;
  const v = m.value === null ? '-' : Math.abs(m.value) >= 100 || Number.isInteger(m.value) ? String(Math.round(m.value)) : String(Math.round(m.value * 10) / 10);
  const sep = m.unit === '%' ? '' : ' ';
  const th = m.threshold !== null && m.threshold !== undefined ? ` (objective ${m.op === '>=' ? '≥' : '≤'} ${m.threshold}${sep}${m.unit})` : '';
  return `${m.metric} ${v}${sep}${m.unit}${th}${m.ok === false ? ' BREACHED' : ''}`;
}

/** The measurements of one loop iteration (an object of child outputs): objectives first, no repeats. */
export function iterationMeasurements(iteration: unknown): Measurement[] {
  const o = rec(iteration);
  if (!o) return [];
  const all = Object.values(o).flatMap((v) => {
    const direct = measurementsOf(v);
    if (direct.length || !rec(v)) return direct;
    // a parallel step's outputs (profiling probes several endpoints at once): each named by its path
    return Object.values(rec(v)!).flatMap((x) => {
      const path = typeof rec(x)?.url === 'string' ? pathOf(rec(x)!.url as string) : '';
      return measurementsOf(x).filter((m) => m.metric !== 'ok').map((m) => (path ? { ...m, metric: `${m.metric} ${path}` } : m));
    });
  });
  const seen = new Set<string>();
  return [...all.filter((m) => m.threshold !== null), ...all.filter((m) => m.threshold === null)].filter((m) => (seen.has(m.metric) ? false : (seen.add(m.metric), true)));
}

function pathOf(url: string): string {
  const m = /^[a-z]+:\/\/[^/]+(\/[^?#]*)?/i.exec(url);
  return m?.[1] || '/';
}

/** An iteration breached when one of its outputs reports an objective not met (`slo.met: false`). */
export function isBreach(iteration: unknown): boolean {
  const o = rec(iteration);
  if (!o) return false;
  return Object.values(o).some((v) => rec(rec(v)?.slo)?.met === false);
}

// ------------------------------------------------------------------ progress

interface Timing {
  fraction: number | null;
  eta: string | null;
  elapsed_ms?: number;
  total_ms?: number;
  basis: 'done' | 'none' | 'steps' | 'timer' | 'loop' | 'watch';
}

const clamp = (x: number): number => Math.max(0, Math.min(0.99, x));

/**
 * How far the run is at time `t`, from the run itself: a watch's elapsed/duration, a timed loop's or
 * a timer's own deadline, else finished/known top-level steps. History (earlier runs) only gives an
 * ETA where the run cannot know one. Never backwards (see `progress_floor`).
 */
function timing(run: RunRecord, t: number): Timing {
  if (run.status === 'succeeded') return { fraction: 1, eta: null, basis: 'done' };
  if (run.status === 'failed' || run.status === 'cancelled') return { fraction: null, eta: null, basis: 'none' };
  if (!run.started_at) return { fraction: 0, eta: null, basis: 'steps' };
  const start = Date.parse(run.started_at);
  const outline = run.outline ?? fallbackOutline(run);
  const total = Math.max(1, outline.steps.length);
  const cur = run.current_step ? run.steps[run.current_step] : undefined;
  if (cur && cur.for_ms && cur.repeat_started_at && !TERMINAL_STEP.has(cur.status)) {
    const loopStart = Date.parse(cur.repeat_started_at);
    const end = loopStart + cur.for_ms;
    if (outline.steps.find((s) => s.id === run.current_step)?.watch) {
      const elapsed = Math.max(0, t - loopStart);
      return { fraction: clamp(elapsed / cur.for_ms), eta: null, elapsed_ms: elapsed, total_ms: cur.for_ms, basis: 'watch' };
    }
    // the loop's own elapsed/duration (`profile ... for 2h` reads as elapsed / 2h)
    const elapsed = Math.max(0, t - loopStart);
    return { fraction: clamp(elapsed / cur.for_ms), eta: new Date(end).toISOString(), elapsed_ms: elapsed, total_ms: cur.for_ms, basis: 'loop' };
  }
  const done = run.steps_done ?? countDone(run);
  const w = run.waiting_for;
  if (w && w.kind === 'timer' && w.until && topLevel(w.step) === run.current_step && !cur?.every_ms) {
    // the timer's own share of its step: finished steps plus how far the wait is, over the known steps
    const end = Date.parse(w.until);
    const from = Date.parse(w.since ?? cur?.started_at ?? run.started_at);
    const part = Math.max(0, Math.min(1, (t - from) / Math.max(1, end - from)));
    return { fraction: clamp((done + part) / total), eta: w.until, basis: 'timer' };
  }
  const history = run.history_ms ?? null;
  const eta = history !== null && history > 0 && start + history > t ? new Date(start + history).toISOString() : null;
  return { fraction: clamp(done / total), eta, basis: 'steps' };
}

function waitingOf(run: RunRecord): NonNullable<RunJson['progress']['waiting']> | null {
  const w = run.waiting_for;
  if (!w || (w.kind !== 'approval' && w.kind !== 'input') || run.status !== 'waiting') return null;
  return { kind: w.kind, step: w.step, label: stepLabel(w.step, run.outline), approvers: w.approvers ?? [], since: w.since ?? null, until: w.until ?? null, prompt: w.prompt ?? '' };
}

function watchOf(run: RunRecord, path: string, st: StepState, waiting: ReturnType<typeof waitingOf>): NonNullable<RunJson['progress']['watch']> {
  const iter = st.iteration ?? 0;
  // the check in progress: its step states are still there (an iteration's are dropped when it ends)
  const prefix = `${path}[${iter}].`;
  const current: Record<string, unknown> = {};
  for (const [p, s] of Object.entries(run.steps)) if (p.startsWith(prefix) && !p.slice(prefix.length).includes('[') && s.output !== null) current[p.slice(prefix.length)] = s.output;
  const breachedNow = isBreach(current);
  const outputs = st.outputs ?? [];
  const lastDone = outputs.length ? outputs[outputs.length - 1] : null;
  const last = Object.keys(current).length ? iterationMeasurements(current) : iterationMeasurements(lastDone);
  const lastDecision = [...(run.decisions ?? [])].reverse().find((d) => d.step.startsWith(prefix));
  let state: string;
  if (waiting && waiting.step.startsWith(prefix)) state = breachedNow ? 'breached, waiting for approval' : `waiting for ${waiting.kind}`;
  else if (breachedNow && lastDecision?.decision === 'rejected') state = 'breached, remediation rejected';
  else if (breachedNow) state = 'breached';
  else if (st.status === 'waiting' && st.next_at) state = 'idle';
  else state = TERMINAL_STEP.has(st.status) ? 'ended' : 'checking';
  return {
    checks: iter,
    breaches: (st.breaches ?? outputs.filter(isBreach).length) + (breachedNow ? 1 : 0),
    next_check: st.next_at ?? null,
    ends_at: st.repeat_started_at && st.for_ms ? new Date(Date.parse(st.repeat_started_at) + st.for_ms).toISOString() : null,
    state,
    last,
  };
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

/** How the run reads in one phrase: its status, with a rejection said out loud. */
export function outcomeOf(run: RunRecord): string {
  const rejected = (run.decisions ?? []).filter((d) => d.decision === 'rejected' && !d.args_hash);
  if (run.status === 'failed' && rejected.length && Object.values(run.steps).some((s) => s.status === 'rejected' && s.error)) return 'rejected';
  if (run.status === 'succeeded' && rejected.length) {
    const what = [...new Set(rejected.map((d) => approvalName(run, d.step)))];
    return `succeeded, ${what.join(' and ')} rejected`;
  }
  return run.status;
}

function approvalName(run: RunRecord, path: string): string {
  const top = run.outline?.steps.find((s) => s.id === topLevel(path));
  const childId = path.includes('.') ? path.slice(path.lastIndexOf('.') + 1) : null;
  const name = childId ? top?.children?.find((c) => c.id === childId)?.name : top?.name;
  return (name ?? 'approval').toLowerCase();
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

export interface ProjectOptions {
  /** The time the view is for (progress and the watch move with it). */
  now?: number;
  /** The definition's outline, for runs recorded before run.created carried it. */
  outline?: RunOutline;
}

/** The view of a run that every screen renders (`status ID --json` prints it). */
export function projectRun(run: RunRecord, o: ProjectOptions = {}): RunJson {
  const now = o.now ?? Date.now();
  const outline = run.outline ?? o.outline;
  const r = outline && !run.outline ? { ...run, outline } : run;
  const t = timing(r, now);
  const floor = run.progress_floor ?? 0;
  const fraction = t.fraction === null || t.fraction === 1 ? t.fraction : Math.max(t.fraction, Math.min(0.99, floor));
  const waiting = waitingOf(r);
  const known = (outline ?? fallbackOutline(r)).steps;
  const progress: RunJson['progress'] = {
    fraction,
    // waiting for a person has no ETA: it is its own state, never "overdue"
    eta: waiting ? null : t.eta,
    ...(t.elapsed_ms !== undefined ? { elapsed_ms: t.elapsed_ms, total_ms: t.total_ms } : {}),
    basis: t.basis,
    steps: { done: known.filter((s) => TERMINAL_STEP.has(run.steps[s.id]?.status ?? '')).length, total: known.length },
    waiting,
  };
  const watchStep = known.find((s) => s.watch);
  const ws = watchStep ? run.steps[watchStep.id] : undefined;
  if (watchStep && ws && ws.every_ms !== undefined && !TERMINAL_RUN.has(run.status) && run.current_step === watchStep.id) progress.watch = watchOf(r, watchStep.id, ws, waiting);
  const defaults = outline?.defaults ?? {};
  return {
    id: run.id,
    workflow: run.workflow,
    status: run.status,
    outcome: outcomeOf(r),
    params: run.params,
    changed_params: Object.fromEntries(Object.entries(run.params).filter(([k, v]) => !(k in defaults && sameValue(defaults[k], v)))),
    created_at: run.created_at,
    started_at: run.started_at,
    ended_at: run.ended_at,
    current_step: run.current_step,
    current_label: run.current_step ? stepLabel(run.waiting_for?.step ?? run.current_step, outline) : null,
    waiting_for: run.waiting_for as RunJson['waiting_for'],
    steps: Object.entries(run.steps).map(([id, s]) => {
      const { status, error } = stepStatus(run, s);
      const m = s.status === 'succeeded' && s.outputs === undefined ? measurementsOf(s.output) : [];
      return {
        id,
        label: stepLabel(id, outline),
        status,
        attempts: s.attempts,
        started_at: s.started_at,
        ended_at: s.ended_at,
        output: s.outputs && s.status !== 'succeeded' ? s.outputs : s.output,
        error,
        ...(m.length ? { measurements: m } : {}),
        ...(s.usage ? { usage: s.usage } : {}),
        ...(s.warnings?.length ? { warnings: s.warnings } : {}),
        ...(s.agent ? { agent: { turns: s.agent.turns.length, tool_calls: s.agent.calls.map((c) => ({ turn: c.turn, tool: c.name, status: c.status, args_hash: c.args_hash })) } } : {}),
      };
    }),
    progress,
    decisions: (run.decisions ?? []).map((d) => ({ ...d, label: stepLabel(d.step, outline) })),
    usage: run.usage,
    error: run.error,
    trigger: run.trigger,
    ...(run.started_on ? { started_on: run.started_on, started_by: run.actor } : {}),
    scheduled_for: run.scheduled_for ?? null,
    catch_up: run.catch_up ?? false,
    pause_requested: run.pause_requested,
    pause_reason: run.pause_reason,
    seq: run.seq,
  };
}

/** A finished run's state without its steps (what `list --all` reads): the view of what is known. */
export function projectHeader(run: RunRecord, o: ProjectOptions = {}): RunJson {
  return projectRun({ ...run, steps: {} }, o);
}
