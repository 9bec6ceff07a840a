import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../src/daemon/store/store.js';
import type { Notification } from '../../src/protocol/index.js';
import { bootDaemon, discordConnected, DISCORD_CHANNEL, setupDiscord, type DiscordSetup } from '../support/discord-daemon.js';
import { startDiscordLoopback, textOf, type LoopbackMessage } from '../support/discord-loopback.js';
import { cli, tempHome, waitFor } from '../support/home.js';

// Discord as a notification destination of the notifier, and interactions a crash cut off, through
// the real daemon (store, Bree workers, engine, notifier) with discord.js against the loopback Discord.
process.env.OPSTREAM_ENGINE_FAULTS = '1';

const CHANNEL = DISCORD_CHANNEL;
const BACKUP = `id: backup
notifications: [completion, errors]
params:
  fail: { type: boolean, default: false }
steps:
  - id: dump
    when: "{{ params.fail }}"
    tool: engine_test.throw
    with: { message: "backup of db-1 failed" }
  - id: done
    tool: engine_test.noop
    with: { value: 1 }
`;
const GATE = `id: gate
params:
  service: { type: string, default: api }
steps:
  - id: ask
    approval: { prompt: "Restart {{ params.service }}?", timeout: 1h, approvers: [operator] }
  - id: restart
    tool: engine_test.noop
    with: { service: "{{ params.service }}" }
`;
const DISK = `id: disk
notifications: []
steps:
  - id: warn
    notify: { text: "disk at 91% on db-1", level: warning }
  - id: page
    notify: { text: "disk full on db-1", level: critical }
`;
const NOTES = `id: notes
notifications: [completion]
steps:
  - id: n1
    notify: { text: "cache at 80% on web-1", level: warning }
  - id: n2
    notify: { text: "cache at 85% on web-1", level: warning }
  - id: page
    notify: { text: "web-1 is down", level: critical }
`;

const BOB = { id: '222222', username: 'bob' }; // operator

type Setup = DiscordSetup;

let s: Setup | null = null;
afterEach(async () => {
  await s?.close();
  s = null;
});

function setup(extra: string[] = []): Promise<Setup> {
  return setupDiscord({ prefix: 'ops-dcn-', roles: `{ "${BOB.id}": operator }`, workflows: { 'backup.yaml': BACKUP, 'gate.yaml': GATE, 'disk.yaml': DISK, 'notes.yaml': NOTES }, extra });
}

async function cliStart(x: Setup, args: string[]): Promise<string> {
  const r = await cli(['start', ...args, '--json'], x.h.env);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { id: string }).id;
}

/** The run's notifications as `opstream inbox --run <id> --json` shows them. */
async function inbox(x: Setup, run: string): Promise<Notification[]> {
  const r = await cli(['inbox', '--run', run, '--json'], x.h.env);
  expect(r.code, r.stderr).toBe(0);
  const j = JSON.parse(r.stdout) as Notification[] | { items: Notification[] };
  return Array.isArray(j) ? j : j.items;
}

async function discordEntry(x: Setup, run: string, kind: string, done: (st: Notification['channels'][string]) => boolean, what: string): Promise<Notification> {
  return waitFor(
    async () => {
      const e = (await inbox(x, run)).find((n) => n.kind === kind && n.channels.discord);
      return e && done(e.channels.discord) ? e : null;
    },
    { what, timeoutMs: 60_000 },
  );
}

function cardOf(x: Setup, run: string): LoopbackMessage | undefined {
  return x.lb.messagesIn(CHANNEL).find((m) => m.thread_id && textOf(m as never).includes(run));
}

