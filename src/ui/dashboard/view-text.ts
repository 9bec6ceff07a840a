import { ago, formatDuration, roughDuration } from '../format.js';
import { iterationMeasurements } from '../../protocol/run-view.js';
import { progressNow, progressText, whoMayAnswer } from '../runs.js';
import type { RunView } from './model.js';

/** Column layout of the run list for a terminal width (80 columns at least keeps every column). */
export interface Columns {
  id: number;
  workflow: number;
  status: number;
  step: number;
  bar: number;
  progress: number;
  age: number;
  tokens: number;
}

export function columnsFor(width: number): Columns {
  const fixed = { id: 10, status: 9, age: 6, tokens: 6 };
  const gaps = 7;
  const free = Math.max(20, width - 2 - gaps - fixed.id - fixed.status - fixed.age - fixed.tokens);
  // what is left is shared: workflow and step names, a bar, and the progress/ETA text
  const bar = free >= 60 ? 12 : free >= 40 ? 8 : 0;
  const rest = free - bar - (bar ? 1 : 0);
  const workflow = Math.max(8, Math.floor(rest * 0.32));
  const step = Math.max(6, Math.floor(rest * 0.3));
  const progress = Math.max(8, rest - workflow - step);
  return { ...fixed, workflow, step, bar, progress };
}

/** Pads or cuts to `n` columns; a cut ends in `~` (plain ASCII keeps Ink's text measuring on its fast path). */
export function fit(s: string, n: number): string {
  if (n <= 0) return '';
  if (s.length <= n) return s.padEnd(n);
  return `${s.slice(0, Math.max(0, n - 1))}~`;
}

/** The status column: a run waiting for a person says what it needs. */
export function statusLabel(r: RunView): string {
  if (r.pause_requested && r.status === 'running') return 'pausing';
  if (r.status === 'waiting' && r.waiting_for?.kind === 'approval') return 'approve?';
  if (r.status === 'waiting' && r.waiting_for?.kind === 'input') return 'answer?';
  if (r.outcome === 'rejected') return 'rejected';
  return r.status;
}

/** What the run is doing now: its current step (or the step it waits at). */
export function stepLabel(r: RunView): string {
  return r.current_label ?? r.current_step ?? r.waiting_for?.step ?? '-';
}

export function progressLabel(r: RunView, now: number, compact = false): { fraction: number | null; text: string } {
  const rejected = r.outcome && r.outcome.startsWith('succeeded, ') ? `, ${r.outcome.slice('succeeded, '.length)}` : '';
  if (r.status === 'succeeded') return { fraction: 1, text: `done in ${r.started_at && r.ended_at ? formatDuration(Date.parse(r.ended_at) - Date.parse(r.started_at)) : '-'}${rejected}` };
  if (r.status === 'failed' || r.status === 'cancelled') return { fraction: null, text: r.ended_at ? `${r.status} ${ago(r.ended_at, now)}` : r.status };
  if (r.status === 'queued') return { fraction: null, text: 'queued' };
  // elapsed time moves on while a run works or waits for a timer; not while paused
  const p = r.status === 'running' || r.status === 'waiting' ? progressNow(r.progress, r.read_at, now) : r.progress;
  if (!compact) return { fraction: p.watch ? null : p.fraction, text: progressText(p, now) };
  // the list's column: the same facts, shortest first
  if (p.watch) return { fraction: null, text: `${p.watch.checks} checks, ${p.watch.breaches} breach${p.watch.breaches === 1 ? '' : 'es'}` };
  if (p.fraction === null) return { fraction: null, text: '-' };
  const pct = `${Math.round(p.fraction * 100)}%`;
  // waiting for a person is its own state: who, and for how long; never "overdue"
  if (p.waiting) return { fraction: p.fraction, text: `${p.waiting.kind} by ${whoMayAnswer(p.waiting.approvers)}${p.waiting.since ? `, ${roughDuration(Math.max(0, now - Date.parse(p.waiting.since)))}` : ''}` };
  const left = p.eta ? Date.parse(p.eta) - now : 0;
  return { fraction: p.fraction, text: left > 0 ? `${pct} eta ${roughDuration(left)}` : pct };
}

