import { formatDuration } from '../../config/duration.js';
import type { AnalyzeOutput } from '../../ops-server/analysis/schema.js';
import type { Notification, RunJson } from '../../protocol/index.js';
import { formatValue } from '../../ui/report.js';
import { table } from '../../ui/format.js';
import { cut, esc } from './text.js';
import type { DigestView } from '../chat/digest.js';
import { runCard, tookText, type RunCard } from '../chat/view.js';

/**
 * Block Kit for everything the bridge posts. Pure functions of data: the same run state always
 * renders the same message, so an edit after a restart looks exactly like one before it.
 */

export type Block = Record<string, unknown> & { type: string };
export interface SlackMessage {
  /** The notification text (push notifications, screen readers, clients without blocks). */
  text: string;
  blocks: Block[];
}

export const ACTION = {
  approve: 'opstream.approve',
  reject: 'opstream.reject',
  input: 'opstream.input',
  pause: 'opstream.pause',
  resume: 'opstream.resume',
  cancel: 'opstream.cancel',
} as const;
export const INPUT_VIEW = 'opstream.input';

/** What an approval button carries: enough to act on it after a restart, and to know which wait it was for. */
export interface ApprovalRef {
  /** run id */
  r: string;
  /** step path */
  s: string;
  /** seq of the event that opened the wait */
  q: number;
}

/**
 * A button value or modal metadata as it comes back from Slack: anything at all (a forged click, a
 * value from another app), so it is checked field by field; null when it names no wait of ours.
 */
export function parseApprovalRef(raw: unknown): ApprovalRef | null {
  if (typeof raw !== 'string' || raw.length > 2000) return null;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const { r, s, q } = v as Record<string, unknown>;
  // run controls (pause, resume, cancel) carry only the run; a wait's buttons also its step and seq
  if (typeof r !== 'string' || r === '') return null;
  return { r, s: typeof s === 'string' ? s : '', q: typeof q === 'number' && Number.isFinite(q) ? q : 0 };
}

const STATUS_EMOJI: Record<string, string> = {
  queued: ':hourglass_flowing_sand:',
  running: ':arrows_counterclockwise:',
  waiting: ':raised_hand:',
  paused: ':double_vertical_bar:',
  succeeded: ':white_check_mark:',
  failed: ':x:',
  cancelled: ':no_entry_sign:',
};

const md = (text: string): Block => ({ type: 'section', text: { type: 'mrkdwn', text: cut(text, 3000) } });
const ctxBlock = (...parts: string[]): Block => ({ type: 'context', elements: parts.filter(Boolean).map((t) => ({ type: 'mrkdwn', text: cut(t, 3000) })) });
const plain = (text: string): { type: 'plain_text'; text: string; emoji: true } => ({ type: 'plain_text', text: cut(text, 150), emoji: true });
const button = (text: string, action_id: string, value: string, style?: 'primary' | 'danger'): Record<string, unknown> => ({ type: 'button', text: plain(text), action_id, value, ...(style ? { style } : {}) });

/** A time Slack shows in each reader's own time zone (the fallback is UTC). */
export function slackDate(iso: string | number, format = '{date_short_pretty} {time}'): string {
  const ms = typeof iso === 'number' ? iso : Date.parse(iso);
  if (Number.isNaN(ms)) return String(iso);
  const d = new Date(ms);
  return `<!date^${Math.floor(ms / 1000)}^${format}|${d.toISOString().slice(0, 16).replace('T', ' ')} UTC>`;
}

export function progressBar(fraction: number, width = 12): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return `${'▰'.repeat(full)}${'▱'.repeat(width - full)}`;
}

export interface HeaderExtras {
  /** Slack user who started it (U...). */
  by?: string | null;
  /** Whether to show the run's headline when it succeeded with an analysis. */
  headline?: boolean;
  /** Whether to offer Pause/Resume/Cancel buttons. */
  controls?: boolean;
}

/**
 * The run's start message, the top of its thread: status, progress bar and ETA, edited in place as
 * the run goes on (coalesced: only the latest state is sent). Block Kit of the chat layer's run card
 * (chat/view.ts), the same card Discord renders as an embed.
 */
