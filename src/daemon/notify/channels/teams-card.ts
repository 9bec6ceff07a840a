import type { Notification, RunJson } from '../../../protocol/index.js';
import { formatMeasurement, iterationMeasurements, type Measurement } from '../../../protocol/run-view.js';

/**
 * Microsoft Teams: a notification as an Adaptive Card inside the message envelope that both Teams
 * incoming webhooks (Office 365 connector) and Workflows ("When a Teams webhook request is
 * received") take: `{"type":"message","attachments":[{"contentType":
 * "application/vnd.microsoft.card.adaptive","content":CARD}]}`.
 *
 * The card keeps to Adaptive Cards 1.4 and to three element types (TextBlock, FactSet, Container),
 * which every Teams client and the Workflows "Post card in a chat or channel" action render. A
 * webhook cannot receive clicks, so an approval shows the exact commands to answer it instead of
 * buttons. Everything that came from outside (tool output, notify texts, arguments) is escaped for
 * the Markdown subset Teams renders in TextBlock and Fact text, and known secrets are masked.
 */

export const CARD_VERSION = '1.4';
export const CARD_SCHEMA = 'http://adaptivecards.io/schemas/adaptive-card.json';
export const CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';
/**
 * Teams refuses a message over about 28 KB (HTTP 413, or a 200 whose body says 413 on the classic
 * connector). The card is kept under this many bytes of JSON, leaving room for the envelope Teams
 * wraps around it.
 */
export const MAX_CARD_BYTES = 24 * 1024;

export type CardElement =
  | { type: 'TextBlock'; text: string; wrap: true; weight?: 'Bolder'; size?: 'Small' | 'Medium' | 'Large'; color?: 'Attention' | 'Warning' | 'Good' | 'Accent'; isSubtle?: boolean; fontType?: 'Monospace'; spacing?: 'Small' | 'Medium' }
  | { type: 'FactSet'; facts: { title: string; value: string }[] }
  | { type: 'Container'; items: CardElement[]; style?: 'emphasis' | 'attention' | 'warning' | 'good'; separator?: boolean };

export interface TeamsMessage {
  type: 'message';
  summary: string;
  attachments: { contentType: typeof CARD_CONTENT_TYPE; contentUrl: null; content: { $schema: string; type: 'AdaptiveCard'; version: string; body: CardElement[]; msteams: { width: 'Full' } } }[];
}

/**
 * Escapes what Teams would read as Markdown or as a mention: emphasis (`*`, `_` except inside a word), links and images
 * (`[`, `]`), code (`` ` ``), strike (`~`), `<at>` mentions and autolinks (`<`, `>`), the escape
 * itself, and list or heading markers at the start of a line. CommonMark backslash escapes, which
 * the Adaptive Card renderers honour: the text reads as it was written.
 */
