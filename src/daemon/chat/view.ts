import { formatDuration } from '../../config/duration.js';
import { formatMeasurement } from '../../protocol/run-view.js';
import type { RunJson } from '../../protocol/index.js';
import { headlineOf } from '../reports/report.js';

/**
 * A run as every chat shows it, from the ONE projection of its events (RunJson): platform adapters
 * render this (Slack's Block Kit header, Discord's embed, a card) and derive no state of their own.
 * Texts here are plain (no markup); each renderer escapes and formats them for its medium.
 */
export interface RunCard {
  run: string;
  workflow: string;
  title: string;
  status: RunJson['status'];
  /** The status in one phrase (`succeeded, remediation rejected`). */
  outcome: string;
  tone: 'running' | 'waiting' | 'good' | 'bad' | 'neutral';
  /** queued, running, waiting or paused. */
  active: boolean;
  ended: boolean;
  /** 0..1, or null when unknown. */
  fraction: number | null;
  /** When it is expected to end (ISO), while it runs and waits for nobody. */
  eta: string | null;
  /** What differs from the workflow's defaults, `key=value` separated by two spaces (maps named, not spelled out). */
  params: string;
  trigger: string | null;
  startedAt: string | null;
  createdAt: string;
  /** The step it is at (its label), while active. */
  step: string | null;
  /** A watch reports its checks and breaches, not a percentage. */
  watch: { checks: number; breaches: number; state: string | null; nextCheck: string | null; last: string[] } | null;
  /** A person is asked for something. */
  waiting: { kind: 'approval' | 'input'; approvers: string[]; since: string | null; prompt: string } | null;
  /** The last three decisions. */
  decisions: { label: string; decision: 'approved' | 'rejected'; by: string; at: string; comment: string | null }[];
  /** Pausing at the next step boundary. */
  pausing: boolean;
  /** How it ended. */
  end: { status: 'succeeded' | 'failed' | 'cancelled'; took: string; detail: string | null; step: string | null; rejected: boolean; headline: string | null } | null;
  /** The approval the run waits for: what the person is shown and what their click is bound to. */
  approval: { step: string; label: string; prompt: string; args_hash: string | null } | null;
  /** The card as plain lines, for renderers that show text as it is (Discord's embed). */
  lines: string[];
}

const ENDED = new Set(['succeeded', 'failed', 'cancelled']);
const ACTIVE = new Set(['queued', 'running', 'waiting', 'paused']);

/** Parameters as a short line: empty values left out, a map named (`{3 set}`) rather than spelled out. */
export function paramsLine(params: Record<string, unknown>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0))
    // a map (thresholds, remediations) is named, not spelled out: it would bury the rest
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : typeof v === 'object' && !Array.isArray(v) ? `{${Object.keys(v as object).length} set}` : JSON.stringify(v)}`);
  const s = parts.join('  ');
  return s.length <= 600 ? s : `${s.slice(0, 599)}…`;
}

/** How long it ran (so far, for a run still going). */
export function tookText(run: Pick<RunJson, 'started_at' | 'ended_at'>): string {
  if (!run.started_at) return '';
  const end = run.ended_at ? Date.parse(run.ended_at) : Date.now();
  return formatDuration(Math.max(0, end - Date.parse(run.started_at)));
}

export function runCard(run: RunJson): RunCard {
  const ended = ENDED.has(run.status);
  const active = ACTIVE.has(run.status);
  const lines: string[] = [];
  if (run.current_step && !ended) lines.push(`Step: ${run.current_label ?? run.current_step}`);
  const steps = run.progress.steps;
  if (steps) lines.push(`Steps done: ${steps.done}/${steps.total}`);
  if (run.progress.eta && !ended) lines.push(`Expected to finish around ${run.progress.eta.slice(11, 16)} UTC`);
  const last = run.progress.watch?.last ?? [];
  if (last.length) lines.push(`Latest: ${last.slice(0, 4).map(formatMeasurement).join(', ')}`);
  for (const d of (run.decisions ?? []).slice(-3)) lines.push(`${d.label}: ${d.decision} by ${d.by}${d.comment ? ` (${d.comment})` : ''}`);
  if (run.error) lines.push(`Error: ${run.error}`);
  const w = run.waiting_for;
  const approval =
    w?.kind === 'approval'
      ? { step: w.step, label: run.progress.waiting?.label ?? w.step, prompt: w.prompt ?? run.progress.waiting?.prompt ?? `Approve ${w.step}?`, args_hash: typeof w.args_hash === 'string' ? w.args_hash : null }
      : null;
  const tone: RunCard['tone'] = run.status === 'succeeded' ? 'good' : run.status === 'failed' ? 'bad' : run.status === 'waiting' || run.status === 'paused' ? 'waiting' : run.status === 'cancelled' ? 'neutral' : 'running';
  const watch = run.progress.watch;
  const pw = run.progress.waiting;
  return {
    run: run.id,
    workflow: run.workflow,
    title: `${run.workflow} ${run.id}`,
    status: run.status,
    outcome: run.outcome ?? run.status,
    tone,
    active,
    ended,
    fraction: run.progress.fraction,
    eta: run.progress.eta && !run.progress.waiting ? run.progress.eta : null,
    params: paramsLine(run.changed_params ?? run.params),
    trigger: run.trigger ?? null,
    startedAt: run.started_at ?? null,
    createdAt: run.created_at,
    step: run.current_step && !ended ? (run.current_label ?? run.current_step) : null,
    watch: watch ? { checks: watch.checks, breaches: watch.breaches, state: watch.state ?? null, nextCheck: watch.next_check && !watch.state?.startsWith('breached') ? watch.next_check : null, last: (watch.last ?? []).map(formatMeasurement) } : null,
    waiting: w && (w.kind === 'approval' || w.kind === 'input') ? { kind: w.kind, approvers: pw?.approvers ?? [], since: pw?.since ?? null, prompt: w.prompt ?? '' } : null,
    decisions: (run.decisions ?? []).slice(-3).map((d) => ({ label: d.label, decision: d.decision, by: d.by, at: d.at, comment: d.comment })),
    pausing: run.pause_requested === true && run.status === 'running',
    end: ended
      ? {
          status: run.status as 'succeeded' | 'failed' | 'cancelled',
          took: tookText(run),
          detail: run.status === 'succeeded' ? (run.outcome && run.outcome !== 'succeeded' ? run.outcome.replace(/^succeeded, /, '') : null) : run.status === 'failed' ? (run.error ?? 'failed') : null,
          step: run.status === 'failed' ? (run.current_step ?? null) : null,
          rejected: run.outcome === 'rejected',
          headline: run.status === 'succeeded' ? (headlineOf(run.steps)?.headline ?? null) : null,
        }
      : null,
    approval,
    lines,
  };
}