export function runHeader(run: RunJson, x: HeaderExtras = {}): SlackMessage {
  return runCardMessage(runCard(run), x);
}

/** A neutral run card in Block Kit. */
export function runCardMessage(c: RunCard, x: HeaderExtras = {}): SlackMessage {
  const emoji = STATUS_EMOJI[c.status] ?? '';
  const blocks: Block[] = [md(`${emoji} *${esc(c.workflow)}* \`${c.run}\`${c.params ? `\n${esc(c.params)}` : ''}`)];
  const who = x.by ? `started by <@${x.by}>` : c.trigger ? `started by ${esc(c.trigger)}` : '';
  blocks.push(ctxBlock([`*${esc(c.outcome)}*`, c.step ? `at ${esc(c.step)}` : '', who, c.startedAt ? `since ${slackDate(c.startedAt, '{time}')}` : `queued ${slackDate(c.createdAt, '{time}')}`].filter(Boolean).join(' · ')));
  const watch = c.watch;
  if (c.active && watch) {
    // a watch reports its checks and breaches (the open one included), not a percentage
    const next = watch.nextCheck ? ` · next check ${slackDate(watch.nextCheck, '{time}')}` : '';
    blocks.push(md(`${watch.breaches ? ':rotating_light:' : ':eyes:'} ${watch.checks} check${watch.checks === 1 ? '' : 's'}, *${watch.breaches} breach${watch.breaches === 1 ? '' : 'es'}*${watch.state && watch.state !== 'idle' && watch.state !== 'checking' ? ` (${esc(watch.state)})` : ''}${next}`));
    if (watch.last.length) blocks.push(ctxBlock(`last check: ${esc(watch.last.join(', '))}`));
  } else if (c.active && c.fraction !== null) {
    const pct = Math.round(c.fraction * 100);
    const eta = c.eta ? ` · ETA ${slackDate(c.eta, '{time}')}` : '';
    blocks.push(md(`\`${progressBar(c.fraction)}\` ${pct}%${eta}`));
  }
  if (c.waiting) {
    const by = c.waiting.approvers.length ? ` by ${esc(c.waiting.approvers.join(' or '))}` : '';
    const since = c.waiting.since ? ` since ${slackDate(c.waiting.since, '{time}')}` : '';
    blocks.push(md(`:raised_hand: Waiting for ${c.waiting.kind === 'approval' ? 'approval' : 'an answer'}${by}${since}: ${esc(cut(c.waiting.prompt, 500))} (see the thread)`));
  }
  for (const d of c.decisions) {
    const by = d.by.replace(/^slack:([UW][A-Z0-9]{2,})$/, '<@$1>');
    blocks.push(ctxBlock(`${d.decision === 'rejected' ? ':no_entry:' : ':white_check_mark:'} ${d.decision === 'rejected' ? 'Rejected' : 'Approved'} by ${by === d.by ? esc(by) : by} at ${slackDate(d.at, '{time}')} (${esc(d.label)})${d.comment ? `: ${esc(cut(d.comment, 300))}` : ''}`));
  }
  if (c.pausing) blocks.push(md(':double_vertical_bar: Pausing at the next step boundary'));
  const end = c.end;
  if (end?.status === 'succeeded') blocks.push(md(`${STATUS_EMOJI.succeeded} Succeeded in ${end.took}${end.detail ? ` (${esc(end.detail)})` : ''}${x.headline && end.headline ? `: *${esc(end.headline)}*` : ''}`));
  if (end?.status === 'failed') blocks.push(md(`${STATUS_EMOJI.failed} ${end.rejected ? 'Rejected' : 'Failed'}${end.step ? ` in step \`${esc(end.step)}\`` : ''} after ${end.took}: ${esc(cut(end.detail ?? 'failed', 1500))}`));
  if (end?.status === 'cancelled') blocks.push(md(`${STATUS_EMOJI.cancelled} Cancelled after ${end.took}`));
  if (x.controls && c.active) {
    const v = JSON.stringify({ r: c.run });
    const els = c.status === 'paused' ? [button('Resume', ACTION.resume, v, 'primary')] : [button('Pause', ACTION.pause, v)];
    els.push(button('Cancel', ACTION.cancel, v, 'danger'));
    blocks.push({ type: 'actions', block_id: `controls:${c.run}`, elements: els });
  }
  const pct = c.active && c.fraction !== null && !watch ? ` ${Math.round(c.fraction * 100)}%` : '';
  const breaches = c.active && watch ? `, ${watch.breaches} breach${watch.breaches === 1 ? '' : 'es'}` : '';
  return { text: `${c.title}: ${c.outcome}${pct}${breaches}`, blocks };
}

/** A notification as a thread reply (milestones, notify steps, budget pauses, errors). */
export function noteMessage(n: Notification): SlackMessage {
  const icon = n.level === 'critical' ? ':rotating_light:' : n.level === 'warning' ? ':warning:' : n.kind === 'milestone' ? ':round_pushpin:' : ':speech_balloon:';
  const text = n.kind === 'notify' ? n.text : `*${esc(n.title)}*\n${esc(n.text)}`;
  // a Slack actor in a workflow's text ("approved by slack:U0ALICE") is shown as the person
  const shown = (n.kind === 'notify' ? esc(text) : text).replace(/\bslack:([UW][A-Z0-9]{2,})\b/g, '<@$1>');
  return { text: cut(`${n.title}`, 3000), blocks: [md(`${icon} ${shown}`)] };
}

/** A notification that belongs to no run (e.g. `opstream slack test`). */
export function plainMessage(n: Notification): SlackMessage {
  return { text: cut(n.title, 3000), blocks: [md(`*${esc(n.title)}*\n${esc(n.text)}`)] };
}

export interface NextAction {
  step: string;
  tool: string;
  args: Record<string, unknown>;
  args_hash: string | null;
}

/** An approval request: what will be done if approved, and buttons that work after a restart too. */
export function approvalMessage(n: Notification, ref: ApprovalRef): SlackMessage {
  const d = n.data as { prompt?: string; until?: string | null; approvers?: string[]; on_timeout?: string | null; next?: NextAction; urgent?: boolean };
  const blocks: Block[] = [md(`:raised_hand: *Approval needed*${d.urgent ? ' (urgent)' : ''} · *${esc(n.workflow ?? '')}* \`${n.run_id}\`\n${esc(cut(d.prompt ?? n.text, 2500))}`)];
  blocks.push(...nextBlocks(d.next));
  const who = d.approvers?.length ? `Approvers: ${d.approvers.map((a) => (/^[UW][A-Z0-9]+$/.test(a) ? `<@${a}>` : esc(a))).join(', ')}` : 'Any operator may answer';
  const until = d.until ? `answer before ${slackDate(d.until)} (then ${d.on_timeout ?? 'reject'})` : '';
  blocks.push(ctxBlock([who, until, 'or reply "fix it" / "not now" in this thread', `step \`${esc(ref.s)}\``].filter(Boolean).join(' · ')));
  const v = JSON.stringify(ref);
  blocks.push({ type: 'actions', block_id: `approval:${ref.r}:${ref.q}`, elements: [button('Approve', ACTION.approve, v, 'primary'), button('Reject', ACTION.reject, v, 'danger')] });
  return { text: `Approval needed: ${n.workflow ?? ''} ${n.run_id ?? ''}: ${cut(d.prompt ?? n.text, 200)}`, blocks };
}

