import { afterEach, describe, expect, it } from 'vitest';
import type { Notification } from '../../src/protocol/index.js';
import { cli, waitFor } from '../support/home.js';
import { buttonValue, connected, hasButton, isTop, PEOPLE, runOf, setupSlack, shown, waitRunStatus, type SlackSetup } from '../support/slack-daemon.js';
import { slowEndpointIterations } from '../support/tools-fixtures.js';

// The bridge against the loopback Slack with a real daemon in this process (real store, real Bree
// workers, real outbox). Every wait is on a state or an event (a message appearing, a call being
// recorded, a run reaching a status), never a fixed sleep.
process.env.OPSTREAM_ENGINE_FAULTS = '1';

const GATE = `id: gate
name: Gated restart
description: Warms up, asks before restarting, restarts.
command: gate
usage: "<service>"
params:
  service: { type: string, required: true }
notifications: [start, milestones, completion, errors, approvals]
steps:
  - id: warm
    tool: engine_test.noop
    with: { value: 1 }
    milestone: warmed up
  - id: ask
    approval: { prompt: "Restart {{ params.service }}?", timeout: 1h, approvers: [operator] }
  - id: restart
    tool: engine_test.noop
    with: { service: "{{ params.service }}", action: restart }
`;

const HELLO = `id: hello
command: hello
usage: "[<to>] [after <pause>]"
params:
  to: { type: string, default: world }
  pause: { type: duration, default: 1s }
notifications: [completion, errors]
steps:
  - id: greet
    notify: { text: "Hello, {{ params.to }}!", level: info }
  - id: pause
    wait: "{{ params.pause }}"
`;

/** An analysis with a slow endpoint (a latency finding with a series), as a profiling run ends. */
function profileWorkflow(): string {
  const iterations = slowEndpointIterations();
  return `id: profile_mini
command: profile
usage: "<service> [for <duration>]"
params:
  service: { type: string, required: true }
  duration: { type: duration, default: 1s }
tools: [ops.analyze_samples]
notifications: [start, completion, errors]
steps:
  - id: analyze
    tool: ops.analyze_samples
    with:
      iterations: ${JSON.stringify(iterations)}
      interval: 1m
`;
}

let s: SlackSetup | null = null;
afterEach(async () => {
  await s?.close();
  s = null;
});

