import type { DaemonStatus, RunEventJson, RunJson, ScheduleJson } from '../protocol/index.js';
import { paint, type Paint } from './color.js';
import { clock, eventLine } from './events.js';
import { formatMeasurement, type Measurement } from '../protocol/run-view.js';
import { ago, formatDuration, table } from './format.js';
import { deliveryText, notificationLine } from './notifications.js';

export const TERMINAL_RUN = new Set(['succeeded', 'failed', 'cancelled']);

/** A time for people: `2m ago (10:02:03)` (local time); ISO stays in `--json`. */
export function when(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  return `${ago(iso, now)} (${clock(iso, now)})`;
}

/** Who may answer a wait: the approvers named, or anyone. */
export function whoMayAnswer(approvers: readonly string[] | undefined): string {
  return approvers?.length ? approvers.join(' or ') : 'anyone';
}

/** A person's wait as one phrase: `waiting for approval by alice or bob, since 2m ago (10:02:03)`. */
export function personWaitText(w: NonNullable<RunJson['progress']['waiting']>, now = Date.now()): string {
  return `waiting for ${w.kind === 'approval' ? `approval by ${whoMayAnswer(w.approvers)}` : `input by ${whoMayAnswer(w.approvers)}`}${w.since ? `, since ${when(w.since, now)}` : ''}`;
}

function waitingText(r: RunJson, now: number): string {
  const w = r.waiting_for;
  if (!w) return '';
  const label = (w.step === r.progress.waiting?.step ? r.progress.waiting.label : null) ?? r.current_label ?? w.step;
  const until = w.until ? `; answer before ${clock(w.until, now)}${w.kind === 'approval' ? ` (then ${(w as { on_timeout?: string }).on_timeout ?? 'reject'})` : ''}` : '';
  if (r.progress.waiting) return `${personWaitText(r.progress.waiting, now)} at ${label}: ${w.prompt ?? ''}${until}`;
  if (w.kind === 'retry') return `waiting to retry ${label}, ${w.until ? `at ${clock(w.until, now)} (${ago(w.until, now)})` : 'soon'}`;
  if (w.kind === 'llm') {
    const x = w as typeof w & { reason?: string; host?: string; model?: string; hint?: string | null };
    return `waiting for the model: ${x.reason ?? 'llm_unavailable'}: ${x.model ?? '?'} at ${x.host ?? '?'}${x.hint ? ` (${x.hint})` : ''}; next try ${w.until ? clock(w.until, now) : 'soon'}`;
  }
  return `waiting for a timer at ${label}${w.until ? ` until ${clock(w.until, now)} (${ago(w.until, now)})` : ''}`;
}

/** A watch's state instead of an ETA: `12 checks, 1 breach (breached, waiting for approval), next in 4m`. */
export function watchText(w: NonNullable<RunJson['progress']['watch']>, now = Date.now()): string {
  const next = w.next_check && Date.parse(w.next_check) > now ? `next ${ago(w.next_check, now)}` : 'checking now';
  const state = w.state && w.state !== 'idle' && w.state !== 'checking' ? ` (${w.state})` : '';
  return `${w.checks} check${w.checks === 1 ? '' : 's'}, ${w.breaches} breach${w.breaches === 1 ? '' : 'es'}${state}, ${state ? (w.state?.startsWith('breached') ? 'this check is still open' : next) : next}`;
}

/** The latest measurements of a watch or step, formatted (`availability 0% (objective ≥ 99%) BREACHED`). */
export function measurementsText(ms: readonly Measurement[] | undefined): string {
  return (ms ?? []).map(formatMeasurement).join(', ');
}

/** A decision as a line: `rejected by cli:bob 2m ago (10:03:01) at approve (check 1): "not now"`. */
export function decisionText(d: NonNullable<RunJson['decisions']>[number], now = Date.now()): string {
  return `${d.decision} by ${d.by}${d.policy ? ' (policy)' : ''} ${when(d.at, now)} at ${d.label}${d.comment ? `: ${JSON.stringify(d.comment)}` : ''}`;
}

/**
 * Progress as of `now` from a reading taken at `readAt`: elapsed time moves on between readings, so
 * a spinner or the dashboard shows a moving figure without asking the daemon again. Only a
 * time-based figure (a timer, a loop, a watch) moves; waiting for a person never does.
 */
export function progressNow(p: RunJson['progress'], readAt: number, now = Date.now()): RunJson['progress'] {
  if (p.waiting || p.elapsed_ms === undefined || p.total_ms === undefined || p.fraction === null || p.total_ms <= 0) return p;
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
  // a person's wait is its own state: no ETA, never "overdue"
  if (p.waiting) return `${pct}, ${personWaitText(p.waiting, now)}`;
  const steps = p.basis === 'steps' && p.steps ? ` (${p.steps.done}/${p.steps.total} steps)` : '';
  // an estimate from earlier runs that has passed is dropped, not shown as late
  const eta = p.eta && Date.parse(p.eta) > now ? `, eta ${ago(p.eta, now)}` : '';
  if (p.elapsed_ms !== undefined && p.total_ms !== undefined) return `${pct} (${formatDuration(p.elapsed_ms)}/${formatDuration(p.total_ms)})${eta}`;
  return `${pct}${steps}${eta}`;
}

export function statusText(r: RunJson): string {
  if (r.pause_requested && r.status === 'running') return 'running (pausing at the next step)';
  if (r.status === 'paused' && r.pause_reason) return `paused (${r.pause_reason})`;
  return r.outcome ?? r.status;
}