function nextBlocks(next: NextAction | undefined): Block[] {
  if (!next) return [];
  const args = JSON.stringify(next.args, null, 1);
  return [md(`*If approved, the run goes on to* \`${esc(next.step)}\`: \`${esc(next.tool)}\`\n\`\`\`${esc(cut(args, 1800))}\`\`\`${next.args_hash ? `\nargs sha256 \`${next.args_hash}\`` : ''}`)];
}

/** The approval after it was decided: no buttons, who and when instead. */
export function approvalDecided(n: Pick<Notification, 'workflow' | 'run_id' | 'data' | 'text'>, ref: ApprovalRef, how: { decision: string; by: string; at: string; comment?: string | null }): SlackMessage {
  const d = n.data as { prompt?: string; next?: NextAction };
  const icon = how.decision === 'approved' ? ':white_check_mark:' : how.decision === 'expired' || how.decision === 'closed' ? ':hourglass:' : ':no_entry:';
  const by = how.by.startsWith('slack:') ? `<@${how.by.slice(6)}>` : how.by === 'timeout' || how.by === 'policy:timeout' ? 'timeout' : esc(how.by);
  const what = how.decision === 'approved' || how.decision === 'rejected' ? `${how.decision === 'approved' ? 'Approved' : 'Rejected'} by ${by} ${slackDate(how.at)}` : `${how.decision === 'expired' ? 'Expired' : 'Closed'} ${slackDate(how.at)}${how.comment ? `: ${esc(how.comment)}` : ''}`;
  const blocks: Block[] = [md(`:raised_hand: *Approval* · *${esc(n.workflow ?? '')}* \`${n.run_id}\`\n${esc(cut(d.prompt ?? n.text, 2500))}`), ...nextBlocks(d.next)];
  blocks.push(md(`${icon} *${what}*${how.comment && (how.decision === 'approved' || how.decision === 'rejected') ? `\n> ${esc(cut(how.comment, 500))}` : ''}`));
  blocks.push(ctxBlock(`step \`${esc(ref.s)}\``));
  return { text: `${what}: ${n.workflow ?? ''} ${n.run_id ?? ''}`, blocks };
}

