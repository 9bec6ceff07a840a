import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/client.js';
import type { RunJson } from '../../src/protocol/index.js';
import { alive, cli, daemonPid, waitFor } from '../support/home.js';
import { RawPeer } from '../support/raw-socket.js';
import { buttonValue, connected, hasButton, isTop, PEOPLE, setupSlack, shown, type SlackSetup } from '../support/slack-daemon.js';
import type { Delivery, LoopbackMessage } from '../support/slack-loopback.js';
import { Rng, seedFromEnv } from './prng.js';

// Random Slack envelopes and block actions against a real daemon (a child process) connected to the
// loopback Slack: wrong types, missing fields, unknown action ids, forged button values, huge
// payloads, strangers, duplicates. After every batch the daemon is up, answers daemon.status on a
// new connection, is still connected to Slack, and neither waiting run has moved.

const SEED = seedFromEnv();
const rng = new Rng(SEED);
const tag = `(FUZZ_SEED=${SEED})`;
const BATCHES = Number(process.env.FUZZ_SLACK_BATCHES ?? 8);
const PER_BATCH = 40;

const GATE = `id: gate
command: gate
usage: "<service>"
params:
  service: { type: string, required: true }
notifications: [start, approvals, completion]
steps:
  - id: ask
    approval: { prompt: "Restart {{ params.service }}?", timeout: 1h, approvers: [operator] }
  - id: done
    notify: { text: "restarted {{ params.service }}" }
`;

let s: SlackSetup;
let client: DaemonClient;
let pid: number;
const runs: { id: string; approval: LoopbackMessage; value: string; events: number }[] = [];

async function eventsOf(id: string): Promise<number> {
  return (await client.request('runs.events', { id, limit: 10_000 })).events.length;
}

beforeAll(async () => {
  s = await setupSlack({ workflows: { 'gate.yaml': GATE }, inProcess: false });
  const r = await cli(['daemon', 'start'], s.h.env);
  expect(r.code, r.stderr).toBe(0);
  pid = daemonPid(s.h.home)!;
  await connected(s);
  await waitFor(async () => (JSON.parse((await cli(['daemon', 'status', '--json'], s.h.env)).stdout).slack?.state === 'connected'), { what: 'the bridge to connect' });
  client = await DaemonClient.connect({ env: s.h.env, autoStart: false, client: 'test' });
  for (const svc of ['alpha', 'beta']) {
    const started = await cli(['start', 'gate', svc, '--json'], s.h.env);
    expect(started.code, started.stderr).toBe(0);
    const id = JSON.parse(started.stdout).id as string;
    await waitFor(async () => (await client.request('runs.get', { id })).status === 'waiting', { what: `${svc} to wait` });
    const header = await s.lb.waitForMessage('#ops-alerts', (m) => shown(m).includes(id) && isTop(m), 30_000);
    const approval = await s.lb.waitForMessage('#ops-alerts', (m) => m.thread_ts === header.ts && hasButton(m, 'opstream.approve'), 30_000);
    runs.push({ id, approval, value: buttonValue(approval, 'opstream.approve'), events: await eventsOf(id) });
  }
}, 120_000);
afterAll(async () => {
  client?.close();
  await s?.close();
});

const STRANGERS = [PEOPLE.eve, PEOPLE.vic, 'U0NOBODY', '', 'W0ENTERPRISE', 'USLACKBOT', 'x'.repeat(300)];
const ACTIONS = ['opstream.approve', 'opstream.reject', 'opstream.input', 'opstream.pause', 'opstream.resume', 'opstream.cancel', 'opstream.nuke', '', 'opstream', 'approve', 'x'.repeat(500)];

/**
 * A button value that must never act. For an operator (who may pause or cancel any run) it names no
 * run; `approval` also allows the real run with a step it is not waiting on (approve/reject only).
 */