/** `key=value` pairs of the params that differ from the workflow's defaults. */
export function paramsLine(r: Pick<RunJson, 'params' | 'changed_params'>): string {
  const shown = r.changed_params ?? r.params;
  return Object.entries(shown).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
}

/** One run for humans: header, what it waits for, the watch, decisions, steps with what they measured, error. */
export function runText(r: RunJson, now = Date.now()): string {
  const lines = [`${r.id}  ${r.workflow}  ${statusText(r)}`];
  if (r.waiting_for) lines.push(waitingText(r, now));
  const params = paramsLine(r);
  const hidden = Object.keys(r.params).length - Object.keys(r.changed_params ?? r.params).length;
  if (params || hidden) lines.push(`params: ${params || '(all defaults)'}${hidden ? `  (+${hidden} default${hidden === 1 ? '' : 's'})` : ''}`);
  const tokens = r.usage.llm_calls ? `; model calls ${r.usage.llm_calls}, tokens ${r.usage.prompt_tokens} in / ${r.usage.completion_tokens} out${r.usage.unknown_counts ? ` (+${r.usage.unknown_counts} call(s) with unknown counts)` : ''}` : '';
  if (r.started_on) lines.push(`started by ${r.started_by ?? '?'} on ${r.started_on}`);
  lines.push(`created ${when(r.created_at, now)}${r.ended_at ? `, ended ${when(r.ended_at, now)}` : ''}; progress ${progressText(r.progress, now)}; tool calls ${r.usage.tool_calls}${tokens}`);
  const w = r.progress.watch;
  if (w?.last?.length) lines.push(`last check: ${measurementsText(w.last)}`);
  if (r.decisions?.length) {
    lines.push('', 'decisions:');
    for (const d of r.decisions) lines.push(`  ${decisionText(d, now)}`);
  }
  // a loop's finished iterations are summed up by the watch or the loop row; what is in flight shows
  const rows = r.steps.filter((s) => !/\[\d+\]/.test(s.id) || !['succeeded', 'skipped'].includes(s.status));
  if (rows.length) {
    lines.push('');
    lines.push(
      table(
        ['STEP', 'STATUS', 'ATTEMPTS', 'TOOK', 'MEASURED / ERROR'],
        rows.map((s) => [s.label ?? s.id, s.status, s.attempts, s.started_at && s.ended_at ? formatDuration(Date.parse(s.ended_at) - Date.parse(s.started_at)) : null, s.error ? s.error.slice(0, 120) : s.measurements?.length ? measurementsText(s.measurements).slice(0, 160) : null]),
      ),
    );
  }
  for (const s of r.steps) for (const x of s.warnings ?? []) lines.push(`warning (${s.label ?? s.id}): ${x}`);
  if (r.error) lines.push('', `error: ${r.error}`);
  if (r.notifications?.length) {
    lines.push('', 'notifications:');
    for (const n of r.notifications) lines.push(`  ${notificationLine(n).split('\n').join('\n  ')}`, `      delivery: ${deliveryText(n)}`);
  }
  return lines.join('\n');
}

export function runsTable(runs: RunJson[], now = Date.now()): string {
  if (runs.length === 0) return 'no runs';
  // team mode: which daemon, and who, started each run
  if (runs.some((r) => r.started_on)) {
    return table(
      ['ID', 'WORKFLOW', 'STATUS', 'STEP', 'PROGRESS', 'CREATED', 'STARTED BY'],
      runs.map((r) => [r.id, r.workflow, statusText(r), r.current_label ?? r.current_step, progressText(r.progress, now), ago(r.created_at, now), r.started_on ? `${(r.started_by ?? '').replace(/^[a-z]+:/, '') || '?'}@${r.started_on}` : null]),
    );
  }
  return table(
    ['ID', 'WORKFLOW', 'STATUS', 'STEP', 'PROGRESS', 'CREATED'],
    runs.map((r) => [r.id, r.workflow, statusText(r), r.current_label ?? r.current_step, progressText(r.progress, now), ago(r.created_at, now)]),
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

/** The Discord bridge's gateway in one line (`opstream status`, `daemon status`); never the token. */
export function discordLine(s: NonNullable<DaemonStatus['discord']>): string {
  if (s.state === 'off') return 'discord: off (not configured)';
  const who = s.bot_user ? ` as bot user ${s.bot_user}` : '';
  const last = s.last_dispatch_at ? `, last dispatch ${ago(s.last_dispatch_at)}` : '';
  const rec = `, ${s.reconnects} reconnect${s.reconnects === 1 ? '' : 's'}`;
  return `discord: ${s.state}${who}${last}${rec}${s.command_registered ? '' : ', /opstream not registered yet'}${s.error ? `; ${s.error}` : ''}`;
}

/** The Slack bridge's connection in one line (`opstream status`, `daemon status`). */
export function slackLine(s: NonNullable<DaemonStatus['slack']>): string {
  const last = s.last_message_at ? `, last message ${ago(s.last_message_at)}` : '';
  const rec = `, ${s.reconnects} reconnect${s.reconnects === 1 ? '' : 's'}${s.last_disconnect ? ` (last: ${s.last_disconnect})` : ''}`;
  return `slack: ${s.state}${s.state === 'off' ? ' (not configured)' : `${last}${rec}`}${s.error ? `; ${s.error}` : ''}`;
}