/** A request for free text: reply in the thread, or the button opens a modal. */
export function inputMessage(n: Notification, ref: ApprovalRef): SlackMessage {
  const d = n.data as { prompt?: string; until?: string | null };
  const until = d.until ? ` · answer before ${slackDate(d.until)}` : '';
  return {
    text: `Answer needed: ${n.workflow ?? ''} ${n.run_id ?? ''}: ${cut(d.prompt ?? n.text, 200)}`,
    blocks: [
      md(`:speech_balloon: *Answer needed* · *${esc(n.workflow ?? '')}* \`${n.run_id}\`\n${esc(cut(d.prompt ?? n.text, 2500))}`),
      ctxBlock(`Reply in this thread, or use the button${until}`),
      { type: 'actions', block_id: `input:${ref.r}:${ref.q}`, elements: [button('Answer…', ACTION.input, JSON.stringify(ref), 'primary')] },
    ],
  };
}

export function inputAnswered(n: Pick<Notification, 'workflow' | 'run_id' | 'data' | 'text'>, how: { by: string; at: string; text?: string | null; closed?: string }): SlackMessage {
  const d = n.data as { prompt?: string };
  const by = how.by.startsWith('slack:') ? `<@${how.by.slice(6)}>` : esc(how.by);
  const line = how.closed ? `:hourglass: ${esc(how.closed)} ${slackDate(how.at)}` : `:white_check_mark: Answered by ${by} ${slackDate(how.at)}${how.text ? `\n> ${esc(cut(how.text, 1000))}` : ''}`;
  return { text: `${how.closed ?? 'Answered'}: ${n.workflow ?? ''} ${n.run_id ?? ''}`, blocks: [md(`:speech_balloon: *Answer* · *${esc(n.workflow ?? '')}* \`${n.run_id}\`\n${esc(cut(d.prompt ?? n.text, 2500))}`), md(line)] };
}

/** The modal that asks for an input step's answer. */
export function inputModal(ref: ApprovalRef, prompt: string): Record<string, unknown> {
  return {
    type: 'modal',
    callback_id: INPUT_VIEW,
    private_metadata: JSON.stringify(ref),
    title: plain('OpStream'),
    submit: plain('Send'),
    close: plain('Cancel'),
    blocks: [md(esc(cut(prompt, 2900))), { type: 'input', block_id: 'answer', label: plain('Your answer'), element: { type: 'plain_text_input', action_id: 'text', multiline: true } }],
  };
}

const SEV: Record<string, string> = { critical: 'CRIT', warning: 'WARN', info: 'INFO' };

/** Findings as a fixed-width table (Slack has no table block for messages everyone can render). */
export function findingsTable(a: AnalyzeOutput, max = 8): string {
  const rows = a.findings.slice(0, max).map((f, i) => [i + 1, SEV[f.severity] ?? f.severity, f.kind, cut(f.endpoint ?? f.target, 32), f.percentile ? `${f.metric} ${f.percentile}` : f.metric, formatValue(f.value, f.unit), formatValue(f.threshold, f.unit)]);
  const t = table(['#', 'SEV', 'KIND', 'TARGET', 'METRIC', 'VALUE', 'LIMIT'], rows);
  return a.findings.length > max ? `${t}\n… and ${a.findings.length - max} more` : t;
}

