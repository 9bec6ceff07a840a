import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/config/paths.js';
import { startRun, waitStatus } from '../support/engine-fixtures.js';
import { cli, tempHome, type TempHome } from '../support/home.js';
import { inbox, waitDelivery } from '../support/notify.js';
import { startWebhookReceiver, TEAMS_MAX_BYTES, teamsReply, type ReceivedHook } from '../support/webhook-receiver.js';

type Receiver = Awaited<ReturnType<typeof startWebhookReceiver>>;
type Obj = Record<string, unknown>;

function writeConfig(h: TempHome, yaml: string): void {
  writeFileSync(join(h.home, 'config.yaml'), yaml);
}

function writeWorkflow(h: TempHome, name: string, yaml: string): void {
  mkdirSync(join(h.home, 'workflows'), { recursive: true });
  writeFileSync(join(h.home, 'workflows', name), yaml);
}


// ------------------------------------------------------------ Adaptive Card 1.4 (the subset we send)

const ONE_OF = {
  weight: ['Default', 'Lighter', 'Bolder'],
  size: ['Default', 'Small', 'Medium', 'Large', 'ExtraLarge'],
  color: ['Default', 'Dark', 'Light', 'Accent', 'Good', 'Warning', 'Attention'],
  fontType: ['Default', 'Monospace'],
  spacing: ['None', 'Small', 'Default', 'Medium', 'Large', 'ExtraLarge', 'Padding'],
  style: ['default', 'emphasis', 'good', 'attention', 'warning', 'accent'],
} as Record<string, string[]>;
const COMMON = ['type', 'id', 'spacing', 'separator', 'isVisible', 'height'];
const PROPS: Record<string, string[]> = {
  TextBlock: [...COMMON, 'text', 'wrap', 'weight', 'size', 'color', 'isSubtle', 'fontType', 'maxLines', 'horizontalAlignment'],
  FactSet: [...COMMON, 'facts'],
  Container: [...COMMON, 'items', 'style', 'verticalContentAlignment', 'bleed', 'minHeight'],
};

/**
 * Checks a Teams message against the Adaptive Card 1.4 schema for the elements OpStream uses
 * (TextBlock, FactSet, Container): the envelope, the card's version and $schema, each element's
 * type, its properties and their enum values, facts as title/value strings. Returns the problems.
 */
function cardProblems(msg: Obj): string[] {
  const out: string[] = [];
  if (msg.type !== 'message') out.push(`type ${String(msg.type)}`);
  const att = msg.attachments as Obj[];
  if (!Array.isArray(att) || att.length !== 1) return [...out, 'attachments'];
  if (att[0].contentType !== 'application/vnd.microsoft.card.adaptive') out.push(`contentType ${String(att[0].contentType)}`);
  const card = att[0].content as Obj;
  if (card.type !== 'AdaptiveCard') out.push('card type');
  if (card.$schema !== 'http://adaptivecards.io/schemas/adaptive-card.json') out.push('$schema');
  const [maj, min] = String(card.version).split('.').map(Number);
  if (!(maj === 1 && min >= 0 && min <= 4)) out.push(`version ${String(card.version)}`);
  for (const k of Object.keys(card)) if (!['$schema', 'type', 'version', 'body', 'msteams', 'fallbackText', 'lang', 'speak'].includes(k)) out.push(`card property ${k}`);
  if (!Array.isArray(card.body) || card.body.length === 0) return [...out, 'empty body'];
  const walk = (els: Obj[], path: string): void => {
    els.forEach((el, i) => {
      const at = `${path}[${i}]`;
      const allowed = PROPS[String(el.type)];
      if (!allowed) return void out.push(`${at}: element ${String(el.type)} is not TextBlock, FactSet or Container`);
      for (const [k, v] of Object.entries(el)) {
        if (!allowed.includes(k)) out.push(`${at}: ${String(el.type)} has no property ${k}`);
        if (ONE_OF[k] && !ONE_OF[k].includes(String(v))) out.push(`${at}.${k}: ${String(v)}`);
      }
      if (el.type === 'TextBlock' && (typeof el.text !== 'string' || el.text === '')) out.push(`${at}: TextBlock without text`);
      if (el.type === 'FactSet') {
        const facts = el.facts as Obj[];
        if (!Array.isArray(facts) || facts.length === 0) out.push(`${at}: FactSet without facts`);
        else for (const f of facts) if (typeof f.title !== 'string' || typeof f.value !== 'string' || Object.keys(f).length !== 2) out.push(`${at}: fact ${JSON.stringify(f)}`);
      }
      if (el.type === 'Container') {
        if (!Array.isArray(el.items) || el.items.length === 0) out.push(`${at}: Container without items`);
        else walk(el.items as Obj[], `${at}.items`);
      }
    });
  };
  walk(card.body as Obj[], 'body');
  return out;
}