function forged(forOperator: boolean, approval = false): string {
  const real = JSON.parse(rng.pick(runs).value) as { r: string; s: string; q: number };
  const choices: string[] = [
    JSON.stringify({ ...real, r: `${real.r}x` }),
    JSON.stringify({ ...real, r: 'r_0000000000' }),
    JSON.stringify({ r: { $gt: '' }, s: real.s, q: real.q }),
    JSON.stringify({ r: [real.r], s: [real.s] }),
    JSON.stringify({ r: 5, s: 5, q: 'x' }),
    'null',
    '5',
    '[]',
    '"r_x"',
    '{"r":',
    '',
    'x'.repeat(rng.int(1000, 200_000)),
    rng.text(60),
  ];
  // strangers and viewers get the real values too: who clicks must matter, not what is clicked
  if (!forOperator) choices.push(rng.pick(runs).value, rng.pick(runs).value.replace('"q":', '"q":1'));
  if (!forOperator || approval) choices.push(JSON.stringify({ ...real, s: rng.pick(['done', 'nope', '', '../ask']) }));
  return rng.pick(choices);
}

function randomPayload(): Record<string, unknown> {
  const v = rng.json(3);
  const o: Record<string, unknown> = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  // some look nearly right
  if (rng.chance(0.5)) o.type = rng.pick(['block_actions', 'view_submission', 'event_callback', 'shortcut', 'message_action', 5, null]);
  if (rng.chance(0.3)) o.user = rng.pick([{ id: rng.pick(STRANGERS) }, 'U0EVE', 5, null, { id: { id: 'U0ALICE' } }]);
  if (rng.chance(0.3)) o.actions = rng.pick([5, 'opstream.approve', [null], [{ action_id: 5, value: 5 }], { action_id: 'opstream.approve' }, [{ action_id: 'opstream.approve', value: 'null' }]]);
  if (rng.chance(0.2)) o.event = rng.pick([null, 5, 'message', { type: 'disconnected' }, { type: 'connected' }, { type: 'error' }, { type: 5 }, { type: 'message', user: 5, text: 5, channel: 5 }, { type: 'app_mention', text: 'x'.repeat(100_000) }, { type: 'message', thread_ts: runs[0].approval.thread_ts, channel: 'C0OPSALERTS', user: PEOPLE.eve, text: 'approve' }]);
  if (rng.chance(0.2)) o.view = rng.pick([null, 5, { callback_id: 'opstream.input', private_metadata: rng.pick(runs).value, state: { values: 5 } }, { callback_id: 'opstream.input', private_metadata: '{', state: null }]);
  if (rng.chance(0.2)) o.text = rng.pick([5, null, ['approve'], 'x'.repeat(300_000), `approve ${runs[1].id}`, `cancel ${runs[0].id}`]);
  return o;
}

type Sent = { envelope_id: string; type: 'events_api' | 'slash_commands' | 'interactive'; payload: Record<string, unknown> };

/**
 * One envelope: what a stranger, a bad client or a confused Slack could send. Duplicates re-send
 * envelopes of earlier batches (`sent`; the loopback tracks one delivery per envelope id at a time).
 */
function envelope(sent: Sent[], fresh: Sent[]): Promise<Delivery> {
  const { lb } = s;
  const k = rng.int(0, 9);
  const ackTimeoutMs = 5000;
  if (k <= 2) {
    const type = rng.pick(['events_api', 'slash_commands', 'interactive'] as const);
    const payload = randomPayload();
    const envelope_id = `fz-${rng.int(0, 1e9)}`;
    fresh.push({ envelope_id, type, payload });
    return lb.send({ type, payload, envelope_id, maxRetries: 0, ackTimeoutMs });
  }
  if (k === 3 && sent.length > 0) {
    // a duplicate: the very same envelope again
    // (taken out of the list: one delivery per envelope id in flight)
    const d = sent.splice(rng.int(0, sent.length - 1), 1)[0];
    return lb.send({ ...d, maxRetries: 0, ackTimeoutMs });
  }
  if (k <= 6) {
    // a click: a stranger with any value, or an operator with a forged one
    const operator = rng.chance(0.3);
    const user = operator ? rng.pick([PEOPLE.alice, PEOPLE.bob]) : rng.pick(STRANGERS);
    const target = rng.pick(runs);
    return lb.blockAction({
      user,
      channel: '#ops-alerts',
      message: rng.chance(0.7) ? { ts: target.approval.ts } : undefined,
      actions: Array.from({ length: rng.int(1, 3) }, () => {
        const action_id = rng.pick(ACTIONS);
        return { action_id, value: forged(operator, action_id === 'opstream.approve' || action_id === 'opstream.reject'), block_id: rng.pick([undefined, '', 'x'.repeat(300)]) };
      }),
      ackTimeoutMs,
    });
  }
  if (k === 7) {
    return lb.slashCommand({ user_id: rng.pick(STRANGERS.filter((u) => u !== '')), channel_id: rng.pick(['#ops-alerts', '#general']), text: rng.pick([`approve ${runs[0].id}`, `reject ${runs[1].id}`, `cancel ${runs[0].id}`, 'gate evil', rng.text(200), 'x'.repeat(50_000), '']), ackTimeoutMs });
  }
  if (k === 8) {
    return lb.event({ type: rng.pick(['message', 'app_mention']), channel: '#ops-alerts', user: rng.pick(STRANGERS.filter((u) => u !== '')), text: rng.pick(['approve', 'cancel it', 'reject', rng.text(100), 'x'.repeat(100_000)]), thread_ts: rng.pick(runs).approval.thread_ts }, { maxRetries: 0, ackTimeoutMs });
  }
  return lb.viewSubmission({ user: rng.pick(STRANGERS), callback_id: rng.pick(['opstream.input', 'nope', '']), private_metadata: forged(false), values: rng.pick<Record<string, Record<string, Record<string, unknown>>>>([{}, { b: { answer: { type: 'plain_text_input', value: 'yes' } } }, { b: { answer: { value: 'x'.repeat(100_000) } } }]), ackTimeoutMs });
}

