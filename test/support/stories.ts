import type { DemoService } from './demo-service.js';
import type { RecordedChat } from './ollama-loopback.js';
import type { LoopbackMessage, SlackBlock, SlackLoopback } from './slack-loopback.js';

/**
 * What the two stories of the vision share between `npm run demo:slack` and test/e2e-stories:
 * the demo service as a `services:` entry (so `/opstream profile demo-service for 2 minutes`
 * needs no more words), a scripted stand-in model that answers from its prompt the way a real
 * one would, and the Slack thread as a person in the channel sees it, edits included.
 */

export interface ServiceOptions {
  /** Time between samples of `profile` (and checks of `slo`). */
  interval: string;
  requests?: number;
}

/** The `services:` section for the demo service: endpoints, process, log and its admin hooks. */
export function demoServiceYaml(svc: DemoService, o: ServiceOptions): string {
  return [
    'services:',
    '  demo-service:',
    `    url: "${svc.url}"`,
    '    endpoints: [/health, /api/orders, "/api/search?q=a", /api/checkout]',
    `    pid: ${svc.pid}`,
    `    log: "${svc.log}"`,
    `    interval: ${o.interval}`,
    `    requests: ${o.requests ?? 5}`,
    '    remediations:',
    '      "latency:/api/search": { method: POST, path: /admin/pool, body: { size: 20 }, description: raise the search pool }',
    '      "error_rate:/api/checkout": { method: POST, path: /admin/timeout, body: { ms: 2000 }, description: payments timeout above its latency }',
    '      cpu_saturation: { method: POST, path: /admin/restart-worker }',
    '      memory_growth: { method: POST, path: /admin/restart-worker }',
    '    workflows:',
    '      slo:',
    `        url: "${svc.url}/api/checkout"`,
    `        remediation_url: "${svc.url}/admin/timeout"`,
    '        remediation_body: { ms: 2000 }',
    '        recheck_every: 1s',
    '        availability: 99',
    '        latency_ms: 500',
    '',
  ].join('\n');
}

const text = (c: RecordedChat): string => c.body.messages.map((m) => m.content).join('\n');
const pick = (re: RegExp, s: string, d = ''): string => re.exec(s)?.[1]?.trim() ?? d;

/**
 * A stand-in model (for the loopback Ollama) that reads its prompt as a real one would,
 * deterministically: the explain step's JSON, and answers to questions in a run's thread that
 * list the findings with their suggested fixes and the fix that is ready to apply.
 */
export function storyModel(c: RecordedChat): { content: string } {
  const all = text(c);
  if (String(c.body.messages[0]?.content ?? '').startsWith('You answer questions about one OpStream run')) {
    const findings = [...all.matchAll(/\n- \[(critical|warning)\] ([^\n]+?)\. When[^\n]*Suggested fix: ([^\n]+)/g)];
    const ready = pick(/Remediation the run can apply after a person approves it: ([^\n]+)/, all);
    const lines = [`${pick(/Analysis \([a-z]+\): ([^.]+)/, all, 'No analysis yet')}:`];
    findings.slice(0, 4).forEach((m, i) => lines.push(`${i + 1}. ${m[2]}. Suggested fix: ${m[3].split('. ')[0]}.`));
    if (ready) lines.push(`Ready to apply once someone approves it: ${ready}`);
    return { content: lines.join('\n') };
  }
  if (c.body.format) {
    const cause = pick(/Likely root cause: (.+?)\. Findings/, all, 'see the findings');
    const search = /\/api\/search/.test(all);
    return {
      content: JSON.stringify({
        explanation: search
          ? `Every /api/search request fans out to 10 shard queries, but the search pool has fewer connections than that, so the queries wait for each other (${cause.split(';')[0]}).`
          : `${cause}.`,
        seen_before: 'No earlier incident of this service in memory.',
        fixes: search ? ['Raise the search pool to at least the fan-out (10)', 'Cap the shards queried per request'] : ['Fix the cause named in the findings'],
      }),
    };
  }
  return { content: 'I have read the findings.' };
}

// ---------------------------------------------------------------- the thread as people see it

function plain(t: unknown): string {
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && 'text' in t) return plain((t as { text: unknown }).text);
  return '';
}

function blockLines(b: SlackBlock): string[] {
  switch (b.type) {
    case 'header':
      return [`# ${plain(b.text)}`];
    case 'section': {
      const out = plain(b.text) ? plain(b.text).split('\n') : [];
      if (Array.isArray(b.fields)) out.push(b.fields.map((f) => plain(f).replace(/\n/g, ' ')).join(' | '));
      return out;
    }
    case 'context':
      return Array.isArray(b.elements) ? [b.elements.map(plain).join(' ')] : [];
    case 'actions':
      return Array.isArray(b.elements) ? [b.elements.map((e) => `[${plain((e as { text?: unknown }).text)}]`).join(' ')] : [];
    case 'divider':
      return ['---'];
    default:
      return [];
  }
}

