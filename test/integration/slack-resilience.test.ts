import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { startDaemon } from '../../src/daemon/main.js';
import { Store } from '../../src/daemon/store/store.js';
import type { KvStore } from '../../src/daemon/store/kv.js';
import type { Notification } from '../../src/protocol/index.js';
import { cli, daemonPid, waitFor, waitGone } from '../support/home.js';
import { buttonValue, connected, hasButton, isTop, PEOPLE, runOf, setupSlack, shown, slackConfig, waitRunStatus, type SlackSetup } from '../support/slack-daemon.js';
import type { LoopbackMessage } from '../support/slack-loopback.js';

// What Slack does to a long-lived app, and what a laptop does to a daemon: recycled and silent
// connections, rate limits, quiet hours, kill -9 and restarts. Nothing may be lost or done twice.
process.env.OPSTREAM_ENGINE_FAULTS = '1';

/** Waits at an approval (the test's sync point), then says a few things and ends. */
const STEPPED = `id: stepped
command: stepped
notifications: [start, milestones, completion, errors, approvals]
steps:
  - id: one
    notify: { text: "tick one", level: info }
  - id: gate
    approval: { prompt: "Go on?", timeout: 1h }
  - id: two
    notify: { text: "tick two", level: info }
  - id: three
    notify: { text: "tick three", level: info }
`;

const ALARM = `id: alarm
command: alarm
notifications: [start, completion, errors]
steps:
  - id: page
    notify: { text: "disk full on db-1", level: critical }
  - id: note
    notify: { text: "cleanup scheduled", level: info }
`;

const URGENT = `id: urgent
command: urgent
notifications: [approvals]
steps:
  - id: fix
    approval: { prompt: "Fail over the database now?", urgent: true }
`;

const CALM = `id: calm
command: calm
notifications: [approvals]
steps:
  - id: fix
    approval: { prompt: "Rotate the logs?" }
`;

const BURST = `id: burst
command: burst
notifications: [start, completion]
steps:
  - { id: n1, notify: { text: "note 1", level: info } }
  - { id: n2, notify: { text: "note 2", level: info } }
  - { id: n3, notify: { text: "note 3", level: info } }
  - { id: n4, notify: { text: "note 4", level: info } }
`;

let s: SlackSetup | null = null;
afterEach(async () => {
  await s?.close();
  s = null;
});

async function startBy(setup: SlackSetup, text: string, user: string = PEOPLE.bob): Promise<string> {
  const d = await setup.lb.slashCommand({ text, user_id: user, channel_id: '#ops-alerts' });
  expect(d.outcome).toBe('acked');
  const r = await setup.lb.waitForResponse((x) => String(x.body.text).includes('Started') && String(x.body.text).includes(text.split(' ')[0]));
  return /`(r_[a-z0-9]+)`/.exec(String(r.body.text))?.[1] ?? '';
}

/** A `stepped` run started by bob from Slack, waiting at its gate: its id, thread header and approval message. */
async function steppedAtGate(setup: SlackSetup): Promise<{ id: string; header: LoopbackMessage; approval: LoopbackMessage }> {
  await connected(setup);
  const id = await startBy(setup, 'stepped');
  const header = await setup.lb.waitForMessage('#ops-alerts', (m) => shown(m).includes(id) && isTop(m));
  const approval = await setup.lb.waitForMessage('#ops-alerts', (m) => m.thread_ts === header.ts && hasButton(m, 'opstream.approve'));
  return { id, header, approval };
}

const texts = (items: { text: string }[]): string[] => items.map((m) => m.text);

