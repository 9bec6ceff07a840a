import { afterEach, describe, expect, it } from 'vitest';
import { startOllamaLoopback, type OllamaLoopback } from '../support/ollama-loopback.js';
import { waitFor } from '../support/home.js';
import { buttonValue, connected, hasButton, isTop, PEOPLE, runOf, setupSlack, shown, slackConfig, waitRunStatus, type SlackSetup } from '../support/slack-daemon.js';

// People talking to OpStream in Slack: preferences, answers to a run's questions (thread reply
// and modal), approvals limited to named people, run controls, noise limits, and plain words
// mapped by an LLM (the loopback Ollama) when one is configured.
process.env.OPSTREAM_ENGINE_FAULTS = '1';

const HELLO = `id: hello
command: hello
usage: "[<to>]"
params:
  to: { type: string, default: world }
notifications: [completion, errors]
steps:
  - id: greet
    notify: { text: "Hello, {{ params.to }}!", level: info }
`;

const ASK = `id: quiz
command: quiz
notifications: [start, completion, errors]
steps:
  - id: color
    input: { prompt: "Favourite colour?" }
  - id: food
    input: { prompt: "Favourite food?" }
  - id: done
    notify: { text: "{{ steps.color.output.text }} and {{ steps.food.output.text }}", level: info }
`;

const ALICE_ONLY = `id: guarded
command: guarded
notifications: [start, completion, approvals]
steps:
  - id: ok
    approval: { prompt: "Drop the cache?", approvers: [U0ALICE] }
  - id: slow
    wait: 1h
`;

const CHATTY = `id: chatty
command: chatty
notifications: [start]
steps:
  - { id: n1, notify: { text: "update 1", level: info } }
  - { id: n2, notify: { text: "update 2", level: info } }
  - { id: n3, notify: { text: "update 3", level: info } }
  - { id: n4, notify: { text: "update 4", level: info } }
  - { id: n5, notify: { text: "update 5", level: info } }
`;

let s: SlackSetup | null = null;
let ollama: OllamaLoopback | null = null;
afterEach(async () => {
  await s?.close();
  s = null;
  await ollama?.close();
  ollama = null;
});

async function slash(setup: SlackSetup, text: string, user: string): Promise<string> {
  const before = setup.lb.responses().length;
  await setup.lb.slashCommand({ text, user_id: user, channel_id: '#ops-alerts' });
  const r = await setup.lb.waitForResponse((x) => setup.lb.responses().indexOf(x) >= before);
  return String(r.body.text);
}

const runId = (text: string): string => /`(r_[a-z0-9]+)`/.exec(text)?.[1] ?? '';