/** What a message shows: its blocks (the text is only the notification fallback), files as [chart: title]. */
export function rendered(content: { text: string; blocks?: SlackBlock[] }, m?: LoopbackMessage): string[] {
  const lines = content.blocks?.length ? content.blocks.flatMap(blockLines) : content.text.split('\n');
  for (const f of m?.files ?? []) lines.push(`[image: ${f.title}]`);
  return lines.map(mrkdwn).filter((l) => l.trim() !== '');
}

const NAMES: Record<string, string> = { U0ALICE: 'alice', U0BOB: 'bob', U0VIC: 'vic', U0EVE: 'eve' };

/** Slack's markup as the client shows it: dates by their fallback, mentions by name, bold plain. */
function mrkdwn(l: string): string {
  return l
    .replace(/<!date\^\d+\^[^|>]*\|([^>]*)>/g, '$1')
    .replace(/<@([UW][A-Z0-9]+)>/g, (_m, id: string) => `@${NAMES[id] ?? id}`)
    .replace(/(^|[\s(])\*([^*\n]+)\*(?=$|[\s).,:;])/g, '$1$2')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

export interface TimelineEntry {
  at: number;
  who: string;
  /** post: a new message; edit: a later version of one shown before. */
  kind: 'post' | 'edit';
  /** The message's ts (edits name the message they change). */
  ts: string;
  lines: string[];
  /** For an edit: the lines that are new in this version. */
  changed: string[];
}

/**
 * A thread in the order things appeared in it: each post, and each edit of a message as its own
 * entry (consecutive identical versions dropped), oldest first.
 */
export function timeline(lb: SlackLoopback, channel: string, threadTs: string): TimelineEntry[] {
  const people = new Map([['U0ALICE', 'alice'], ['U0BOB', 'bob'], ['U0VIC', 'vic'], ['U0EVE', 'eve']]);
  const out: TimelineEntry[] = [];
  for (const m of lb.thread(channel, threadTs)) {
    const who = m.bot_id ? 'OpStream' : (people.get(m.user ?? '') ?? m.user ?? '?');
    let last: string[] = [];
    m.revisions.forEach((r, i) => {
      const lines = rendered({ text: r.text, blocks: r.blocks }, i === 0 ? m : undefined);
      if (lines.join('\n') === last.join('\n')) return;
      const changed = lines.filter((l) => !last.includes(l));
      last = lines;
      out.push({ at: r.at, who, kind: i === 0 ? 'post' : 'edit', ts: m.ts, lines, changed });
    });
    if (m.files?.length && m.revisions.length === 0) out.push({ at: Number(m.ts.split('.')[0]) * 1000, who, kind: 'post', ts: m.ts, lines: rendered(m, m), changed: [] });
  }
  return out.sort((a, b) => a.at - b.at || a.ts.localeCompare(b.ts));
}

/** The timeline as text: the thread's parent first, replies indented, edits marked [edited] with what changed. */
export function printTimeline(entries: TimelineEntry[], parentTs: string): string {
  const out: string[] = [];
  for (const e of entries) {
    const indent = e.ts === parentTs ? '' : '  ↳ ';
    const pad = ' '.repeat(indent.length + 2);
    const body = e.kind === 'edit' ? e.changed : e.lines;
    const head = e.kind === 'edit' ? `${indent}[edited] ${e.who}: ` : `${indent}${e.who}: `;
    out.push(`${head}${body[0] ?? ''}`);
    for (const l of body.slice(1)) out.push(`${pad}${l}`);
  }
  return out.join('\n');
}

/** The first message in `channel` matching `p`, waiting for it (Slack delivery is asynchronous). */
export function waitMessage(lb: SlackLoopback, channel: string, p: (m: LoopbackMessage) => boolean, timeoutMs = 60_000): Promise<LoopbackMessage> {
  return lb.waitForMessage(channel, p, timeoutMs);
}

/** All the text a message shows, blocks included. */
export function shows(m: Pick<LoopbackMessage, 'text' | 'blocks'>): string {
  return rendered(m).join('\n');
}

/** A person writes in a thread (the message appears, then Slack sends the event). */
export async function reply(lb: SlackLoopback, channel: string, user: string, threadTs: string, words: string): Promise<LoopbackMessage> {
  const m = lb.postAsUser({ channel, user, text: words, thread_ts: threadTs });
  await lb.event({ type: 'message', channel, user, text: words, ts: m.ts, thread_ts: threadTs });
  return m;
}

/** `/opstream <text>` from `user` in #ops-alerts; the text of the command's response. */
export async function slash(lb: SlackLoopback, text: string, user: string): Promise<string> {
  const before = lb.responses().length;
  await lb.slashCommand({ text, user_id: user, channel_id: '#ops-alerts' });
  const r = await lb.waitForResponse((x) => lb.responses().indexOf(x) >= before, 30_000);
  return String(r.body.text);
}

/** A reply in `thread` matching `p`, posted by the bot. */
export function botReply(lb: SlackLoopback, channel: string, thread: string, p: (text: string) => boolean, timeoutMs = 60_000): Promise<LoopbackMessage> {
  return lb.waitForMessage(channel, (m) => m.thread_ts === thread && m.ts !== thread && m.bot_id !== undefined && p(shows(m)), timeoutMs);
}