describe('slack bridge: commands, run threads and approvals', () => {
  it('a slash command starts a run in a thread; progress edits the same message; a stranger is refused; the first approval wins and shows who', async () => {
    s = await setupSlack({ workflows: { 'gate.yaml': GATE } });
    await connected(s);
    const { lb } = s;

    const d = await lb.slashCommand({ text: 'gate checkout-api', user_id: PEOPLE.bob, channel_id: '#ops-alerts' });
    expect(d.outcome).toBe('acked');
    expect(d.ack?.latencyMs).toBeLessThan(3000);
    const started = await lb.waitForResponse((r) => String(r.body.text).includes('Started'));
    const id = /`(r_[a-z0-9]+)`/.exec(String(started.body.text))?.[1] ?? '';
    expect(id).toMatch(/^r_/);
    expect(started.body.response_type).toBe('ephemeral');

    // the thread: the start message first, then the milestone and the approval with what it will do
    const header = await lb.waitForMessage('#ops-alerts', (m) => shown(m).includes(id) && isTop(m));
    const approval = await lb.waitForMessage('#ops-alerts', (m) => m.thread_ts === header.ts && hasButton(m, 'opstream.approve'));
    expect(shown(approval)).toContain('Restart checkout-api?');
    expect(shown(approval)).toContain('engine_test.noop');
    expect(shown(approval)).toContain('args sha256');
    expect(lb.thread('#ops-alerts', header.ts).map((m) => m.text).join('\n')).toContain('warmed up');
    // the start message was edited in place as the run moved (waiting now), never re-posted
    await lb.waitForMessage('#ops-alerts', (m) => m.ts === header.ts && shown(m).includes('waiting'));
    expect(lb.messages('#ops-alerts').filter((m) => !m.thread_ts || m.thread_ts === m.ts).filter((m) => shown(m).includes(`\`${id}\``) && !hasButton(m, 'opstream.approve'))).toHaveLength(1);
    expect(lb.calls('chat.update').filter((c) => c.args.ts === header.ts).length).toBeGreaterThanOrEqual(1);

    const value = buttonValue(approval, 'opstream.approve');
    // a stranger's click: refused, told only to them, audited; nothing else happens
    await lb.blockAction({ user: PEOPLE.eve, channel: '#ops-alerts', message: { ts: approval.ts }, actions: [{ action_id: 'opstream.approve', value }] });
    const refusal = await lb.waitForResponse((r) => String(r.body.text).includes('Nothing was done'));
    expect(refusal.body.response_type).toBe('ephemeral');
    const audit = await cli(['status', id, '--json'], s.h.env);
    expect(JSON.parse(audit.stdout).status).toBe('waiting');
    const entries = await s.d!.ctx.store.entries<{ actor: string; action: string; target: string }>('audit');
    expect(entries.map(([, e]) => e)).toContainEqual(expect.objectContaining({ actor: 'slack:U0EVE', action: 'slack.refused' }));
    // a viewer may not approve either
    await lb.blockAction({ user: PEOPLE.vic, channel: '#ops-alerts', message: { ts: approval.ts }, actions: [{ action_id: 'opstream.approve', value }] });
    await lb.waitForResponse((r) => String(r.body.text).includes('your role is viewer'));

    // bob (operator; the step's approvers name the role) approves: twice, as a double click
    await Promise.all([
      lb.blockAction({ user: PEOPLE.bob, channel: '#ops-alerts', message: { ts: approval.ts }, actions: [{ action_id: 'opstream.approve', value }] }),
      lb.blockAction({ user: PEOPLE.bob, channel: '#ops-alerts', message: { ts: approval.ts }, actions: [{ action_id: 'opstream.approve', value }] }),
    ]);
    const done = await waitRunStatus(s, id, (r) => r.status === 'succeeded', 'the run to finish after the approval');
    expect(done.steps.find((x) => x.id === 'ask')?.output).toMatchObject({ decision: 'approved', by: 'slack:U0BOB' });
    const decided = await lb.waitForMessage('#ops-alerts', (m) => m.ts === approval.ts && shown(m).includes('Approved by <@U0BOB>'));
    expect(hasButton(decided, 'opstream.approve')).toBe(false);

    // a later click changes nothing and says who decided
    await lb.blockAction({ user: PEOPLE.alice, channel: '#ops-alerts', message: { ts: approval.ts }, actions: [{ action_id: 'opstream.reject', value }] });
    const late = await lb.waitForResponse((r) => String(r.body.text).includes('already approved by <@U0BOB>'));
    expect(late.body.response_type).toBe('ephemeral');
    expect((await runOf(s, id)).status).toBe('succeeded');

    // actor everywhere is the Slack user, never the OS user
    const audit2 = (await s.d!.ctx.store.entries<{ actor: string; action: string; target: string }>('audit')).map(([, e]) => e);
    expect(audit2).toContainEqual(expect.objectContaining({ actor: 'slack:U0BOB', action: 'runs.start', target: `run:${id}` }));
    expect(audit2).toContainEqual(expect.objectContaining({ actor: 'slack:U0BOB', action: 'runs.approve', target: `run:${id}` }));
    expect(audit2.filter((e) => e.action === 'runs.approve')).toHaveLength(1);
    // the start message ends showing the outcome
    await lb.waitForMessage('#ops-alerts', (m) => m.ts === header.ts && shown(m).includes('Succeeded'));
  });

  it('the same envelope (or a re-sent command) delivered twice starts one run', async () => {
    s = await setupSlack({ workflows: { 'hello.yaml': HELLO } });
    await connected(s);
    const { lb } = s;
    const payload = { command: '/opstream', text: 'hello twice', user_id: PEOPLE.bob, user_name: 'bob', channel_id: 'C0OPSALERTS', team_id: lb.teamId, api_app_id: lb.appId, response_url: '', trigger_id: '1.2.same-trigger' };
    const a = await lb.send({ type: 'slash_commands', payload, envelope_id: 'env-same-1' });
    const b = await lb.send({ type: 'slash_commands', payload, envelope_id: 'env-same-1' });
    expect([a.outcome, b.outcome]).toEqual(['acked', 'acked']);
    // a re-sent command: new envelope, same trigger
    await lb.send({ type: 'slash_commands', payload, envelope_id: 'env-same-2' });
    // an event Slack retries (new envelope, same event_id) is handled once
    const event = { type: 'event_callback', team_id: lb.teamId, api_app_id: lb.appId, event_id: 'Ev0SAME0001', event_time: 1, event: { type: 'message', channel_type: 'im', channel: 'D0BOB', user: PEOPLE.bob, text: 'hello from-event', ts: '1700000001.000100' } };
    await lb.send({ type: 'events_api', payload: event, maxRetries: 0 });
    await lb.send({ type: 'events_api', payload: { ...event }, maxRetries: 0 });
    await lb.slashCommand({ text: 'hello once-more', user_id: PEOPLE.bob, channel_id: '#ops-alerts' });
    await waitFor(async () => (await s!.d!.ctx.engine.list({ all: true, limit: 50 })).runs.length >= 3, { what: 'the three runs' });
    await lb.waitForResponse((r) => String(r.body.text).includes('once-more'));
    const { runs } = await s.d!.ctx.engine.list({ all: true, limit: 50 });
    expect(runs.map((r) => r.params.to).sort()).toEqual(['from-event', 'once-more', 'twice']);
    // the duplicates were not answered either: one "Started" for the run they started
    await waitFor(() => lb.ephemerals().some((e) => e.text.includes('twice')), { what: 'the answer to the first delivery' });
    await waitFor(() => lb.ephemerals().some((e) => e.text.includes('once-more')), { what: 'the answer to the later command' });
    expect(lb.ephemerals().filter((e) => e.text.includes('twice'))).toHaveLength(1);
  });

  it('plain words in a DM or mention map to commands; a mention delivered twice is answered once; its own messages are ignored; thread questions are answered from the run', async () => {
    s = await setupSlack({ workflows: { 'profile.yaml': profileWorkflow() } });
    await connected(s);
    const { lb } = s;
    // a DM in plain words starts a workflow by its verb and usage ("for 2 hours" is one duration)
    await lb.event({ type: 'message', channel_type: 'im', channel: 'D0BOB', user: PEOPLE.bob, text: 'please profile checkout-api for 2 hours' });
    const started = await lb.waitForMessage('D0BOB', (m) => m.bot_id !== undefined && m.text.includes('Started'));
    const id = /`(r_[a-z0-9]+)`/.exec(shown(started))?.[1] ?? '';
    const run = await runOf(s, id);
    expect(run.params).toMatchObject({ service: 'checkout-api', duration: '2h' });
    expect(run.trigger).toBe('slack');

    // "what is running?" as a mention, delivered as app_mention and again as message (same ts)
    const m = lb.postAsUser({ channel: '#general', user: PEOPLE.vic, text: `<@${lb.botUserId}> what is running?` });
    await lb.event({ type: 'app_mention', channel: '#general', user: PEOPLE.vic, text: m.text, ts: m.ts });
    await lb.event({ type: 'message', channel: '#general', user: PEOPLE.vic, text: m.text, ts: m.ts });
    await lb.waitForMessage('#general', (x) => x.thread_ts === m.ts && x.bot_id !== undefined);
    // the bot's own message arrives as an event too: ignored
    const own = await s.d!.ctx.slack!.status();
    expect(own.bot_user).toBe(lb.botUserId);
    await lb.event({ type: 'message', channel: '#general', user: lb.botUserId, bot_id: lb.botId, text: 'what is running?' });
    await lb.event({ type: 'message', channel: '#general', user: PEOPLE.vic, text: `<@${lb.botUserId}> help` });
    await lb.waitForMessage('#general', (x) => x.bot_id !== undefined && shown(x).includes('Workflows'));
    expect(lb.thread('#general', m.ts).filter((x) => x.bot_id)).toHaveLength(1);

    // nothing matches: a suggestion
    await lb.event({ type: 'message', channel_type: 'im', channel: 'D0BOB', user: PEOPLE.bob, text: 'profiel checkout-api' });
    await lb.waitForMessage('D0BOB', (x) => x.bot_id !== undefined && x.text.includes("didn't understand") && x.text.includes('profile'));

    // the completion with its findings table and the chart PNG, in the run's thread
    await waitRunStatus(s, id, (r) => r.status === 'succeeded', 'the profiling run');
    const header = await lb.waitForMessage('#ops-alerts', (x) => shown(x).includes(id) && isTop(x));
    const completion = await lb.waitForMessage('#ops-alerts', (x) => x.thread_ts === header.ts && shown(x).includes('Findings'));
    expect(shown(completion)).toContain('latency');
    const upload = await waitFor(() => lb.uploads().find((u) => u.completed), { what: 'the chart upload' });
    expect(upload.bytes?.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(upload).toMatchObject({ channel: 'C0OPSALERTS', thread_ts: header.ts });
    expect(upload.filename).toMatch(/\.png$/);
    expect(lb.calls().some((c) => c.method === 'files.upload')).toBe(false);
    const shared = await lb.waitForMessage('#ops-alerts', (x) => x.files?.[0]?.id === upload.file_id);
    expect(shared.thread_ts).toBe(header.ts);

    // a question in the thread is answered from the run's stored outputs
    const q = lb.postAsUser({ channel: '#ops-alerts', user: PEOPLE.vic, text: 'why?', thread_ts: header.ts });
    await lb.event({ type: 'message', channel: '#ops-alerts', user: PEOPLE.vic, text: 'why?', ts: q.ts, thread_ts: header.ts });
    const why = await lb.waitForMessage('#ops-alerts', (x) => x.thread_ts === header.ts && x.bot_id !== undefined && x.text.includes('root cause'));
    expect(why.text).toContain('worst finding');

    // an answer is durable like a notification: Slack failing the post once only delays it
    lb.failNext('chat.postMessage', { status: 503, channel: '#ops-alerts' });
    const q2 = lb.postAsUser({ channel: '#ops-alerts', user: PEOPLE.vic, text: 'show me the details', thread_ts: header.ts });
    await lb.event({ type: 'message', channel: '#ops-alerts', user: PEOPLE.vic, text: 'show me the details', ts: q2.ts, thread_ts: header.ts });
    await lb.waitForMessage('#ops-alerts', (x) => x.thread_ts === header.ts && x.bot_id !== undefined && x.ts > q2.ts, 30_000);
    expect(lb.calls('chat.postMessage').some((c) => c.status === 503)).toBe(true);
    const replies = JSON.parse((await cli(['inbox', '--json', '--limit', '200'], s.h.env)).stdout) as Notification[];
    const reply = replies.filter((n) => n.kind === 'reply').at(-1)!;
    expect(reply.channels.slack).toMatchObject({ state: 'sent', attempts: 2 });
  });

  it('connection state shows in status; manifest and test DM from the CLI', async () => {
    s = await setupSlack({});
    await connected(s);
    const st = await cli(['daemon', 'status', '--json'], s.h.env);
    expect(st.code, st.stderr).toBe(0);
    const slack = JSON.parse(st.stdout).slack;
    expect(slack).toMatchObject({ state: 'connected', reconnects: 0, bot_user: s.lb.botUserId });
    expect(Date.parse(slack.last_message_at)).toBeGreaterThan(0);
    const text = await cli(['status'], s.h.env);
    expect(text.stdout).toMatch(/slack: connected/);

    const man = await cli(['slack', 'manifest'], s.h.env);
    expect(man.code, man.stderr).toBe(0);
    const manifest = JSON.parse(man.stdout);
    expect(manifest.settings).toMatchObject({ socket_mode_enabled: true, interactivity: { is_enabled: true } });
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(expect.arrayContaining(['app_mention', 'message.im']));
    expect(manifest.features.slash_commands[0].command).toBe('/opstream');
    expect(manifest.features.app_home.messages_tab_enabled).toBe(true);
    expect(manifest.oauth_config.scopes.bot).toEqual(expect.arrayContaining(['chat:write', 'commands', 'files:write', 'im:write', 'users:read']));

    const t = await cli(['slack', 'test', '--json'], s.h.env);
    expect(t.code, t.stderr).toBe(0);
    expect(JSON.parse(t.stdout)).toMatchObject({ to: PEOPLE.alice, state: 'sent' });
    expect(s.lb.messages('D0ALICE').map((m) => m.text)).toEqual(['OpStream test message']);
    const { items } = await s.d!.ctx.notifier.list({ limit: 10 });
    expect(items.find((n: Notification) => n.kind === 'test')?.channels.slack).toMatchObject({ state: 'sent' });
  });
});