describe('Discord in the status commands', () => {
  it('opstream status and daemon status show the Discord line (state, bot user, reconnects) without the token', async () => {
    s = await setup();
    const x = s;
    const st = await cli(['status'], x.h.env);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toMatch(new RegExp(`^discord: connected as bot user ${x.lb.botUser.id}, last dispatch .*, 0 reconnects$`, 'm'));
    await x.lb.reconnect();
    await waitFor(() => x.d.ctx.discord!.status().reconnects === 1 && x.d.ctx.discord!.status().state === 'connected', { what: 'the session resumed' });
    const ds = await cli(['daemon', 'status'], x.h.env);
    expect(ds.stdout).toMatch(new RegExp(`^discord: +connected as bot user ${x.lb.botUser.id}, .*1 reconnect$`, 'm'));
    const json = JSON.parse((await cli(['daemon', 'status', '--json'], x.h.env)).stdout) as { discord?: { state: string; bot_user: string } };
    expect(json.discord).toMatchObject({ state: 'connected', bot_user: x.lb.botUser.id });
    for (const out of [st.stdout, ds.stdout, JSON.stringify(json)]) expect(out).not.toContain(x.lb.token);
    await x.close();

    // a token Discord refuses: the line says so, in one line, without the token
    const lb = await startDiscordLoopback({ channels: [CHANNEL] });
    const h = tempHome('ops-dcs-');
    const wrong = 'MTAw.refused-token.xyz';
    h.env.DISCORD_TOKEN = wrong;
    writeFileSync(`${h.home}/config.yaml`, ['notify:', '  desktop: off', 'discord:', '  token: ${DISCORD_TOKEN}', `  application_id: "${lb.applicationId}"`, `  channel: "${CHANNEL}"`, `  api_url: ${lb.apiUrl}`].join('\n'));
    const d = await bootDaemon(h);
    s = {
      h,
      lb,
      d,
      channel: CHANNEL,
      async close() {
        await d.stop();
        await h.cleanup();
        await lb.close();
      },
    };
    await waitFor(() => d.ctx.discord!.status().state === 'failed', { what: 'the bridge to stop' });
    const failed = await cli(['status'], h.env);
    expect(failed.code).toBe(0);
    expect(failed.stdout).toMatch(/^discord: failed, 0 reconnects, \/opstream not registered yet; Discord refused to connect: .+$/m);
    expect(failed.stdout).not.toContain(wrong);
  }, 120_000);
});