/** The completion reply: summary, findings table; the chart follows as an uploaded PNG. */
export function completionMessage(n: Notification, run: RunJson | null, analysis: AnalyzeOutput | null, chart: string | null): SlackMessage {
  const ok = n.kind === 'completion';
  const took = run ? tookText(run) : '';
  const title = `${ok ? STATUS_EMOJI.succeeded : STATUS_EMOJI.failed} ${n.workflow ?? 'run'} ${run?.status ?? 'finished'}${took ? ` in ${took}` : ''}`;
  const blocks: Block[] = [{ type: 'header', text: plain(title) }];
  if (analysis) {
    const s = analysis.summary;
    blocks.push(md(`*${esc(s.headline)}*${s.root_cause ? `\nLikely root cause: ${esc(cut(s.root_cause, 1500))}` : ''}`));
    const fields = [
      `*Run*\n\`${n.run_id}\``,
      `*Took*\n${took || '-'}`,
      `*Findings*\n${s.critical} critical, ${s.warning} warning${s.info ? `, ${s.info} info` : ''}`,
      // Application Signals facts come from AWS's metrics and spans, not from samples of ours
      analysis.appsignals
        ? `*Window*\n${[`${formatDuration(analysis.window.duration_ms)} of Application Signals`, ...[[analysis.appsignals.operations.length, 'operations'], [analysis.appsignals.dependencies.length, 'dependencies']].filter(([n]) => n).map(([n, what]) => `${n} ${what}`)].join(', ')}`
        : `*Window*\n${formatDuration(analysis.window.duration_ms)}, ${analysis.window.samples.http + analysis.window.samples.process + analysis.window.samples.log} samples`,
    ];
    if (analysis.slo) fields.push(`*SLO*\n${analysis.slo.status}${analysis.slo.time_to_recovery ? ` (recovered in ${analysis.slo.time_to_recovery})` : ''}`);
    blocks.push({ type: 'section', fields: fields.map((t) => ({ type: 'mrkdwn', text: t })) });
    if (analysis.findings.length) blocks.push(md(`*Findings*\n\`\`\`${esc(cut(findingsTable(analysis), 2800))}\`\`\``));
  } else {
    blocks.push(md(esc(cut(n.text, 2900))));
  }
  blocks.push(ctxBlock([`Full report: \`opstream report ${n.run_id}\``, chart ? `chart: ${esc(chart)} (below)` : '', 'ask in this thread: "why?", "show me the details"'].filter(Boolean).join(' · ')));
  return { text: cut(n.title, 3000), blocks };
}

/** One message for many held or merged notifications (quiet hours digest, max_frequency), from the chat layer's view. */
export function batchMessage(v: DigestView): SlackMessage {
  const blocks: Block[] = [{ type: 'header', text: plain(v.heading) }];
  for (const n of v.items) {
    blocks.push(md(`*${esc(cut(n.title, 300))}*${n.first ? `\n${esc(cut(n.first, 500))}` : ''}`));
    const a = n.approval;
    if (a) {
      const ref: ApprovalRef = { r: a.run, s: a.step, q: a.seq };
      blocks.push({ type: 'actions', block_id: `approval:${ref.r}:${ref.q}`, elements: [button('Approve', ACTION.approve, JSON.stringify(ref), 'primary'), button('Reject', ACTION.reject, JSON.stringify(ref), 'danger')] });
    }
  }
  if (v.more > 0) blocks.push(ctxBlock(`… and ${v.more} more: \`opstream inbox\``));
  return { text: `${v.heading}: ${v.items.map((e) => e.title).slice(0, 5).join('; ')}`, blocks: blocks.slice(0, 50) };
}

export function textMessage(text: string): SlackMessage {
  return { text: cut(text, 3000), blocks: [md(esc(text))] };
}

export function mrkdwnMessage(mrkdwn: string, fallback?: string): SlackMessage {
  return { text: cut(fallback ?? mrkdwn, 3000), blocks: [md(mrkdwn)] };
}