/** Every string Teams renders as Markdown: TextBlock texts, fact titles and values. */
function texts(msg: Obj): string[] {
  const out: string[] = [];
  const walk = (els: Obj[]): void => {
    for (const el of els) {
      if (el.type === 'TextBlock') out.push(String(el.text));
      if (el.type === 'FactSet') for (const f of el.facts as Obj[]) out.push(String(f.title), String(f.value));
      if (el.type === 'Container') walk(el.items as Obj[]);
    }
  };
  walk(((msg.attachments as Obj[])[0].content as Obj).body as Obj[]);
  return out;
}

/** What a person reads: the Markdown backslash escapes removed. */
const plain = (s: string): string => s.replace(/\\([\\`*_[\]~<>#+.)-])/g, '$1');
const facts = (msg: Obj): Record<string, string> => {
  const out: Record<string, string> = {};
  const walk = (els: Obj[]): void => {
    for (const el of els) {
      if (el.type === 'FactSet') for (const f of el.facts as Obj[]) out[plain(String(f.title))] = plain(String(f.value));
      if (el.type === 'Container') walk(el.items as Obj[]);
    }
  };
  walk(((msg.attachments as Obj[])[0].content as Obj).body as Obj[]);
  return out;
};
const titleOf = (msg: Obj): string => plain(texts(msg)[0]);
const cardOf = (hook: ReceivedHook): Obj => hook.json;

describe('Microsoft Teams: run events as Adaptive Cards', () => {
  let h: TempHome;
  let teams: Receiver;

  beforeEach(() => {
    h = tempHome('opt-');
    h.env.OPSTREAM_ENGINE_FAULTS = '1';
  });

  afterEach(async () => {
    await h.cleanup();
    await teams?.close();
  });

  it('a finished run with a breached objective: a valid 1.4 card with its status, measurements from the run view and the CLI hint, accepted by a Workflows webhook (202)', async () => {
    teams = await startWebhookReceiver([teamsReply.accepted], { teams: 'workflows' });
    writeConfig(h, `notify:\n  desktop: off\n  webhooks:\n    - { name: teams, url: "${teams.url}", format: teams }\n`);
    writeWorkflow(
      h,
      'check.yaml',
      `id: check\nnotifications: [completion, errors]\nparams:\n  service: { type: string, default: checkout-api }\nsteps:\n  - id: slo\n    tool: engine_test.noop\n    with: { value: { slo: { met: false, availability_pct: 42.5, latency_ms: 900, objectives: { availability_pct: 99, latency_ms: 500, latency_percentile: p95 } } } }\n  - id: cpu\n    tool: engine_test.noop\n    with: { value: { cpu_percent: 12 } }\n`,
    );
    const id = await startRun(h, ['check']);
    await waitStatus(h, id, (r) => r.status === 'succeeded', 'the run to succeed');
    const [n] = await waitDelivery(h, id, (ns) => ns.some((x) => x.kind === 'completion' && x.channels.teams?.state === 'sent'), 'the completion card delivered');
    const done = (await inbox(h, id)).find((x) => x.kind === 'completion')!;
    expect(done.channels.teams).toMatchObject({ state: 'sent', attempts: 1, receipt: 'HTTP 202' });
    expect(n).toBeDefined();

    expect(teams.received).toHaveLength(1);
    const msg = cardOf(teams.received[0]);
    expect(cardProblems(msg)).toEqual([]);
    expect(teams.received[0].headers['content-type']).toBe('application/json');
    // honest title: the run succeeded, and its objectives were breached
    expect(titleOf(msg)).toBe('check on checkout-api: succeeded, 2 objectives BREACHED');
    const f = facts(msg);
    expect(f.Run).toBe(id);
    expect(f.Status).toBe('succeeded');
    expect(f.availability).toBe('42.5% (objective ≥ 99%) BREACHED');
    expect(f['latency p95']).toBe('900 ms (objective ≤ 500 ms) BREACHED');
    expect(f.CPU).toBe('12%');
    const all = texts(msg).map(plain).join('\n');
    expect(all).toContain(`opstream status ${id}`);
    expect(all).toContain('opstream dashboard');
    expect(all).toContain(`opstream report ${id}`);

    // notify status names the channel's kind and where it delivers
    const st = await cli(['notify', 'status', '--json'], h.env);
    expect(st.code, st.stderr).toBe(0);
    const ch = (JSON.parse(st.stdout) as { channels: { name: string; kind: string; target: string }[] }).channels.find((c) => c.name === 'teams');
    expect(ch).toMatchObject({ kind: 'teams', target: teams.url });
  });

  it('an approval shows what waits (tool and arguments, secrets masked), the exact commands to answer it, escapes <at> and Markdown from tool output; a rejection is not called a success', async () => {
    teams = await startWebhookReceiver([teamsReply.ok], { teams: 'connector' });
    h.env.OPS_API_TOKEN = 'tok-9f8e7d6c5b4a3210';
    // a Workflows URL carries its credential in `sig`: it is never shown
    writeConfig(h, `notify:\n  desktop: off\n  webhooks:\n    - { name: teams, url: "${teams.url}?api-version=1&sig=S1GSECRETvalue0123456789", format: teams }\n`);
    writeWorkflow(
      h,
      'fix.yaml',
      [
        'id: fix',
        'notifications: [completion, errors]',
        'params:',
        '  service: { type: string, default: checkout-api }',
        '  api_key: { type: string }',
        'steps:',
        '  - id: look',
        '    tool: engine_test.noop',
        '    with: { value: "<at>Everyone</at> **URGENT** [click](http://evil.example) _now_" }',
        '  - id: say',
        '    notify: { text: "tool said: {{ steps.look.output }}", level: warning }',
        '  - id: ask',
        '    name: Restart',
        '    on_error: continue',
        '    approval: { prompt: "Restart {{ params.service }}? {{ steps.look.output }}" }',
        '  - id: restart',
        '    when: "{{ steps.ask.output.decision == \'approved\' }}"',
        '    tool: engine_test.noop',
        '    with: { value: { service: "{{ params.service }}", api_key: "{{ params.api_key }}", note: "calls with {{ params.api_key }}" } }',
        '',
      ].join('\n'),
    );
    const id = await startRun(h, ['fix', 'api_key=tok-9f8e7d6c5b4a3210']);
    await waitStatus(h, id, (r) => r.status === 'waiting', 'the run to wait for the approval');
    await waitDelivery(h, id, (ns) => ns.some((x) => x.kind === 'approval' && x.channels.teams?.state === 'sent'), 'the approval card delivered');
    const cards = teams.received.map(cardOf);
    for (const c of cards) expect(cardProblems(c)).toEqual([]);
    const ask = cards.find((c) => titleOf(c).endsWith('needs an approval'))!;
    expect(titleOf(ask)).toBe('fix on checkout-api: needs an approval');
    const shown = texts(ask).map(plain);
    expect(shown).toContain('Approval needed');
    expect(shown.join('\n')).toContain('Restart checkout-api?');
    expect(shown.join('\n')).toMatch(/goes on to step restart and calls engine_test\.noop with:/);
    // the exact commands, each in its own monospace block
    const blocks = JSON.stringify(ask);
    expect(shown).toContain(`opstream approve ${id}`);
    expect(shown).toContain(`opstream reject ${id} --comment "why"`);
    expect(blocks).toContain('"fontType":"Monospace"');
    // no secret anywhere in any card: the key named like a secret, the value by the daemon's secrets, the URL's sig
    const raw = teams.received.map((r) => r.body).join('\n');
    expect(raw).not.toContain('tok-9f8e7d6c5b4a3210');
    expect(raw).not.toContain('S1GSECRETvalue0123456789');
    // engine_test.noop takes one argument, `value`: shown as its JSON, a key named like a secret masked inside it
    const args = JSON.parse(facts(ask).value) as Record<string, string>;
    expect(args.service).toBe('checkout-api');
    expect(args.api_key).toBe('[redacted]');
    expect(args.note).toMatch(/^calls with \[redacted:OPS_API_TOKEN\]$/);
    const log = readFileSync(resolvePaths(h.env).logFile, 'utf8');
    expect(log).not.toContain('S1GSECRETvalue0123456789');

    // tool output cannot mention people or format the card: every Markdown character escaped
    const say = cards.find((c) => texts(c).some((t) => plain(t).startsWith('tool said:')))!;
    expect(say).toBeDefined();
    for (const c of [ask, say]) {
      for (const t of texts(c)) {
        expect(t).not.toMatch(/(^|[^\\])<at>/);
        expect(t).not.toMatch(/(^|[^\\])\*\*/);
        expect(t).not.toMatch(/(^|[^\\])\[click/);
        expect(t).not.toMatch(/(^|[^\\])_now/);
      }
    }
    expect(texts(say).map(plain)).toContain('tool said: <at>Everyone</at> **URGENT** [click](http://evil.example) _now_');
    expect(texts(say)).toContain('tool said: \\<at\\>Everyone\\</at\\> \\*\\*URGENT\\*\\* \\[click\\](http://evil.example) \\_now\\_');

    // rejected: the run goes on without the remediation, and the card says so
    expect((await cli(['reject', id, '--comment', 'not now'], h.env)).code).toBe(0);
    await waitStatus(h, id, (r) => r.status === 'succeeded', 'the run to finish without the restart');
    await waitDelivery(h, id, (ns) => ns.some((x) => x.kind === 'completion' && x.channels.teams?.state === 'sent'), 'the completion card');
    const end = teams.received.map(cardOf).find((c) => /: succeeded/.test(titleOf(c)))!;
    expect(cardProblems(end)).toEqual([]);
    expect(titleOf(end)).toBe('fix on checkout-api: succeeded, restart rejected');
    expect(facts(end).Status).toBe('succeeded, restart rejected');
    expect(teams.accepted()).toHaveLength(teams.received.length);
  });

  it('a permanent 400 stops at once and is never "delivered"; a 429 and the connector\'s "200 but HTTP error 429" are retried; its "200 but 413" is a permanent failure', async () => {
    teams = await startWebhookReceiver([teamsReply.badPayload]);
    const throttled = await startWebhookReceiver([teamsReply.throttled('3'), teamsReply.ok], { teams: 'connector' });
    const busy = await startWebhookReceiver([teamsReply.refusedIn200(429), teamsReply.ok], { teams: 'connector' });
    const refused = await startWebhookReceiver([teamsReply.refusedIn200(413)], { teams: 'connector' });
    try {
      writeConfig(
        h,
        `notify:\n  desktop: off\n  webhooks:\n    - { name: bad, url: "${teams.url}", format: teams }\n    - { name: throttled, url: "${throttled.url}", format: teams }\n    - { name: busy, url: "${busy.url}", format: teams }\n    - { name: refused, url: "${refused.url}", format: teams }\n`,
      );
      writeWorkflow(h, 'tell.yaml', `id: tell\nnotifications: []\nsteps:\n  - id: say\n    notify: { text: "disk at 91% on db-1", level: critical }\n`);
      const id = await startRun(h, ['tell']);
      await waitStatus(h, id, (r) => r.status === 'succeeded', 'the run to go on and succeed');
      const [n] = await waitDelivery(
        h,
        id,
        (ns) => ns[0]?.channels.throttled?.state === 'sent' && ns[0]?.channels.busy?.state === 'sent' && ns[0]?.channels.bad?.state === 'failed' && ns[0]?.channels.refused?.state === 'failed',
        'throttled and busy sent, bad and refused failed',
      );
      expect(n.channels.bad).toMatchObject({ state: 'failed', attempts: 1, sent_at: null, receipt: null, next_at: null });
      expect(n.channels.bad.last_error).toMatch(/^HTTP 400: Bad payload received by generic incoming webhook\. \(permanent: .*not retried/);
      expect(n.channels.refused).toMatchObject({ state: 'failed', attempts: 1, sent_at: null, receipt: null });
      expect(n.channels.refused.last_error).toMatch(/HTTP 200 but Teams refused the message \(413\).*permanent.*too large/);
      expect(n.channels.throttled).toMatchObject({ state: 'sent', attempts: 2, receipt: 'HTTP 200' });
      expect(throttled.received.map((r) => r.status)).toEqual([429, 200]);
      // the retry waited out Retry-After: 3 (the backoff alone would have tried again after 1 s)
      expect(throttled.received[1].at - throttled.received[0].at).toBeGreaterThanOrEqual(2900);
      expect(n.channels.busy).toMatchObject({ state: 'sent', attempts: 2, receipt: 'HTTP 200' });
      expect(busy.received.map((r) => r.answer)).toEqual([expect.stringMatching(/HTTP error 429/), '1']);
      // not retried: one request each, however long the others took
      expect(teams.received).toHaveLength(1);
      expect(refused.received).toHaveLength(1);
      for (const r of [teams, throttled, busy, refused]) expect(cardProblems(r.received[0].json)).toEqual([]);
      const text = await cli(['inbox', '--run', id], h.env);
      expect(text.stdout).toMatch(/bad:failed/);
      expect(text.stdout).toMatch(/refused:failed/);
      const st = await cli(['notify', 'status', '--json'], h.env);
      const channels = (JSON.parse(st.stdout) as { channels: { name: string; sent: number; failed: number }[] }).channels;
      expect(channels.find((c) => c.name === 'bad')).toMatchObject({ sent: 0, failed: 1 });
      expect(channels.find((c) => c.name === 'refused')).toMatchObject({ sent: 0, failed: 1 });
    } finally {
      await Promise.all([throttled.close(), busy.close(), refused.close()]);
    }
  });

  it('a failed run shows its last error; a card with huge texts is cut under Teams\' size limit and says it was truncated', async () => {
    teams = await startWebhookReceiver([teamsReply.ok], { teams: 'connector' });
    writeConfig(h, `notify:\n  desktop: off\n  webhooks:\n    - { name: teams, url: "${teams.url}", format: teams }\n`);
    writeWorkflow(
      h,
      'big.yaml',
      `id: big\nnotifications: [errors]\nparams:\n  text: { type: string }\nsteps:\n  - id: ask\n    approval: { prompt: "Apply {{ params.text }}?" }\n  - id: apply\n    tool: engine_test.noop\n    with: { value: { patch: "{{ params.text }}", again: "{{ params.text }}" } }\n`,
    );
    writeWorkflow(h, 'boom.yaml', `id: boom\nnotifications: [errors]\nparams:\n  service: { type: string, default: db-1 }\nsteps:\n  - id: dump\n    tool: engine_test.throw\n    with: { message: "backup of db-1 failed: disk *full* <at>ops</at>" }\n`);
    // Markdown characters double when escaped: shown whole, prompt and arguments would make a ~55 KB card
    const huge = '*_'.repeat(4_500);
    const big = await startRun(h, ['big', `text=${huge}`]);
    await waitDelivery(h, big, (ns) => ns.some((x) => x.kind === 'approval' && x.channels.teams?.state === 'sent'), 'the approval card delivered');
    const hook = teams.received.find((r) => titleOf(cardOf(r)).endsWith('needs an approval'))!;
    expect(Buffer.byteLength(hook.body)).toBeLessThan(TEAMS_MAX_BYTES);
    expect(cardProblems(hook.json)).toEqual([]);
    const shown = texts(hook.json).map(plain).join('\n');
    expect(shown).toMatch(/\[truncated: \d+ more characters; the full text: opstream status /);
    expect(shown).toContain("Some texts were truncated to fit Teams' message size limit");
    // what matters survives the cut: the commands to answer
    expect(shown).toContain(`opstream approve ${big}`);
    expect((await cli(['cancel', big], h.env)).code).toBe(0);

    const id = await startRun(h, ['boom']);
    await waitStatus(h, id, (r) => r.status === 'failed', 'the run to fail');
    await waitDelivery(h, id, (ns) => ns.some((x) => x.kind === 'error' && x.channels.teams?.state === 'sent'), 'the failure card delivered');
    const fail = teams.received.map(cardOf).find((c) => titleOf(c).startsWith('boom'))!;
    expect(cardProblems(fail)).toEqual([]);
    expect(titleOf(fail)).toBe('boom on db-1: failed');
    expect(facts(fail).Status).toBe('failed');
    const lines = texts(fail).map(plain);
    expect(lines).toContain('Last error');
    expect(lines.join('\n')).toContain('backup of db-1 failed: disk *full* <at>ops</at>');
    for (const t of texts(fail)) expect(t).not.toMatch(/(^|[^\\])<at>/);
  });

  it('doctor tells a Workflows URL from a retiring connector URL and one copied without its sig, and never prints the sig', async () => {
    writeConfig(
      h,
      [
        'notify:',
        '  desktop: off',
        '  webhooks:',
        '    - { name: flow, format: teams, url: "https://prod-12.westeurope.logic.azure.com:443/workflows/0a1b/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=S1GSECRETvalue0123456789" }',
        '    - { name: old, format: teams, url: "https://contoso.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456" }',
        '    - { name: cut, format: teams, url: "https://prod-12.westeurope.logic.azure.com/workflows/0a1b/triggers/manual/paths/invoke?api-version=2016-06-01" }',
        '    - { name: plainjson, url: "https://hooks.example.com/x" }',
        '',
      ].join('\n'),
    );
    const r = await cli(['doctor', '--json'], h.env, { timeoutMs: 60_000 });
    expect(r.stdout).not.toContain('S1GSECRETvalue0123456789');
    const checks = (JSON.parse(r.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks;
    const by = (name: string) => checks.find((c) => c.name === name);
    expect(by('teams flow')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^https:\/\/prod-12\.westeurope\.logic\.azure\.com: a Teams Workflows webhook/) });
    expect(by('teams old')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/classic Office 365 connector webhook, which Microsoft is retiring; create a Workflows webhook/) });
    expect(by('teams cut')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/without its sig= parameter/) });
    expect(by('teams plainjson')).toBeUndefined();
  });
});
