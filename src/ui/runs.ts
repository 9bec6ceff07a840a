import type { DaemonStatus, RunEventJson, RunJson, ScheduleJson } from '../protocol/index.js';
import { paint, type Paint } from './color.js';
import { eventLine } from './events.js';
import { ago, formatDuration, table } from './format.js';
import { deliveryText, notificationLine } from './notifications.js';

export const TERMINAL_RUN = new Set(['succeeded', 'failed', 'cancelled']);

function waitingText(w: RunJson['waiting_for']): string {
  if (!w) return '';
  const until = w.until ? `, until ${w.until}` : '';
  if (w.kind === 'approval') return `approval at ${w.step}: ${w.prompt ?? ''}${until}`;
  if (w.kind === 'input') return `input at ${w.step}: ${w.prompt ?? ''}${until}`;
  if (w.kind === 'retry') return `retry of ${w.step}${until}`;
  if (w.kind === 'llm') {
    const x = w as typeof w & { reason?: string; host?: string; model?: string; hint?: string | null };
    return `${x.reason ?? 'llm_unavailable'}: ${x.model ?? '?'} at ${x.host ?? '?'}${x.hint ? ` (${x.hint})` : ''}; next try${until}`;
  }
  return `timer at ${w.step}${until}`;
}

/** A watch's state instead of an ETA: `12 checks, 1 breach, next in 4m`. */
export function watchText(w: NonNullable<RunJson['progress']['watch']>, now = Date.now()): string {
  const next = w.next_check ? (Date.parse(w.next_check) > now ? `next ${ago(w.next_check, now)}` : 'checking now') : 'checking now';
  return `${w.checks} check${w.checks === 1 ? '' : 's'}, ${w.breaches} breach${w.breaches === 1 ? '' : 'es'}, ${next}`;
}

/**
 * Progress as of `now` from a reading taken at `readAt`: elapsed time moves on between readings, so
 * a spinner or the dashboard shows a moving figure without asking the daemon again.
 */
export function progressNow(p: RunJson['progress'], readAt: number, now = Date.now()): RunJson['progress'] {
  if (p.elapsed_ms === undefined || p.total_ms === undefined || p.fraction === null || p.total_ms <= 0) return p;
  const elapsed = p.elapsed_ms + Math.max(0, now - readAt);
  // only the daemon says a run is done: a client's own estimate stops at 99%
  return { ...p, elapsed_ms: elapsed, fraction: Math.max(p.fraction, Math.min(0.99, elapsed / p.total_ms)) };
}