/** `[####----]`: ASCII, for the same reason as fit(). */
export function bar(fraction: number | null, width: number): string {
  if (width < 3) return '';
  const inner = width - 2;
  if (fraction === null) return ' '.repeat(width);
  const full = Math.round(Math.min(1, Math.max(0, fraction)) * inner);
  return `[${'#'.repeat(full)}${'-'.repeat(inner - full)}]`;
}

export function tokens(r: RunView): string {
  const t = r.usage.prompt_tokens + r.usage.completion_tokens;
  if (t === 0) return '-';
  return t >= 10_000 ? `${Math.round(t / 1000)}k` : String(t);
}

export function age(r: RunView, now: number): string {
  const ms = Math.max(0, now - Date.parse(r.created_at));
  return roughDuration(ms - (ms % 1000));
}

/** A series one of the run's repeat steps collected: `probe.latency_ms.p95` over iterations. */
export interface Series {
  step: string;
  label: string;
  values: (number | null)[];
  unit: string;
}

function seriesKey(metric: string): string {
  return metric;
}

/**
 * The series a run's loops measured, one per metric (objectives first: availability, latency), from
 * each iteration's measurements as the projection reads them: the metric, its unit and its
 * objective come with the data, so every workflow plots what it measured, not a key that happens to match.
 */
export function seriesOf(r: RunView, max = 4): Series[] {
  const out: Series[] = [];
  for (const s of r.steps) {
    if (!Array.isArray(s.output) || s.id.includes('[')) continue;
    // the latest iterations are what a line of the screen can show
    const iters = (s.output as unknown[]).slice(-240).map((it) => iterationMeasurements(it));
    const metrics: { metric: string; unit: string }[] = [];
    for (const ms of iters) for (const m of ms) if (!metrics.some((x) => x.metric === m.metric) && m.metric !== 'ok') metrics.push({ metric: m.metric, unit: m.unit });
    for (const m of metrics) {
      out.push({ step: s.id, label: `${m.metric} (${s.label ?? s.id})`, values: iters.map((ms) => ms.find((x) => seriesKey(x.metric) === m.metric)?.value ?? null), unit: m.unit });
      if (out.length >= max) return out;
    }
  }
  return out;
}

const BLOCKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/**
 * A sparkline scaled from zero (or, for values that go below it, over a span of at least 20% of the
 * largest magnitude): 2% of noise stays 2% of the height instead of filling it.
 */
export function sparkZero(values: readonly (number | null)[]): string {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (xs.length === 0) return '';
  let lo = Math.min(0, ...xs);
  let hi = Math.max(...xs);
  const mag = Math.max(Math.abs(lo), Math.abs(hi));
  if (hi - lo < mag * 0.2) {
    const mid = (hi + lo) / 2;
    lo = mid - mag * 0.1;
    hi = mid + mag * 0.1;
  }
  if (hi === lo) return values.map((v) => (v === null ? ' ' : BLOCKS[0])).join('');
  return values.map((v) => (v === null || !Number.isFinite(v) ? ' ' : BLOCKS[Math.min(BLOCKS.length - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * BLOCKS.length)))])).join('');
}

export function seriesLine(s: Series, width: number): string {
  const vals = s.values.slice(-Math.max(8, width));
  const last = [...s.values].reverse().find((v) => v !== null) ?? null;
  return `${sparkZero(vals)}  ${formatUnit(last, s.unit)}`;
}

export function formatUnit(v: number | null, unit: string): string {
  if (v === null) return '-';
  if (unit === 'B') return `${Math.round((v / 1024 / 1024) * 10) / 10} MB`;
  if (unit.startsWith('of ') || unit === 'requests') return `${Math.round(v)} ${unit}`;
  if (unit === 'ratio') return `${Math.round(v * 1000) / 10}%`;
  const n = Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 10) / 10;
  return `${n}${unit === '%' ? '%' : ` ${unit}`}`;
}