async function checkpoint(where: string): Promise<void> {
  expect(alive(pid), `daemon alive ${where}`).toBe(true);
  const p = await RawPeer.open(join(s.h.home, 'run', 'opstream.sock'));
  try {
    await p.hello();
    p.request('st', 'daemon.status', {});
    const st = (await p.next()) as { result?: { pid: number; slack?: { state: string } } };
    expect(st.result?.pid, where).toBe(pid);
    expect(st.result?.slack?.state, `bridge state ${where}`).toBe('connected');
  } finally {
    p.close();
  }
  for (const r of runs) {
    const now: RunJson = await client.request('runs.get', { id: r.id });
    expect(now.status, `${r.id} ${where}`).toBe('waiting');
    expect(await eventsOf(r.id), `events of ${r.id} ${where}`).toBe(r.events);
  }
}

/** Envelopes whose handling threw inside the bridge (logged by it, never shown to the person). */
function handlerFailures(): string[] {
  const dir = join(s.h.home, 'data', 'logs');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
    .filter((l) => l.includes('handling an envelope failed'))
    .map((l) => l.slice(0, 500));
}

describe(`slack fuzz: ${BATCHES} batches of ${PER_BATCH} envelopes ${tag}`, () => {
  it('the daemon stays up and connected, acks every envelope, and no bad action moves a run', async () => {
    const sent: Sent[] = [];
    for (let b = 1; b <= BATCHES; b++) {
      const fresh: Sent[] = [];
      const deliveries = await Promise.all(Array.from({ length: PER_BATCH }, () => envelope(sent, fresh)));
      sent.push(...fresh);
      const unacked = deliveries.filter((d) => d.outcome !== 'acked').map((d) => `${d.outcome} (${String(d.attempts[0]?.frame.type)}): ${JSON.stringify(d.attempts[0]?.frame).slice(0, 300)}`);
      expect(unacked, `batch ${b} ${tag}`).toEqual([]);
      await checkpoint(`after batch ${b} ${tag}`);
    }
    // the bridge still works for the people allowed: bob approves alpha from its button
    const [alpha, beta] = runs;
    await s.lb.blockAction({ user: PEOPLE.bob, channel: '#ops-alerts', message: { ts: alpha.approval.ts }, actions: [{ action_id: 'opstream.approve', value: alpha.value }] });
    await waitFor(async () => (await client.request('runs.get', { id: alpha.id })).status === 'succeeded', { what: `alpha approved by bob ${tag}`, timeoutMs: 30_000 });
    const done = await client.request('runs.get', { id: alpha.id });
    expect(done.steps.find((x) => x.id === 'ask')?.output, tag).toMatchObject({ decision: 'approved', by: 'slack:U0BOB' });
    // beta: nothing but its own start ever happened to it
    expect((await client.request('runs.get', { id: beta.id })).status, tag).toBe('waiting');
    expect(await eventsOf(beta.id), tag).toBe(beta.events);
    expect(alive(pid)).toBe(true);
    // a bad envelope is refused or ignored on purpose, never by a handler tripping over it
    expect(handlerFailures(), tag).toEqual([]);
  }, Math.max(180_000, BATCHES * 10_000));
});