/** A progress bar of `width` cells. */
export function progressBar(fraction: number | null, width: number): string {
  if (fraction === null || width <= 0) return ' '.repeat(Math.max(0, width));
  const full = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

export function progressText(p: RunJson['progress'], now = Date.now()): string {
  if (p.watch) return watchText(p.watch, now);
  if (p.fraction === null) return '-';
  const pct = `${Math.round(p.fraction * 100)}%`;
  // an ETA that has passed says so rather than "eta 3m ago"
  const eta = p.eta ? (Date.parse(p.eta) > now ? `, eta ${ago(p.eta, now)}` : ', past its usual time') : '';
  if (p.elapsed_ms !== undefined && p.total_ms !== undefined) return `${pct} (${formatDuration(p.elapsed_ms)}/${formatDuration(p.total_ms)})${eta}`;
  return `${pct}${eta}`;
}

function statusText(r: RunJson): string {
  if (r.pause_requested && r.status === 'running') return 'running (pausing at the next step)';
  if (r.status === 'paused' && r.pause_reason) return `paused (${r.pause_reason})`;
  return r.status;
}

/** One run for humans: header, what it waits for, steps, progress, error. */
export function runText(r: RunJson): string {
  const lines = [`${r.id}  ${r.workflow}  ${statusText(r)}`];
  if (r.waiting_for) lines.push(`waiting for ${waitingText(r.waiting_for)}`);
  if (Object.keys(r.params).length) lines.push(`params: ${Object.entries(r.params).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')}`);
  const tokens = r.usage.llm_calls ? `; model calls ${r.usage.llm_calls}, tokens ${r.usage.prompt_tokens} in / ${r.usage.completion_tokens} out${r.usage.unknown_counts ? ` (+${r.usage.unknown_counts} call(s) with unknown counts)` : ''}` : '';
  lines.push(`created ${ago(r.created_at)}${r.ended_at ? `, ended ${ago(r.ended_at)}` : ''}; progress ${progressText(r.progress)}; tool calls ${r.usage.tool_calls}${tokens}`);
  if (r.steps.length) {
    lines.push('');
    lines.push(
      table(
        ['STEP', 'STATUS', 'ATTEMPTS', 'TOOK', 'ERROR'],
        r.steps.map((s) => [s.id, s.status, s.attempts, s.started_at && s.ended_at ? formatDuration(Date.parse(s.ended_at) - Date.parse(s.started_at)) : null, s.error ? s.error.slice(0, 120) : null]),
      ),
    );
  }
  for (const s of r.steps) for (const w of s.warnings ?? []) lines.push(`warning (${s.id}): ${w}`);
  if (r.error) lines.push('', `error: ${r.error}`);
  if (r.notifications?.length) {
    lines.push('', 'notifications:');
    for (const n of r.notifications) lines.push(`  ${notificationLine(n).split('\n').join('\n  ')}`, `      delivery: ${deliveryText(n)}`);
  }
  return lines.join('\n');
}

export function runsTable(runs: RunJson[]): string {
  if (runs.length === 0) return 'no runs';
  return table(
    ['ID', 'WORKFLOW', 'STATUS', 'STEP', 'PROGRESS', 'CREATED'],
    runs.map((r) => [r.id, r.workflow, statusText(r), r.current_step, progressText(r.progress), ago(r.created_at)]),
  );
}

/** One readable line per event (see ui/events.ts); `--json` keeps the raw events. */
export function eventText(e: RunEventJson, o: { paint?: Paint; width?: number } = {}): string {
  return eventLine(e, { paint: o.paint ?? paint(false), width: o.width });
}

export function schedulesTable(list: ScheduleJson[]): string {
  if (list.length === 0) return 'no schedules';
  return table(
    ['WORKFLOW', 'CRON', 'STATE', 'NEXT', 'LAST', 'OVERLAP', 'CATCH-UP'],
    list.map((s) => [s.workflow, s.cron, s.paused ? 'paused' : 'active', s.next_fire ? `${s.next_fire} (${ago(s.next_fire)})` : null, s.last_fire ? ago(s.last_fire) : null, s.overlap, s.catch_up]),
  );
}

/** What a person can do now for a run that waits for them (after `start --wait`, in the dashboard's help). */
export function answerHint(run: Pick<RunJson, 'id' | 'status' | 'waiting_for' | 'pause_reason'>): string {
  const id = run.id;
  const w = run.waiting_for;
  if (run.status === 'paused') return `run ${id} is paused${run.pause_reason ? ` (${run.pause_reason})` : ''}; continue it with: opstream resume ${id}`;
  if (w?.kind === 'approval') {
    return [`run ${id} waits for an approval at step ${w.step}: ${w.prompt ?? ''}`, `  approve: opstream approve ${id}`, `  reject:  opstream reject ${id} --comment "why"`].join('\n');
  }
  if (w?.kind === 'input') return [`run ${id} waits for input at step ${w.step}: ${w.prompt ?? ''}`, `  answer: opstream respond ${id} "your answer"`].join('\n');
  return `run ${id} is ${run.status}`;
}

/** The Slack bridge's connection in one line (`opstream status`, `daemon status`). */
export function slackLine(s: NonNullable<DaemonStatus['slack']>): string {
  const last = s.last_message_at ? `, last message ${ago(s.last_message_at)}` : '';
  const rec = `, ${s.reconnects} reconnect${s.reconnects === 1 ? '' : 's'}${s.last_disconnect ? ` (last: ${s.last_disconnect})` : ''}`;
  return `slack: ${s.state}${s.state === 'off' ? ' (not configured)' : `${last}${rec}`}${s.error ? `; ${s.error}` : ''}`;
}