export function escapeTeams(s: string): string {
  const word = (c: string | undefined): boolean => c !== undefined && /[\p{L}\p{N}]/u.test(c);
  return s
    .replace(/[\\`*[\]~<>]/g, (c) => `\\${c}`)
    // an underscore inside a word (`checkout_api`, `r_8f3k2m`) is never emphasis: left as typed
    .replace(/_/g, (c, at: number, all: string) => (word(all[at - 1]) && word(all[at + 1]) ? c : `\\${c}`))
    .replace(/^(\s*)([-+#]|\d+[.)])(?=\s|$)/gm, (_m, sp: string, mark: string) => `${sp}${mark.replace(/[-+#.)]$/, (c) => `\\${c}`)}`);
}

/** Text as TextBlock paragraphs: Teams needs a blank line for a line break inside one block. */
function paragraphs(s: string): string {
  return s
    .split(/\r?\n/)
    .map((l) => l.trimEnd())
    .filter((l, i, all) => l !== '' || (i > 0 && all[i - 1] !== ''))
    .join('\n\n')
    .trim();
}

/** Cuts `s` to `max` characters, saying so (and where the whole text is). */
function cut(s: string, max: number, where: string, cuts: { n: number }): string {
  if (s.length <= max) return s;
  cuts.n++;
  return `${s.slice(0, Math.max(0, max))}… [truncated: ${s.length - max} more characters; the full text: ${where}]`;
}

/**
 * A key that names a secret, as a whole word of it: `password`, `api_key`, `apiKey`, `X-Auth-Token`,
 * `db_pin`; not `mapping`, `author` or `tokens_used` (an approver must see what they approve).
 */
export function secretKey(k: string): boolean {
  const words = k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
  const joined = words.join('_');
  return words.some((w) => ['secret', 'token', 'password', 'passwd', 'passphrase', 'credential', 'credentials', 'auth', 'authorization', 'pin', 'dsn', 'apikey', 'cookie'].includes(w)) || /(^|_)(api|access|private|secret|routing)_key($|_)/.test(joined);
}

/** Values under keys that name a secret are never shown. */
function maskArgs(v: unknown, depth = 0): unknown {
  if (depth > 8) return '…';
  if (Array.isArray(v)) return v.map((x) => maskArgs(x, depth + 1));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, secretKey(k) && x !== null && x !== '' ? '[redacted]' : maskArgs(x, depth + 1)]));
  return v;
}

const text = (t: string, extra: Partial<Extract<CardElement, { type: 'TextBlock' }>> = {}): CardElement => ({ type: 'TextBlock', text: t, wrap: true, ...extra });

export interface CardInput {
  n: Notification;
  /** The run as every screen shows it, read when the card is sent; null for a notification without a run (or a run removed). */
  view: RunJson | null;
  /** Masks every secret value the daemon knows in a text. */
  mask: (s: string) => string;
}

/** How short texts get per pass when a card is too big: the first pass that fits is sent. */
const LIMITS = [
  { body: 4000, args: 3000, error: 1500, facts: 20 },
  { body: 2000, args: 1500, error: 800, facts: 12 },
  { body: 800, args: 600, error: 400, facts: 8 },
  { body: 200, args: 150, error: 150, facts: 4 },
];

/** The Teams message for one notification, under MAX_CARD_BYTES (texts cut, saying so, when needed). */
export function teamsMessage(input: CardInput): { message: TeamsMessage; bytes: number; truncated: boolean } {
  for (const limit of LIMITS) {
    const cuts = { n: 0 };
    const body = cardBody(input, limit, cuts);
    if (cuts.n > 0) body.push(text(`Some texts were truncated to fit Teams' message size limit; the full run: opstream status ${input.n.run_id ?? ''}`.trim(), { isSubtle: true, size: 'Small' }));
    const message = envelope(input, body);
    const bytes = Buffer.byteLength(JSON.stringify(message.attachments[0].content));
    if (bytes <= MAX_CARD_BYTES) return { message, bytes, truncated: cuts.n > 0 };
  }
  // still too big (a title or measurement names of absurd length): the essentials only
  const n = input.n;
  const body: CardElement[] = [
    text(escapeTeams(input.mask(n.title.slice(0, 200))), { weight: 'Bolder', size: 'Medium' }),
    text(`This notification was too large for Teams and was truncated; see it with: opstream inbox${n.run_id ? ` --run ${n.run_id}` : ''}`, { isSubtle: true }),
  ];
  const message = envelope(input, body);
  return { message, bytes: Buffer.byteLength(JSON.stringify(message.attachments[0].content)), truncated: true };
}

function envelope(input: CardInput, body: CardElement[]): TeamsMessage {
  return {
    type: 'message',
    // the preview line in the Teams activity feed (plain text, not Markdown)
    summary: input.mask(input.n.title).slice(0, 200),
    attachments: [{ contentType: CARD_CONTENT_TYPE, contentUrl: null, content: { $schema: CARD_SCHEMA, type: 'AdaptiveCard', version: CARD_VERSION, body, msteams: { width: 'Full' } } }],
  };
}

/** A run's status as one honest phrase: a rejected remediation is said, breached objectives too. */
function statusPhrase(n: Notification, view: RunJson | null, breached: number): string {
  if (n.kind === 'approval') return 'needs an approval';
  if (n.kind === 'input') return 'needs an answer';
  if (n.kind === 'test') return 'test notification';
  const base = view ? (view.outcome ?? view.status) : ({ error: 'failed', completion: 'finished', start: 'started', notify: 'update' } as Record<string, string>)[n.kind] ?? n.kind;
  return breached > 0 ? `${base}, ${breached} objective${breached === 1 ? '' : 's'} BREACHED` : base;
}

/** What the run is about: the service (or target, host, url) it was started for. */
function subjectOf(view: RunJson | null): string | null {
  if (!view) return null;
  for (const k of ['service', 'target', 'host', 'url']) if (typeof view.params[k] === 'string' && view.params[k]) return String(view.params[k]);
  return null;
}

/** Measurements from the run view: each succeeded step's, a loop's latest iteration's, a live watch's latest check. */
export function viewMeasurements(view: RunJson): { m: Measurement; label: string }[] {
  const out: { m: Measurement; label: string }[] = [];
  for (const s of view.steps) {
    const label = s.label ?? s.id;
    if (s.measurements?.length) for (const m of s.measurements) out.push({ m, label });
    else if (Array.isArray(s.output) && s.output.length && !s.id.includes('.') && !s.id.includes('[')) for (const m of iterationMeasurements(s.output[s.output.length - 1])) out.push({ m, label });
  }
  for (const m of view.progress.watch?.last ?? []) out.push({ m, label: 'latest check' });
  // the newest reading of a metric per step wins; objectives first (what a person checks first)
  const seen = new Map<string, { m: Measurement; label: string }>();
  for (const x of out) seen.set(`${x.label}\u0000${x.m.metric}`, x);
  const all = [...seen.values()];
  return [...all.filter((x) => x.m.threshold !== null || x.m.ok !== null), ...all.filter((x) => x.m.threshold === null && x.m.ok === null)];
}

function measurementValue(m: Measurement): string {
  const s = formatMeasurement(m);
  const v = s.startsWith(`${m.metric} `) ? s.slice(m.metric.length + 1) : s;
  return m.ok === true && !/\bmet$/.test(v) ? `${v} ok` : v;
}

/**
 * A run id as it can be typed: run ids are `r_` and lowercase letters and digits, in which nothing
 * is Markdown (an underscore inside a word is not emphasis), so commands are sent unescaped and
 * copy the same from every Teams client. Anything else is escaped like any text.
 */
function typable(id: string | null): string | null {
  if (!id) return null;
  return /^r_[a-z0-9]{4,16}$/.test(id) ? id : escapeTeams(id);
}

function cardBody({ n, view, mask }: CardInput, limit: (typeof LIMITS)[number], cuts: { n: number }): CardElement[] {
  const clean = (s: string, max: number, where: string): string => escapeTeams(cut(mask(s), max, where, cuts));
  const runId = typable(n.run_id);
  const where = runId ? `opstream status ${runId}` : 'opstream inbox';
  const ms = view ? viewMeasurements(view) : [];
  const breached = ms.filter((x) => x.m.ok === false).length;
  const subject = subjectOf(view);
  const wf = n.workflow ?? view?.workflow ?? null;
  const title = wf ? `${wf}${subject && subject !== wf ? ` on ${subject}` : ''}: ${statusPhrase(n, view, breached)}` : n.title;
  const body: CardElement[] = [text(clean(title, 200, where), { weight: 'Bolder', size: 'Large', color: n.level === 'critical' || breached > 0 ? 'Attention' : n.level === 'warning' ? 'Warning' : undefined })];
  // the event's own line (what happened now), when it says more than the title
  if (n.title && n.title !== title) body.push(text(clean(n.title, 300, where), { isSubtle: true, spacing: 'Small' }));

  const facts: { title: string; value: string }[] = [];
  if (runId) facts.push({ title: 'Run', value: runId });
  if (view) facts.push({ title: 'Status', value: escapeTeams(view.outcome ?? view.status) });
  if (view?.current_label && view.status !== 'succeeded') facts.push({ title: 'Step', value: clean(view.current_label, 200, where) });
  else if (n.step) facts.push({ title: 'Step', value: clean(n.step, 200, where) });
  facts.push({ title: 'Level', value: n.level });
  if (facts.length) body.push({ type: 'FactSet', facts });

  if (n.kind === 'approval' || n.kind === 'input') body.push(askContainer(n, runId, limit, clean, where));
  else if (n.text) body.push(text(clean(paragraphs(n.text), limit.body, where)));

  if (ms.length) {
    const shown = ms.slice(0, limit.facts);
    const dup = new Set(shown.map((x) => x.m.metric).filter((m, i, all) => all.indexOf(m) !== i));
    body.push({
      type: 'Container',
      separator: true,
      items: [
        text('Measurements', { weight: 'Bolder' }),
        { type: 'FactSet', facts: shown.map((x) => ({ title: clean(dup.has(x.m.metric) ? `${x.m.metric} (${x.label})` : x.m.metric, 120, where), value: clean(measurementValue(x.m), 200, where) })) },
        ...(ms.length > shown.length ? [text(`… and ${ms.length - shown.length} more: ${where}`, { isSubtle: true, size: 'Small' as const })] : []),
      ],
    });
  }

  const error = lastError(view);
  if (error) body.push({ type: 'Container', style: 'attention', items: [text('Last error', { weight: 'Bolder' }), text(clean(paragraphs(error), limit.error, where))] });

  // webhooks cannot take clicks: where to look next, as commands
  const hints = runId ? [`Open in the CLI: opstream status ${runId}`, ...(n.kind === 'completion' ? [`report: opstream report ${runId}`] : []), 'dashboard: opstream dashboard'] : ['Open in the CLI: opstream inbox', 'dashboard: opstream dashboard'];
  body.push(text(hints.join(' · '), { isSubtle: true, size: 'Small', spacing: 'Medium' }));
  return body;
}

/** What waits for a person, what answering lets the run do, and the exact commands to answer. */
function askContainer(n: Notification, runId: string | null, limit: (typeof LIMITS)[number], clean: (s: string, max: number, where: string) => string, where: string): CardElement {
  const d = n.data as { prompt?: string; until?: string | null; on_timeout?: string | null; approvers?: string[]; next?: { step?: string; tool?: string; args?: unknown; args_hash?: string | null } };
  const items: CardElement[] = [text(n.kind === 'approval' ? 'Approval needed' : 'Answer needed', { weight: 'Bolder', color: 'Warning' })];
  const prompt = d.prompt || n.text.split('\n')[0] || '';
  if (prompt) items.push(text(clean(paragraphs(prompt), limit.body, where)));
  const next = d.next;
  if (n.kind === 'approval' && next?.tool) {
    const args = maskArgs(next.args ?? {});
    const entries = args && typeof args === 'object' && !Array.isArray(args) ? Object.entries(args) : [['arguments', args] as [string, unknown]];
    items.push(text(clean(`If approved, the run goes on to step ${next.step ?? '?'} and calls ${next.tool}${entries.length ? ' with:' : ' without arguments'}`, 400, where)));
    // one fact per argument (Teams renders facts as a two-column table; a code block it does not have)
    const shown = entries.slice(0, limit.facts);
    if (shown.length) items.push({ type: 'FactSet', facts: shown.map(([k, v]) => ({ title: clean(k, 100, where), value: clean(typeof v === 'string' ? v : JSON.stringify(v) ?? 'null', limit.args, where) || ' ' })) });
    if (entries.length > shown.length) items.push(text(`… and ${entries.length - shown.length} more arguments: ${where}`, { isSubtle: true, size: 'Small' }));
    if (next.args_hash) items.push(text(`args sha256 ${escapeTeams(next.args_hash)}`, { isSubtle: true, size: 'Small' }));
  }
  const facts: { title: string; value: string }[] = [];
  if (d.approvers?.length) facts.push({ title: 'Approvers', value: clean(d.approvers.join(', '), 300, where) });
  if (d.until) facts.push({ title: 'Answer before', value: escapeTeams(`${d.until}${n.kind === 'approval' ? ` (then ${d.on_timeout ?? 'reject'})` : ' (then the step fails)'}`) });
  if (facts.length) items.push({ type: 'FactSet', facts });
  if (runId) {
    items.push(text('Teams cannot send your answer back to OpStream; answer from a terminal:', { spacing: 'Medium' }));
    const cmds = n.kind === 'approval' ? [`opstream approve ${runId}`, `opstream reject ${runId} --comment "why"`] : [`opstream respond ${runId} "your answer"`];
    for (const c of cmds) items.push(text(c, { fontType: 'Monospace', weight: 'Bolder' }));
  }
  return { type: 'Container', style: 'emphasis', separator: true, items };
}

/** The run's error, or else the newest failed step's. */
function lastError(view: RunJson | null): string | null {
  if (!view) return null;
  if (view.error) return view.error;
  const failed = view.steps.filter((s) => s.error && (s.status === 'failed' || s.status === 'rejected'));
  const last = failed[failed.length - 1];
  return last ? `${last.label ?? last.id}: ${last.error}` : null;
}
