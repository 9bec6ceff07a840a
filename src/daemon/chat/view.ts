import { formatMeasurement } from '../../protocol/run-view.js';
import type { RunJson } from '../../protocol/index.js';

/**
 * A run as every chat shows it, from the ONE projection of its events (RunJson): platform adapters
 * render this (an embed, Block Kit, a card) and derive no state of their own.
 */
export interface RunCard {
  title: string;
  status: RunJson['status'];
  /** The status in one phrase (`succeeded, remediation rejected`). */
  outcome: string;
  tone: 'running' | 'waiting' | 'good' | 'bad' | 'neutral';
  /** 0..1, or null when unknown. */
  fraction: number | null;
  lines: string[];
  /** The approval the run waits for: what the person is shown and what their click is bound to. */
  approval: { step: string; label: string; prompt: string; args_hash: string | null } | null;
  ended: boolean;
}

const ENDED = new Set(['succeeded', 'failed', 'cancelled']);

export function runCard(run: RunJson): RunCard {
  const ended = ENDED.has(run.status);
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
  return { title: `${run.workflow} ${run.id}`, status: run.status, outcome: run.outcome ?? run.status, tone, fraction: run.progress.fraction, lines, approval, ended };
}