describe('slack bridge: connection recycling, limits and durability', () => {
  it('a refresh disconnect and a silent connection in the middle of a run lose nothing', async () => {
    s = await setupSlack({ workflows: { 'stepped.yaml': STEPPED } });
    await connected(s);
    const { lb } = s;
    const id = await startBy(s, 'stepped');
    const header = await lb.waitForMessage('#ops-alerts', (m) => shown(m).includes(id) && isTop(m));
    await lb.waitForMessage('#ops-alerts', (m) => m.thread_ts === header.ts && hasButton(m, 'opstream.approve'));

    // Slack recycles the connection: the bridge reconnects at once
    expect(lb.disconnect('refresh_requested')).toBe(1);
    await connected(s, 2);

    // then the connection goes silent (TCP up, nothing flows): the bridge notices and reconnects;
    // the event sent meanwhile is swallowed, re-sent by Slack and handled once
    lb.goSilent();
    const dmDelivery = lb.event({ type: 'message', channel_type: 'im', channel: 'D0BOB', user: PEOPLE.bob, text: `approve ${id}` }, { ackTimeoutMs: 1500, maxRetries: 20 });
    await connected(s, 3);
    const delivered = await dmDelivery;
    expect(delivered.outcome).toBe('acked');
    expect(delivered.attempts[0].swallowed).toBe(true);

    await waitRunStatus(s, id, (r) => r.status === 'succeeded', 'the run to finish');
    const thread = await waitFor(() => {
      const t = lb.thread('#ops-alerts', header.ts);
      return t.some((m) => m.text.includes('succeeded')) && t.some((m) => m.text.includes('tick three')) ? t : null;
    }, { what: 'the whole thread' });
    for (const t of ['tick one', 'tick two', 'tick three']) expect(thread.filter((m) => m.text.includes(t))).toHaveLength(1);
    expect(lb.messages('D0BOB').filter((m) => m.bot_id && m.text.includes('Approved'))).toHaveLength(1);
    const st = s.d!.ctx.slack!.status();
    expect(st.state).toBe('connected');
    expect(st.reconnects).toBeGreaterThanOrEqual(2);
    expect(['pong timeout', 'idle watchdog']).toContain(st.last_disconnect);
    // and the outbox recorded each as sent (the record follows Slack's answer)
    await waitFor(async () => (await s!.d!.ctx.notifier.list({ run: id, limit: 50 })).items.every((n) => n.channels.slack?.state === 'sent'), { what: 'every notification recorded as sent' });
  });

  it('survives warning, link_disabled, too_many_websockets and a dropped TCP connection', async () => {
    s = await setupSlack({ lb: { warningGraceMs: 60_000 } });
    await connected(s);
    const { lb } = s;
    let n = 1;
    for (const reason of ['warning', 'link_disabled', 'too_many_websockets'] as const) {
      lb.disconnect(reason);
      await connected(s, ++n);
      expect(s.d!.ctx.slack!.status().last_disconnect).toBe(reason);
    }
    lb.dropTcp();
    await connected(s, ++n);
    const d = await lb.slashCommand({ text: 'list', user_id: PEOPLE.vic, channel_id: '#ops-alerts' });
    expect(d.outcome).toBe('acked');
    await lb.waitForResponse((r) => String(r.body.text).includes('Nothing is running'));
    expect(s.d!.ctx.slack!.status().reconnects).toBeGreaterThanOrEqual(4);
  });

  it('a 429 is retried after Retry-After without stalling another channel', async () => {
    s = await setupSlack({ workflows: { 'alarm.yaml': ALARM } });
    await connected(s);
    const { lb } = s;
    lb.rateLimit('chat.postMessage', { channel: '#ops-alerts', times: 1, retryAfterSec: 3 });
    const id = await startBy(s, 'alarm');
    const limited = await lb.waitForCall('chat.postMessage', (c) => c.status === 429);
    // the critical page goes to #incidents while #ops-alerts waits out its Retry-After
    const page = await lb.waitForMessage('#incidents', (m) => m.text.includes('disk full'));
    expect(lb.messages('#ops-alerts')).toHaveLength(0);
    const header = await lb.waitForMessage('#ops-alerts', (m) => shown(m).includes(id) && isTop(m), 20_000);
    const ok = lb.calls('chat.postMessage').find((c) => c.status === 200 && c.response.ts === header.ts);
    expect(ok!.at - limited.at).toBeGreaterThanOrEqual(2900);
    expect(page.thread_ts).toBeDefined();
    const start = await waitFor(async () => (await s!.d!.ctx.notifier.list({ run: id, limit: 50 })).items.find((n) => n.kind === 'start' && n.channels.slack?.state === 'sent'), { what: 'the start message recorded as sent' });
    expect(start.channels.slack).toMatchObject({ state: 'sent', attempts: 2 });
    expect(start.channels.slack.last_error).toMatch(/Retry-After 3s/);
    // every post to #ops-alerts happened once
    await lb.waitForMessage('#ops-alerts', (m) => m.text.includes('cleanup scheduled'));
    expect(lb.thread('#ops-alerts', header.ts).filter((m) => m.text.includes('cleanup scheduled'))).toHaveLength(1);
  });

  it('quiet hours hold what is not critical and produce one digest when they end', async () => {
    const now = Date.now();
    const hhmmss = (ms: number): string => new Date(ms).toISOString().slice(11, 19);
    // quiet from a minute ago until 12 s from now
    const end = now + 12_000;
    s = await setupSlack({ workflows: { 'alarm.yaml': ALARM, 'burst.yaml': BURST, 'urgent.yaml': URGENT, 'calm.yaml': CALM }, slack: [`notifications: { quiet_hours: "${hhmmss(now - 60_000)}-${hhmmss(end)}", timezone: UTC }`] });
    await connected(s);
    const { lb } = s;
    const burst = await startBy(s, 'burst');
    const alarm = await startBy(s, 'alarm');
    // an approval the workflow marks urgent reaches the critical channel now; a calm one waits
    const urgent = await startBy(s, 'urgent');
    const calm = await startBy(s, 'calm');
    const ask = await lb.waitForMessage('#incidents', (m) => hasButton(m, 'opstream.approve') && shown(m).includes('Fail over the database now?'));
    expect(shown(ask)).toContain(urgent);
    await waitRunStatus(s, burst, (r) => r.status === 'succeeded', 'burst to end');
    await waitRunStatus(s, alarm, (r) => r.status === 'succeeded', 'alarm to end');
    // critical gets through at once; the rest waits
    await lb.waitForMessage('#incidents', (m) => m.text.includes('disk full'));
    const held = async (): Promise<Notification[]> => (await s!.d!.ctx.notifier.list({ limit: 100 })).items.filter((n) => n.channels.slack && (n.data.slack as { lane: string }).lane.startsWith('held:'));
    const before = await held();
    expect(Date.now()).toBeLessThan(end);
    expect(before.length).toBeGreaterThanOrEqual(6);
    for (const n of before) {
      if (n.channels.slack.state === 'pending' && n.channels.slack.attempts > 0) expect(n.channels.slack.last_error).toMatch(/held for quiet hours/);
    }
    expect(lb.messages('#ops-alerts')).toHaveLength(0);

    const digest = await lb.waitForMessage('#ops-alerts', (m) => m.text.startsWith('While it was quiet') || shown(m).includes('While it was quiet'), 30_000);
    expect(Date.now()).toBeGreaterThanOrEqual(end - 1000);
    for (const t of ['note 1', 'note 4', 'cleanup scheduled', `burst ${burst} succeeded`, 'Rotate the logs?']) expect(shown(digest)).toContain(t);
    // the calm approval is in the digest with working buttons
    expect(hasButton(digest, 'opstream.approve')).toBe(true);
    await lb.blockAction({ user: PEOPLE.bob, channel: '#ops-alerts', message: { ts: digest.ts }, actions: [{ action_id: 'opstream.approve', value: buttonValue(digest, 'opstream.approve') }] });
    await waitRunStatus(s, calm, (r) => r.status === 'succeeded', 'the calm run approved from the digest');
    await waitFor(async () => (await held()).every((n) => n.channels.slack.state === 'sent'), { what: 'every held notification confirmed by the digest' });
    const after = await held();
    expect(new Set(after.map((n) => n.channels.slack.receipt))).toEqual(new Set([`digest C0OPSALERTS ${digest.ts}`]));
    expect(lb.messages('#ops-alerts').filter((m) => shown(m).includes('While it was quiet'))).toHaveLength(1);
  });

  it('the outbox drains in order, once, after a kill -9', async () => {
    s = await setupSlack({ workflows: { 'burst.yaml': BURST }, inProcess: false });
    const { lb, h } = s;
    lb.rateLimit('chat.postMessage', { channel: '#ops-alerts', times: 1, retryAfterSec: 4 });
    const r = await cli(['start', 'burst', '--json'], h.env);
    expect(r.code, r.stderr).toBe(0);
    const id = JSON.parse(r.stdout).id as string;
    await lb.waitForCall('chat.postMessage', (c) => c.status === 429);
    const pid = daemonPid(h.home)!;
    process.kill(pid, 'SIGKILL');
    await waitGone(pid);
    // any command brings the daemon back; the outbox resumes where it was
    expect((await cli(['status', id], h.env)).code).toBe(0);
    await lb.waitForConnection(2, 30_000);
    const header = await lb.waitForMessage('#ops-alerts', (m) => shown(m).includes(id) && isTop(m), 30_000);
    const thread = await waitFor(() => {
      const t = lb.thread('#ops-alerts', header.ts);
      // the completion reply (the start message, edited in place, says succeeded too: not that one)
      return t.some((m) => m.ts !== header.ts && m.text.includes('succeeded')) && t.filter((m) => /note \d/.test(m.text)).length >= 4 ? t : null;
    }, { what: 'every notification of the run', timeoutMs: 30_000 });
    expect(texts(thread.filter((m) => /note \d/.test(m.text))).map((t) => /note \d/.exec(t)?.[0])).toEqual(['note 1', 'note 2', 'note 3', 'note 4']);
    expect(lb.messages('#ops-alerts').filter((m) => shown(m).includes(id) && isTop(m))).toHaveLength(1);
    expect(thread.filter((m) => m.ts !== header.ts && m.text.includes('succeeded'))).toHaveLength(1);
  });

  it('buttons and run threads posted before a restart still work after it', async () => {
    s = await setupSlack({ workflows: { 'stepped.yaml': STEPPED } });
    const { lb, h } = s;
    const { id, header, approval } = await steppedAtGate(s);
    await s.d!.stop();
    const again = await startDaemon(h.env);
    if (again.kind !== 'started') throw new Error('restart failed');
    s.d = again.daemon;
    await connected(s, 2);
    await lb.blockAction({ user: PEOPLE.alice, channel: '#ops-alerts', message: { ts: approval.ts }, actions: [{ action_id: 'opstream.approve', value: buttonValue(approval, 'opstream.approve') }] });
    await waitRunStatus(s, id, (r) => r.status === 'succeeded', 'the run to finish');
    await lb.waitForMessage('#ops-alerts', (m) => m.ts === approval.ts && shown(m).includes('Approved by <@U0ALICE>'));
    // the same start message was edited to the end; no second one
    await lb.waitForMessage('#ops-alerts', (m) => m.ts === header.ts && shown(m).includes('Succeeded'));
    expect(lb.messages('#ops-alerts').filter((m) => shown(m).includes(id) && isTop(m) && !hasButton(m, 'opstream.approve'))).toHaveLength(1);
    expect((await runOf(s, id)).steps.find((x) => x.id === 'gate')?.output).toMatchObject({ by: 'slack:U0ALICE' });
  });

  it('a click recorded and acked before a crash cut off its work is done on the next start, once', async () => {
    s = await setupSlack({ workflows: { 'stepped.yaml': STEPPED } });
    const { lb, h } = s;
    const { id, approval } = await steppedAtGate(s);
    // a click the live path handles leaves no record behind (vic is only a viewer: refused)
    await lb.blockAction({ user: PEOPLE.vic, channel: '#ops-alerts', message: { ts: approval.ts }, actions: [{ action_id: 'opstream.approve', value: buttonValue(approval, 'opstream.approve') }] });
    await waitFor(async () => (await held(s!.d!.ctx.store)).length === 0, { what: 'the refused click handled' });
    await s.d!.stop();
    // what a daemon killed right after the ack leaves: alice's click, recorded, not yet done
    const store = await Store.open(join(h.home, 'data', 'db'));
    const channel = 'C0OPSALERTS'; // #ops-alerts in LOOPBACK_OPTS
    const click = { type: 'block_actions', user: { id: PEOPLE.alice }, channel: { id: channel }, container: { type: 'message', message_ts: approval.ts, channel_id: channel }, actions: [{ action_id: 'opstream.approve', value: buttonValue(approval, 'opstream.approve') }] };
    await store.commit([{ type: 'put', sub: 'meta', key: 'slack_inbox:E0CUTOFF', value: { type: 'interactive', envelope_id: 'E0CUTOFF', body: click, received_at: Date.now() } }]);
    await store.close();
    const again = await startDaemon(h.env);
    if (again.kind !== 'started') throw new Error('restart failed');
    s.d = again.daemon;
    await waitRunStatus(s, id, (r) => r.status === 'succeeded', 'the recorded click to approve the run');
    expect((await runOf(s, id)).steps.find((x) => x.id === 'gate')?.output).toMatchObject({ decision: 'approved', by: 'slack:U0ALICE' });
    await lb.waitForMessage('#ops-alerts', (m) => m.ts === approval.ts && shown(m).includes('Approved by <@U0ALICE>'));
    await waitFor(async () => (await held(s!.d!.ctx.store)).length === 0, { what: 'the record cleared once done' });
  });

  it('refuses swapped tokens with a clear message; a token Slack refuses stops the bridge, not the daemon', async () => {
    s = await setupSlack({ config: (lb) => slackConfig(lb).replace(`app_token: "${lb.appToken}"`, 'app_token: "TMP"').replace(`bot_token: "${lb.botToken}"`, `bot_token: "${lb.appToken}"`).replace('app_token: "TMP"', `app_token: "${lb.botToken}"`) });
    const st = s.d!.ctx.slack!.status();
    expect(st.state).toBe('failed');
    expect(st.error).toMatch(/swapped/);
    expect(s.lb.calls()).toHaveLength(0);
    const status = await cli(['daemon', 'status'], s.h.env);
    expect(status.stdout).toMatch(/slack: +failed.*swapped/);
    await s.close();

    s = await setupSlack({ config: (lb) => slackConfig(lb).replace(lb.botToken, 'xoxb-1-2-not-a-real-token') });
    await waitFor(() => s!.d!.ctx.slack!.status().state === 'failed', { what: 'the bridge to stop' });
    expect(s.d!.ctx.slack!.status().error).toMatch(/Slack refused slack\.bot_token.*invalid_auth/);
    expect(s.lb.calls('apps.connections.open')).toHaveLength(0);
    expect((await cli(['status'], s.h.env)).code).toBe(0);
    await s.close();

    s = await setupSlack({ config: (lb) => slackConfig(lb).replace(lb.appToken, 'xapp-1-A0X-1-revoked') });
    await waitFor(() => s!.d!.ctx.slack!.status().state === 'failed', { what: 'the bridge to stop' });
    expect(s.d!.ctx.slack!.status().error).toMatch(/Slack refused slack\.app_token.*invalid_auth/);
    expect(s.lb.calls('apps.connections.open')).toHaveLength(1);
    const doctor = await cli(['doctor', '--json'], s.h.env);
    expect(JSON.parse(doctor.stdout).checks).toContainEqual(expect.objectContaining({ name: 'slack connection', status: 'fail' }));
  });
});

/** Envelopes the bridge recorded before their ack and has not finished yet. */
async function held(store: KvStore): Promise<string[]> {
  return store.keys('meta', { gte: 'slack_inbox:', lt: 'slack_inbox;' });
}
