import { ago, formatDuration, roughDuration } from '../format.js';
import { sparkline } from '../report.js';
import { progressNow, progressText } from '../runs.js';
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
  return r.status;
}

/** What the run is doing now: its current step (or the step it waits at). */
export function stepLabel(r: RunView): string {
  return r.current_step ?? r.waiting_for?.step ?? '-';
}

export function progressLabel(r: RunView, now: number, compact = false): { fraction: number | null; text: string } {
  if (r.status === 'succeeded') return { fraction: 1, text: `done in ${r.started_at && r.ended_at ? formatDuration(Date.parse(r.ended_at) - Date.parse(r.started_at)) : '-'}` };
  if (r.status === 'failed' || r.status === 'cancelled') return { fraction: null, text: r.ended_at ? `${r.status} ${ago(r.ended_at, now)}` : r.status };
  if (r.status === 'queued') return { fraction: null, text: 'queued' };
  // elapsed time moves on while a run works or waits for a timer; not while paused
  const p = r.status === 'running' || r.status === 'waiting' ? progressNow(r.progress, r.read_at, now) : r.progress;
  if (r.partial && p.fraction === null) return { fraction: null, text: 'reading…' };
  if (!compact) return { fraction: p.watch ? null : p.fraction, text: progressText(p, now) };
  // the list's column: the same facts, shortest first
  if (p.watch) return { fraction: null, text: `${p.watch.checks} checks, ${p.watch.breaches} breach${p.watch.breaches === 1 ? '' : 'es'}` };
  if (p.fraction === null) return { fraction: null, text: '-' };
  const pct = `${Math.round(p.fraction * 100)}%`;
  if (!p.eta) return { fraction: p.fraction, text: pct };
  const left = Date.parse(p.eta) - now;
  return { fraction: p.fraction, text: left > 0 ? `${pct} eta ${roughDuration(left)}` : `${pct} overdue` };
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

const WANTED: { re: RegExp; label: string; unit: string }[] = [
  { re: /latency_ms\.p95$/, label: 'latency p95', unit: 'ms' },
  { re: /latency_ms\.p50$/, label: 'latency p50', unit: 'ms' },
  { re: /(^|\.)cpu_percent$/, label: 'CPU', unit: '%' },
  { re: /(^|\.)rss_bytes$/, label: 'memory (RSS)', unit: 'B' },
  { re: /memory\.used_percent$/, label: 'memory used', unit: '%' },
  { re: /error_rate$/, label: 'error rate', unit: 'ratio' },
];

function leafPaths(v: unknown, prefix: string, depth: number, out: Map<string, number>): void {
  if (v === null || v === undefined || depth > 4) return;
  if (typeof v === 'number') out.set(prefix, v);
  else if (typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v as Record<string, unknown>)) leafPaths(x, prefix ? `${prefix}.${k}` : k, depth + 1, out);
}

/**
 * The numeric series of a run's repeat steps (latency, CPU, memory first), from their iteration
 * outputs: a repeat step's output is the list of its iterations, each an object of child outputs.
 */
export function seriesOf(r: RunView, max = 4): Series[] {
  const out: Series[] = [];
  for (const s of r.steps) {
    if (!Array.isArray(s.output) || s.id.includes('[')) continue;
    const iters = s.output as unknown[];
    const perIter = iters.map((it) => {
      const m = new Map<string, number>();
      leafPaths(it, '', 0, m);
      return m;
    });
    const keys = new Set(perIter.flatMap((m) => [...m.keys()]));
    for (const w of WANTED) {
      const key = [...keys].find((k) => w.re.test(k));
      if (!key) continue;
      out.push({ step: s.id, label: `${w.label} (${key})`, values: perIter.map((m) => m.get(key) ?? null), unit: w.unit });
      if (out.length >= max) return out;
    }
  }
  return out;
}

export function seriesLine(s: Series, width: number): string {
  const vals = s.values.slice(-Math.max(8, width));
  const last = [...s.values].reverse().find((v) => v !== null) ?? null;
  return `${sparkline(vals)}  ${formatUnit(last, s.unit)}`;
}

export function formatUnit(v: number | null, unit: string): string {
  if (v === null) return '-';
  if (unit === 'B') return `${Math.round((v / 1024 / 1024) * 10) / 10} MB`;
  if (unit === 'ratio') return `${Math.round(v * 1000) / 10}%`;
  const n = Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 10) / 10;
  return `${n}${unit === '%' ? '%' : ` ${unit}`}`;
}