describe('slack bridge: people, preferences and conversations', () => {
  it('prefs: a person gets their runs by DM, only the kinds they chose', async () => {
    s = await setupSlack({ workflows: { 'hello.yaml': HELLO } });
    await connected(s);
    const { lb } = s;
    expect(await slash(s, 'prefs', PEOPLE.bob)).toContain('the configured channel');
    // personal quiet hours that do not cover now, in bob's own (Slack) time zone
    const nyHour = Number(new Intl.DateTimeFormat('en-GB', { timeZone: 'America/New_York', hour: '2-digit', hourCycle: 'h23' }).format(new Date()));
    const quiet = `${String((nyHour + 2) % 24).padStart(2, '0')}:00-${String((nyHour + 3) % 24).padStart(2, '0')}:00`;
    const saved = await slash(s, `prefs dm kinds completion,error quiet ${quiet}`, PEOPLE.bob);
    expect(saved).toContain('a DM to you');
    expect(saved).toContain('completion, error');
    // Slack's time zone (users.info) is the default for personal quiet hours
    expect(saved).toContain(`${quiet} America/New_York (from Slack)`);
    expect(lb.calls('users.info')[0].args.user).toBe(PEOPLE.bob);
    expect(await slash(s, 'prefs kinds lunch', PEOPLE.bob)).toMatch(/unknown kind lunch/);

    const id = runId(await slash(s, 'hello prefs', PEOPLE.bob));
    expect(await slash(s, `status ${id}`, PEOPLE.bob)).toContain(id);
    await waitRunStatus(s, id, (r) => r.status === 'succeeded', 'hello');
    const completion = await lb.waitForMessage('D0BOB', (m) => !isTop(m) && m.text.includes('succeeded'));
    // the "Hello" notify step is not a kind bob wants; nothing went to the channel
    expect(lb.thread('D0BOB', completion.thread_ts!).some((m) => m.text.includes('Hello, prefs'))).toBe(false);
    expect(lb.messages('#ops-alerts')).toHaveLength(0);
    const { items } = await s.d!.ctx.notifier.list({ run: id, limit: 10 });
    expect(items.find((n) => n.kind === 'notify')?.channels.slack).toBeUndefined();
  });

  it('questions: answered by a reply in the thread or in a modal, on behalf of the person', async () => {
    s = await setupSlack({ workflows: { 'quiz.yaml': ASK } });
    await connected(s);
    const { lb } = s;
    const id = runId(await slash(s, 'quiz', PEOPLE.bob));
    const header = await lb.waitForMessage('#ops-alerts', (m) => shown(m).includes(id) && isTop(m));
    const q1 = await lb.waitForMessage('#ops-alerts', (m) => m.thread_ts === header.ts && shown(m).includes('Favourite colour?') && hasButton(m, 'opstream.input'));

    // people chatting in the thread are left alone; a viewer's answer is refused
    const chat = lb.postAsUser({ channel: '#ops-alerts', user: PEOPLE.vic, text: 'I vote blue', thread_ts: header.ts });
    await lb.event({ type: 'message', channel: '#ops-alerts', user: PEOPLE.vic, text: chat.text, ts: chat.ts, thread_ts: header.ts });
    await waitFor(() => lb.ephemerals().some((e) => e.user === PEOPLE.vic && e.text.includes('operator')), { what: 'the refusal to vic' });
    expect((await runOf(s, id)).waiting_for?.step).toBe('color');

    const reply = lb.postAsUser({ channel: '#ops-alerts', user: PEOPLE.bob, text: 'blue', thread_ts: header.ts });
    await lb.event({ type: 'message', channel: '#ops-alerts', user: PEOPLE.bob, text: 'blue', ts: reply.ts, thread_ts: header.ts });
    await waitRunStatus(s, id, (r) => r.waiting_for?.step === 'food', 'the second question');
    await lb.waitForMessage('#ops-alerts', (m) => m.ts === q1.ts && shown(m).includes('Answered by <@U0BOB>'));

    const q2 = await lb.waitForMessage('#ops-alerts', (m) => m.thread_ts === header.ts && shown(m).includes('Favourite food?') && hasButton(m, 'opstream.input'));
    await lb.blockAction({ user: PEOPLE.alice, channel: '#ops-alerts', message: { ts: q2.ts }, actions: [{ action_id: 'opstream.input', value: buttonValue(q2, 'opstream.input') }] });
    const modal = await waitFor(() => lb.views()[0], { what: 'the modal' });
    expect(JSON.stringify(modal.view)).toContain('Favourite food?');
    await lb.viewSubmission({ user: PEOPLE.alice, callback_id: String(modal.view.callback_id), private_metadata: String(modal.view.private_metadata), values: { answer: { text: { type: 'plain_text_input', value: 'noodles' } } } });
    const run = await waitRunStatus(s, id, (r) => r.status === 'succeeded', 'the run to finish');
    expect(run.steps.find((x) => x.id === 'color')?.output).toMatchObject({ text: 'blue', by: 'slack:U0BOB' });
    expect(run.steps.find((x) => x.id === 'food')?.output).toMatchObject({ text: 'noodles', by: 'slack:U0ALICE' });
    await lb.waitForMessage('#ops-alerts', (m) => m.thread_ts === header.ts && m.text.includes('blue and noodles'));
  });

  it('approvers may name people: an operator who is not one is refused and audited; run controls work from the start message', async () => {
    s = await setupSlack({ workflows: { 'guarded.yaml': ALICE_ONLY } });
    await connected(s);
    const { lb } = s;
    const id = runId(await slash(s, 'guarded', PEOPLE.bob));
    const header = await lb.waitForMessage('#ops-alerts', (m) => shown(m).includes(id) && isTop(m));
    const ask = await lb.waitForMessage('#ops-alerts', (m) => m.thread_ts === header.ts && hasButton(m, 'opstream.approve'));
    expect(shown(ask)).toContain('<@U0ALICE>');
    const value = buttonValue(ask, 'opstream.approve');
    await lb.blockAction({ user: PEOPLE.bob, channel: '#ops-alerts', message: { ts: ask.ts }, actions: [{ action_id: 'opstream.approve', value }] });
    await lb.waitForResponse((r) => String(r.body.text).includes('may not answer'));
    const audit = (await s.d!.ctx.store.entries<{ actor: string; action: string; target: string }>('audit')).map(([, e]) => e);
    expect(audit).toContainEqual(expect.objectContaining({ actor: 'slack:U0BOB', action: 'slack.refused' }));
    await lb.blockAction({ user: PEOPLE.alice, channel: '#ops-alerts', message: { ts: ask.ts }, actions: [{ action_id: 'opstream.approve', value }] });
    await waitRunStatus(s, id, (r) => r.current_step === 'slow' && r.status === 'waiting', 'the run to go on');

    // the start message carries Pause/Cancel; bob pauses, the message then offers Resume
    const now = await lb.waitForMessage('#ops-alerts', (m) => m.ts === header.ts && hasButton(m, 'opstream.pause'));
    await lb.blockAction({ user: PEOPLE.bob, channel: '#ops-alerts', message: { ts: now.ts }, actions: [{ action_id: 'opstream.pause', value: buttonValue(now, 'opstream.pause') }] });
    await waitRunStatus(s, id, (r) => r.status === 'paused', 'the pause');
    const paused = await lb.waitForMessage('#ops-alerts', (m) => m.ts === header.ts && hasButton(m, 'opstream.resume'));
    await lb.blockAction({ user: PEOPLE.vic, channel: '#ops-alerts', message: { ts: paused.ts }, actions: [{ action_id: 'opstream.cancel', value: buttonValue(paused, 'opstream.cancel') }] });
    await lb.waitForResponse((r) => String(r.body.text).includes('your role is viewer'));
    await lb.blockAction({ user: PEOPLE.alice, channel: '#ops-alerts', message: { ts: paused.ts }, actions: [{ action_id: 'opstream.cancel', value: buttonValue(paused, 'opstream.cancel') }] });
    await waitRunStatus(s, id, (r) => r.status === 'cancelled', 'the cancel');
    await lb.waitForMessage('#ops-alerts', (m) => m.ts === header.ts && shown(m).includes('Cancelled') && !hasButton(m, 'opstream.resume'));
  });

  it('an approval nobody answers expires as its step says, and the message shows it', async () => {
    s = await setupSlack({ workflows: { 'expiring.yaml': 'id: expiring\ncommand: expiring\nnotifications: [approvals, errors]\nsteps:\n  - id: ok\n    approval: { prompt: "Ship it?", timeout: 2s, on_timeout: reject }\n' } });
    await connected(s);
    const { lb } = s;
    const id = runId(await slash(s, 'expiring', PEOPLE.bob));
    const ask = await lb.waitForMessage('#ops-alerts', (m) => hasButton(m, 'opstream.approve') && shown(m).includes(id));
    expect(shown(ask)).toContain('then reject');
    await waitRunStatus(s, id, (r) => r.status === 'failed', 'the rejection by timeout');
    const expired = await lb.waitForMessage('#ops-alerts', (m) => m.ts === ask.ts && shown(m).includes('Rejected by timeout'));
    expect(hasButton(expired, 'opstream.approve')).toBe(false);
    // a click after that changes nothing
    await lb.blockAction({ user: PEOPLE.alice, channel: '#ops-alerts', message: { ts: ask.ts }, actions: [{ action_id: 'opstream.approve', value: buttonValue(ask, 'opstream.approve') }] });
    await lb.waitForResponse((r) => String(r.body.text).includes('already rejected by timeout'));
  });

  it('max_frequency merges routine updates into one message', async () => {
    s = await setupSlack({ workflows: { 'chatty.yaml': CHATTY }, slack: ['notifications: { max_frequency: "1/second" }'] });
    await connected(s);
    const { lb } = s;
    const id = runId(await slash(s, 'chatty', PEOPLE.bob));
    await waitRunStatus(s, id, (r) => r.status === 'succeeded', 'chatty');
    await waitFor(async () => (await s!.d!.ctx.notifier.list({ run: id, limit: 20 })).items.filter((n) => n.kind === 'notify').every((n) => n.channels.slack?.state === 'sent'), { what: 'every update delivered', timeoutMs: 30_000 });
    const all = lb.messages('#ops-alerts').flatMap((m) => (isTop(m) ? lb.thread('#ops-alerts', m.ts) : [m]));
    const posts = all.filter((m) => m.bot_id && /update \d/.test(shown(m)));
    // each update shows exactly once, and fewer posts than updates were made
    for (let i = 1; i <= 5; i++) expect(posts.filter((m) => shown(m).includes(`update ${i}`))).toHaveLength(1);
    expect(posts.length).toBeLessThan(5);
    expect(posts.some((m) => shown(m).includes('updates'))).toBe(true);
  });

  it('with an LLM configured, plain words are mapped by it (and checked against the commands)', async () => {
    ollama = await startOllamaLoopback(['qwen2.5:7b']);
    const host = ollama.host;
    s = await setupSlack({ workflows: { 'hello.yaml': HELLO }, config: (lb) => slackConfig(lb, [], `llm: { provider: ollama, host: "${host}", model: "qwen2.5:7b" }`) });
    await connected(s);
    const { lb } = s;
    ollama.script({ content: '{"command": "hello ada"}' });
    await lb.event({ type: 'message', channel_type: 'im', channel: 'D0BOB', user: PEOPLE.bob, text: 'could you greet Ada for me' });
    const started = await lb.waitForMessage('D0BOB', (m) => m.bot_id !== undefined && m.text.includes('Started'));
    expect((await runOf(s, runId(shown(started)))).params.to).toBe('ada');
    expect(ollama.chats[0].body.format).toBeDefined();
    // the model proposing something that is not a command falls back to the grammar
    ollama.script({ content: '{"command": "rm -rf /"}' });
    await lb.event({ type: 'message', channel_type: 'im', channel: 'D0BOB', user: PEOPLE.bob, text: 'what is running right now?' });
    await lb.waitForMessage('D0BOB', (m) => m.bot_id !== undefined && (m.text.includes('Active runs') || m.text.includes('Nothing is running')));
    expect(ollama.chats).toHaveLength(2);
  });
});