describe('Discord as a notification destination', () => {
  it('a run started from the CLI gets its card and thread on its first notification: its completion, once, and a failure; sent only after Discord answered', async () => {
    s = await setup();
    const x = s;
    const ok = await cliStart(x, ['backup']);
    const sent = await discordEntry(x, ok, 'completion', (st) => st.state === 'sent', 'the completion confirmed on Discord');
    const card = cardOf(x, ok);
    expect(card?.thread_id).toBeTruthy();
    const said = x.lb.messagesIn(card!.thread_id!).filter((m) => m.content.includes(`backup ${ok} succeeded`));
    // the feed (the run ended) and the notifier (its completion) both ask: one post
    expect(said).toHaveLength(1);
    expect(sent.channels.discord.receipt).toBe(`${card!.thread_id} ${said[0].id}`);
    // its card shows the end
    await x.lb.waitFor(() => /succeeded/.test(textOf(cardOf(x, ok) as never)), 'the card to show the end');
    expect(x.lb.messagesIn(CHANNEL).filter((m) => textOf(m as never).includes(ok))).toHaveLength(1);

    // a failure: while Discord answers 500, the entry stays pending with the reason; then it is sent
    x.lb.faults.push({ method: 'POST', path: /^\/channels\/\d+\/messages$/, status: 500, body: { message: '500: Internal Server Error', code: 0 }, times: 1000 });
    const bad = await cliStart(x, ['backup', 'fail=true']);
    const waiting = await discordEntry(x, bad, 'error', (st) => st.state === 'pending' && st.attempts > 0, 'a failed attempt recorded');
    expect(waiting.channels.discord.last_error).toMatch(/500/);
    expect(waiting.channels.discord.sent_at).toBeNull();
    expect(cardOf(x, bad)).toBeUndefined();
    x.lb.faults.length = 0;
    await discordEntry(x, bad, 'error', (st) => st.state === 'sent', 'the failure sent once Discord answers');
    const thread = cardOf(x, bad)!.thread_id!;
    expect(x.lb.messagesIn(thread).map((m) => m.content).join('\n')).toMatch(new RegExp(`backup ${bad} failed\\.\\nError: .*backup of db-1 failed`));
  }, 120_000);

  it('a delivery still pending when the daemon stops is sent after the restart, once', async () => {
    s = await setup();
    const x = s;
    x.lb.faults.push({ method: 'POST', path: /^\/channels\/\d+\/messages$/, status: 502, body: { message: '502: Bad Gateway', code: 0 }, times: 1000 });
    const id = await cliStart(x, ['backup']);
    await discordEntry(x, id, 'completion', (st) => st.state === 'pending' && st.attempts > 0, 'a failed attempt recorded');
    await x.d.stop();
    x.lb.faults.length = 0;
    x.d = await bootDaemon(x.h);
    await discordEntry(x, id, 'completion', (st) => st.state === 'sent', 'the completion sent after the restart');
    const card = cardOf(x, id)!;
    expect(x.lb.messagesIn(card.thread_id!).filter((m) => m.content.includes(`backup ${id} succeeded`))).toHaveLength(1);
    expect(x.lb.messagesIn(CHANNEL).filter((m) => textOf(m as never).includes(id))).toHaveLength(1);
  }, 120_000);

  it('a 429 is waited out for its retry_after; a deleted channel fails the entry at once, visibly, and the daemon goes on', async () => {
    s = await setup();
    const x = s;
    x.lb.faults.push({ method: 'POST', path: new RegExp(`^/channels/${CHANNEL}/messages$`), status: 429, body: { message: 'You are being rate limited.', retry_after: 1.5, global: false }, headers: { 'retry-after': '2', 'x-ratelimit-scope': 'user' }, times: 1 });
    const id = await cliStart(x, ['backup']);
    await discordEntry(x, id, 'completion', (st) => st.state === 'sent', 'the completion sent after the 429');
    const posts = x.lb.calls.filter((c) => c.method === 'POST' && c.path === `/api/v10/channels/${CHANNEL}/messages`);
    expect(posts.map((c) => c.status).slice(0, 2)).toEqual([429, 200]);
    expect(posts[1].at - posts[0].at).toBeGreaterThanOrEqual(1400);

    x.lb.deleteChannel(CHANNEL);
    const gone = await cliStart(x, ['backup']);
    const failed = await discordEntry(x, gone, 'completion', (st) => st.state === 'failed', 'the entry failed for good');
    expect(failed.channels.discord.attempts).toBe(1);
    expect(failed.channels.discord.last_error).toMatch(/404 Unknown Channel \(code 10003\).*discord\.channel/);
    expect(failed.channels.terminal.state).toBe('sent');
    const st = await cli(['notify', 'status'], x.h.env);
    expect(st.stdout).toMatch(/discord/);
    expect((await cli(['status'], x.h.env)).code).toBe(0);
  }, 120_000);

  it('discord.notifications: levels leave out what Discord is not told; quiet hours hold back what is not critical while critical goes through', async () => {
    const hhmm = (ms: number): string => new Date(ms).toISOString().slice(11, 16);
    const now = Date.now();
    s = await setup(['  notifications:', `    quiet_hours: "${hhmm(now - 3_600_000)}-${hhmm(now + 3_600_000)}"`, '    timezone: UTC', '    levels: [warning, critical]']);
    const x = s;
    const id = await cliStart(x, ['disk']);
    await waitFor(async () => ((await inbox(x, id)).find((n) => n.kind === 'notify' && n.level === 'critical')?.channels.discord?.state === 'sent' ? true : null), { what: 'the critical notification sent' });
    const held = (await inbox(x, id)).find((n) => n.kind === 'notify' && n.level === 'warning')!;
    await waitFor(async () => ((await inbox(x, id)).find((n) => n.id === held.id)!.channels.discord.attempts > 0 ? true : null), { what: 'the warning held' });
    const st = (await inbox(x, id)).find((n) => n.id === held.id)!.channels.discord;
    expect(st.state).toBe('pending');
    expect(st.last_error).toMatch(/held for quiet hours \(\d\d:\d\d-\d\d:\d\d UTC\) until /);
    expect(x.lb.messagesIn(cardOf(x, id)!.thread_id!).map((m) => m.content).join('\n')).toMatch(/disk full on db-1/);
    expect(x.lb.messagesIn(cardOf(x, id)!.thread_id!).map((m) => m.content).join('\n')).not.toMatch(/disk at 91%/);

    // info (a completion) is not a level Discord takes here: not routed there at all
    const ok = await cliStart(x, ['backup']);
    const done = await waitFor(async () => (await inbox(x, ok)).find((n) => n.kind === 'completion' && n.channels.terminal.state === 'sent') ?? null, { what: 'the completion in the inbox' });
    expect(done.channels.discord).toBeUndefined();
  }, 120_000);

  it('what quiet hours held back goes out as one digest when they end, as in Slack; critical went through at once', async () => {
    const hhmmss = (ms: number): string => new Date(ms).toISOString().slice(11, 19);
    const now = Date.now();
    const end = now + 20_000;
    s = await setup(['  notifications:', `    quiet_hours: "${hhmmss(now - 60_000)}-${hhmmss(end)}"`, '    timezone: UTC']);
    const x = s;
    const id = await cliStart(x, ['notes']);
    const discordOf = async (): Promise<Notification[]> => (await inbox(x, id)).filter((n) => n.channels.discord);
    // the critical one at once, in the run's thread; the two warnings and the completion held
    await waitFor(async () => ((await discordOf()).find((n) => n.level === 'critical')?.channels.discord.state === 'sent' ? true : null), { what: 'the critical notification sent' });
    const held = await waitFor(async () => {
      const h = (await discordOf()).filter((n) => n.level !== 'critical');
      return h.length === 3 && h.some((n) => n.channels.discord.attempts > 0) ? h : null;
    }, { what: 'the warnings and the completion held' });
    // one lane, in order: its first entry is tried (and held), the others wait behind it
    for (const n of held) expect(n.channels.discord.state).toBe('pending');
    expect(held.find((n) => n.channels.discord.attempts > 0)!.channels.discord.last_error).toMatch(/held for quiet hours \(\d\d:\d\d(:\d\d)?-\d\d:\d\d(:\d\d)? UTC\) until .*; one digest then/);
    const thread = cardOf(x, id)!.thread_id!;
    expect(x.lb.messagesIn(thread).map((m) => m.content).join('\n')).toMatch(/web-1 is down/);
    expect(Date.now()).toBeLessThan(end);

    // quiet hours end: one message in the channel with all three, each entry confirmed by it
    const digest = await x.lb.waitFor(() => x.lb.messagesIn(CHANNEL).find((m) => m.content.startsWith('**While it was quiet')), 'the digest', 60_000);
    expect(digest.content).toMatch(/^\*\*While it was quiet \(\d\d:\d\d(:\d\d)?-\d\d:\d\d(:\d\d)? UTC\): 3 notifications\*\*/);
    for (const t of ['cache at 80% on web-1', 'cache at 85% on web-1', id]) expect(digest.content).toContain(t);
    const sent = await waitFor(async () => {
      const h = (await discordOf()).filter((n) => n.level !== 'critical');
      return h.every((n) => n.channels.discord.state === 'sent') ? h : null;
    }, { what: 'every held notification confirmed by the digest' });
    expect(new Set(sent.map((n) => n.channels.discord.receipt))).toEqual(new Set([`digest ${CHANNEL} ${digest.id}`]));
    expect(x.lb.messagesIn(CHANNEL).filter((m) => m.content.includes('While it was quiet'))).toHaveLength(1);
    // not also one by one in the thread
    expect(x.lb.messagesIn(thread).map((m) => m.content).join('\n')).not.toMatch(/cache at 8/);
  }, 120_000);

  it('an interaction recorded but not answered when the daemon stopped is finished on the next start, once', async () => {
    s = await setup();
    const x = s;
    const id = await cliStart(x, ['gate']);
    const card = await x.lb.waitFor(() => {
      const c = cardOf(x, id);
      return c && c.components.length ? c : null;
    }, 'the card with approval buttons');
    const click = x.lb.click(BOB, card.id, card.components[0].components[0].custom_id!);
    const start = x.lb.command(BOB, 'start', { workflow: 'backup' });
    await x.d.stop();
    // what a daemon killed right after acknowledging them leaves: both recorded, neither done
    for (const ix of [click, start]) x.lb.interactions.get(ix.id)!.callbacks.push({ type: 5, at: Date.now() });
    const store = await Store.open(join(x.h.home, 'data', 'db'));
    const at = new Date().toISOString();
    await store.commit([click, start].map((ix) => ({ type: 'put' as const, sub: 'meta' as const, key: `discord_ix:${ix.id}`, value: { at, state: 'pending', ix: ix.payload } })));
    // one received 20 minutes ago: its token is dead, it is only marked done (nothing started)
    const stale = x.lb.command(BOB, 'start', { workflow: 'backup' });
    await store.commit([{ type: 'put', sub: 'meta', key: `discord_ix:${stale.id}`, value: { at: new Date(Date.now() - 20 * 60_000).toISOString(), state: 'pending', ix: stale.payload } }]);
    await store.close();

    x.d = await bootDaemon(x.h);
    await discordConnected(x);
    expect(await x.lb.answerOf(click.id)).toMatch(new RegExp(`Approved ${id} by discord:${BOB.id}`));
    const started = await x.lb.answerOf(start.id);
    expect(started).toMatch(/Started backup r_/);
    await waitFor(async () => (await x.d.ctx.engine.get(id)).status === 'succeeded', { what: 'the approved run to finish', timeoutMs: 60_000 });
    const records = async (): Promise<{ state?: string; ix?: unknown }[]> => (await x.d.ctx.store.entries<{ state?: string; ix?: unknown }>('meta', { gte: 'discord_ix:', lt: 'discord_ix:\uffff' })).map(([, v]) => v);
    await waitFor(async () => (await records()).every((r) => r.state === 'done'), { what: 'the records marked done' });
    // answered: the token is not kept
    expect((await records()).some((r) => r.ix)).toBe(false);
    expect(x.lb.interactions.get(stale.id)!.original).toBeNull();
    expect((await x.d.ctx.engine.list({ all: true, limit: 50 })).runs.filter((r) => r.workflow === 'backup')).toHaveLength(1);

    // a crash after the start was written but before it was answered: finished again, nothing started twice
    await x.d.stop();
    const again = await Store.open(join(x.h.home, 'data', 'db'));
    await again.commit([{ type: 'put', sub: 'meta', key: `discord_ix:${start.id}`, value: { at, state: 'pending', ix: start.payload } }]);
    await again.close();
    const edits = x.lb.calls.filter((c) => c.method === 'PATCH' && c.path.includes(start.payload.token as string)).length;
    x.d = await bootDaemon(x.h);
    await discordConnected(x);
    await x.lb.waitFor(() => x.lb.calls.filter((c) => c.method === 'PATCH' && c.path.includes(start.payload.token as string)).length > edits, 'the start answered again');
    expect(textOf(x.lb.interactions.get(start.id)!.original!)).toMatch(/already carried out before the daemon restarted/);
    expect((await x.d.ctx.engine.list({ all: true, limit: 50 })).runs.filter((r) => r.workflow === 'backup')).toHaveLength(1);
    expect((await x.d.ctx.engine.get(id)).decisions).toHaveLength(1);
  }, 180_000);
});
