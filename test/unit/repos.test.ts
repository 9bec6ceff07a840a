import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Notification } from '../../src/protocol/index.js';
import { auditOp } from '../../src/daemon/repos/audit.js';
import { chatIds } from '../../src/daemon/repos/chat-state.js';
import { createRepos } from '../../src/daemon/repos/index.js';
import { memoryOps, runIdOfSummaryKey } from '../../src/daemon/repos/memory.js';
import { notificationId, outboxOps } from '../../src/daemon/repos/outbox.js';
import { emptySummary, eventRef, runIdOfEventRef, runOps, timerKey, type RunHeader } from '../../src/daemon/repos/runs.js';
import type { KvStore } from '../../src/daemon/store/kv.js';
import { PgStore } from '../../src/daemon/store/pg-store.js';
import type { StoreOp, SublevelName } from '../../src/daemon/store/store.js';
import { bothBackends } from '../support/backends.js';

/**
 * The repositories over both backends (as kv-conformance.test.ts runs the store): what their op
 * builders write is, key for key and value for value, what the daemon wrote before they existed
 * (literal keys below), so stores written by earlier versions read the same; and their reads
 * return rows in the order the callers rely on.
 */

const { backends } = bothBackends('repos');

const header = (id: string, o: Partial<RunHeader> = {}): RunHeader =>
  ({ id, workflow: 'wf', def_hash: 'h1', status: 'running', params: {}, trigger: 'cli', seq: 3, created_at: '2026-01-01T00:00:01.000Z', started_at: '2026-01-01T00:00:01.000Z', ended_at: null, ...o }) as unknown as RunHeader;

const note = (id: string, run: string | null, pending: boolean): Notification =>
  ({ id, at: '2026-01-01T00:00:00.000Z', run_id: run, workflow: null, step: null, kind: 'notify', level: 'info', title: 't', text: 'x', channels: { terminal: { state: pending ? 'pending' : 'sent', attempts: 0, sent_at: null, receipt: null, last_error: null, next_at: null } }, data: {} }) as Notification;

/** Every raw row of a sublevel, as a map (what the bytes on disk say). */
async function raw(store: KvStore, sub: SublevelName): Promise<Record<string, unknown>> {
  return Object.fromEntries(await store.entries(sub));
}

describe.each(backends)('repositories on $name', (backend) => {
  it('runs: op builders write the keys and values the engine always wrote', async () => {
    const store = await backend.open();
    const h = header('r_1');
    await store.commit([
      runOps.header(h),
      runOps.stepRow('r_1', 0, { path: 'a', state: { status: 'succeeded' } as never }),
      runOps.stepRow('r_1', 37, { path: 'b', state: { status: 'running' } as never }),
      runOps.event('r_1', { seq: 2, type: 'step.started' } as never),
      runOps.event('r_1', { seq: 10, type: 'step.succeeded' } as never),
      runOps.timer(timerKey('r_1', 'step'), { run_id: 'r_1', kind: 'step', at: '2026-01-02T00:00:00.000Z', step: 'b' }),
      runOps.timer(timerKey('r_1', 'run_timeout'), { run_id: 'r_1', kind: 'run_timeout', at: '2026-01-03T00:00:00.000Z' }),
      ...runOps.created(h),
      runOps.summary(null, emptySummary()),
      runOps.summary('exec-b', { ...emptySummary(), by_workflow: { wf: 1 } }),
      runOps.def('h1', { id: 'wf' } as never),
    ]);
    expect(Object.keys(await raw(store, 'runs'))).toEqual(['r_1', 'r_1/step/000000', 'r_1/step/000011']);
    expect((await raw(store, 'runs'))['r_1']).toEqual(h);
    expect(await raw(store, 'events')).toEqual({ 'r_1:000000002': { seq: 2, type: 'step.started' }, 'r_1:000000010': { seq: 10, type: 'step.succeeded' } });
    expect(Object.keys(await raw(store, 'timers'))).toEqual(['r_1:run_timeout', 'r_1:step']);
    expect(await raw(store, 'active')).toEqual({ r_1: { workflow: 'wf' } });
    expect(await raw(store, 'created')).toEqual({ '2026-01-01T00:00:01.000Z|r_1': { workflow: 'wf' } });
    expect(Object.keys(await raw(store, 'meta'))).toEqual(['runs:summary', 'runs:summary@exec-b', 'wfdef:h1']);

    const done = { ...h, status: 'succeeded', ended_at: '2026-01-01T00:00:05.000Z' } as RunHeader;
    await store.commit(runOps.finished(done));
    expect(await raw(store, 'active')).toEqual({});
    expect(await raw(store, 'ended')).toEqual({ '2026-01-01T00:00:05.000Z|r_1': { workflow: 'wf', status: 'succeeded' } });
    expect(eventRef('r_1', 7)).toBe('r_1:000000007');
    expect(runIdOfEventRef(eventRef('r_1:x', 7))).toBe('r_1:x');
  });

  it('runs: reads a store written with the old literal keys, in the order the engine relies on', async () => {
    const store = await backend.open();
    const runs = createRepos(store).runs;
    // r_1's rows sort between r_1 and r_10 (`/step0` ends the range): never r_10's rows
    const ops: StoreOp[] = [
      { type: 'put', sub: 'runs', key: 'r_1', value: header('r_1') as never },
      { type: 'put', sub: 'runs', key: 'r_1/step/00000a', value: { path: 'k', state: {} } },
      { type: 'put', sub: 'runs', key: 'r_1/step/000002', value: { path: 'c', state: {} } },
      { type: 'put', sub: 'runs', key: 'r_10', value: header('r_10') as never },
      { type: 'put', sub: 'runs', key: 'r_10/step/000000', value: { path: 'z', state: {} } },
      ...[1, 2, 3, 11].map((seq): StoreOp => ({ type: 'put', sub: 'events', key: `r_1:${String(seq).padStart(9, '0')}`, value: { seq } })),
      { type: 'put', sub: 'events', key: 'r_10:000000001', value: { seq: 1, other: true } },
      { type: 'put', sub: 'timers', key: 'r_1:step', value: { run_id: 'r_1', kind: 'step', at: 'x' } },
      { type: 'put', sub: 'timers', key: 'r_10:step', value: { run_id: 'r_10', kind: 'step', at: 'y' } },
      ...['2026-01-01T00:00:01.000Z|r_a', '2026-01-01T00:00:02.000Z|r_b', '2026-01-01T00:00:03.000Z|r_c'].map((key): StoreOp => ({ type: 'put', sub: 'created', key, value: { workflow: key.endsWith('b') ? 'other' : 'wf' } })),
      ...['2026-01-01T00:00:04.000Z|r_a', '2026-01-01T00:00:09.000Z|r_b'].map((key): StoreOp => ({ type: 'put', sub: 'ended', key, value: { workflow: 'wf', status: 'succeeded' } })),
      { type: 'put', sub: 'meta', key: 'runs:summary@m1', value: { ...emptySummary(), by_workflow: { a: 1 } } },
      { type: 'put', sub: 'meta', key: 'runs:summary@m2', value: { ...emptySummary(), by_workflow: { b: 2 } } },
      { type: 'put', sub: 'meta', key: 'wfdef:h9', value: { id: 'nine' } },
      { type: 'put', sub: 'meta', key: 'retention:events_after', value: '2026-01-01T00:00:04.000Z|r_a' },
    ];
    await store.commit(ops);
    expect((await runs.header('r_1'))?.id).toBe('r_1');
    expect((await runs.stepRows('r_1')).map(([, r]) => r.path)).toEqual(['c', 'k']);
    expect((await runs.stepRowsOf(['r_1', 'r_10'])).map((rows) => rows.map(([, r]) => r.path))).toEqual([['c', 'k'], ['z']]);
    const all = await runs.all();
    expect([...all.keys()]).toEqual(['r_1', 'r_10']);
    expect(all.get('r_1')?.rows.length).toBe(2);
    expect(await runs.events('r_1')).toEqual([{ seq: 1 }, { seq: 2 }, { seq: 3 }, { seq: 11 }]);
    expect(await runs.events('r_1', 2, 1)).toEqual([{ seq: 3 }]);
    expect(await runs.eventsBetween('r_1', '2', '11')).toEqual([{ seq: 2 }, { seq: 3 }, { seq: 11 }]);
    expect(await runs.eventAt('r_1:000000003')).toEqual({ seq: 3 });
    expect((await runs.eventDels('r_1')).map((d) => d.op.key)).toEqual(['r_1:000000001', 'r_1:000000002', 'r_1:000000003', 'r_1:000000011']);
    expect((await runs.timersOf('r_1')).map(([k]) => k)).toEqual(['r_1:step']);
    const page1 = await runs.createdPage(undefined, 2);
    expect(page1.map((r) => [r.id, r.workflow])).toEqual([['r_c', 'wf'], ['r_b', 'other']]);
    expect((await runs.createdPage(page1[1].cursor, 2)).map((r) => r.id)).toEqual(['r_a']);
    const ended: string[] = [];
    for await (const rows of runs.endedBefore(Date.parse('2026-01-01T00:00:10.000Z'), 1, await runs.eventsSweptUpTo())) ended.push(...rows.map((e) => e.id));
    expect(ended).toEqual(['r_b']);
    const gone = runs.removeFinishedOps({ id: 'r_a', key: '2026-01-01T00:00:04.000Z|r_a' }, header('r_a'));
    expect(gone).toEqual([
      { type: 'del', sub: 'ended', key: '2026-01-01T00:00:04.000Z|r_a' },
      { type: 'del', sub: 'runs', key: 'r_a' },
      { type: 'del', sub: 'created', key: '2026-01-01T00:00:01.000Z|r_a' },
    ]);
    expect((await runs.summaries()).map((s) => s.by_workflow)).toEqual([{ a: 1 }, { b: 2 }]);
    expect(await runs.defs(['h9', 'nope'])).toEqual([{ id: 'nine' }, undefined]);
  });

  it('runs: a store written before the run indexes is indexed once, as before', async () => {
    const store = await backend.open();
    const runs = createRepos(store).runs;
    await store.commit([
      runOps.header(header('r_1')),
      runOps.stepRow('r_1', 0, { path: 'a', state: {} as never }),
      runOps.header(header('r_2', { status: 'failed', ended_at: '2026-01-01T00:00:03.000Z' })),
    ]);
    const summary = await runs.migrateIndex(pino({ level: 'silent' }));
    expect(summary?.finished).toEqual({ succeeded: 0, failed: 1, cancelled: 0 });
    expect(Object.keys(await raw(store, 'active'))).toEqual(['r_1']);
    expect(Object.keys(await raw(store, 'ended'))).toEqual(['2026-01-01T00:00:03.000Z|r_2']);
    expect(Object.keys(await raw(store, 'meta'))).toEqual(['runs:index', 'runs:summary']);
    expect(await runs.migrateIndex(pino({ level: 'silent' }))).toBeNull();
  });

  it('outbox: ids, pending index, run links and incidents keep their keys', async () => {
    const store = await backend.open();
    const outbox = createRepos(store).outbox;
    const a = notificationId(1_700_000_000_000, 1, 'r_1');
    const b = notificationId(1_700_000_000_001, 36, 'r_1');
    const c = notificationId(1_700_000_000_002, 2, null);
    expect([a, b, c]).toEqual(['001700000000000-000001-r_1', '001700000000001-000010-r_1', '001700000000002-000002-daemon']);
    await store.commit([
      outboxOps.put(note(a, 'r_1', true)),
      outboxOps.pending(a, 1),
      outboxOps.ofRun('r_1', a),
      outboxOps.put(note(b, 'r_1', false)),
      outboxOps.ofRun('r_1', b),
      outboxOps.put(note(c, null, true)),
      outboxOps.pending(c, 'exec-a'),
      outboxOps.pdOpen('pd', 'wf:svc:with:colons'),
    ]);
    expect(Object.keys(await raw(store, 'outbox'))).toEqual([a, b, c]);
    expect(await raw(store, 'meta')).toEqual({ [`npend:${a}`]: 1, [`npend:${c}`]: 'exec-a', [`nrun:r_1:${a}`]: 1, [`nrun:r_1:${b}`]: 1, 'pd_open:pd:wf:svc:with:colons': 1 });
    expect(await outbox.pending()).toEqual([[a, 1], [c, 'exec-a']]);
    expect(await outbox.pdOpen()).toEqual([['pd', 'wf:svc:with:colons']]);
    expect(await outbox.idsOfRun('r_1', 10)).toEqual([b, a]);
    expect(await outbox.idsOfRun('r_1', 10, b)).toEqual([a]);
    expect((await outbox.newest(2)).map((n) => n.id)).toEqual([c, b]);
    expect((await outbox.newest(5, c)).map((n) => n.id)).toEqual([b, a]);
    const before: string[] = [];
    for await (const rows of outbox.before(1_700_000_000_002, 10)) before.push(...rows.map(([k]) => k));
    expect(before).toEqual([a, b]);
    const removal = await outbox.removeOfRun('r_1');
    expect(removal.removed.map((r) => r.id)).toEqual([a, b]);
    await store.commit([...removal.ops, outboxOps.pdClosed('pd', 'wf:svc:with:colons')]);
    expect(Object.keys(await raw(store, 'outbox'))).toEqual([c]);
    expect(Object.keys(await raw(store, 'meta'))).toEqual([`npend:${c}`]);
  });

  it('outbox: an outbox written before the pending index is indexed once', async () => {
    const store = await backend.open();
    const outbox = createRepos(store).outbox;
    await store.commit([outboxOps.put(note('001', null, true)), outboxOps.put(note('002', null, false))]);
    await outbox.indexPending();
    expect(Object.keys(await raw(store, 'meta'))).toEqual(['npend:001', 'outbox:pending-index']);
    await store.commit([outboxOps.notPending('001')]);
    await outbox.indexPending();
    expect(Object.keys(await raw(store, 'meta'))).toEqual(['outbox:pending-index']);
  });

  it('memory: summaries, vectors, conversations, replays and user keys share the sublevel as before', async () => {
    const store = await backend.open();
    const memory = createRepos(store).memory;
    await store.commit([
      memoryOps.summary('r_1', { id: 'r_1' }),
      memoryOps.vector('r_1', { model: 'm', dim: 2, v: [0.5, 0.5] }),
      memoryOps.conversation('r_1', { turns: [] }),
      memoryOps.user('team/oncall', { value: 'ana', updated_at: 'now' }),
      memoryOps.user('team/zed', { value: 1, updated_at: 'now' }),
    ]);
    const r1 = await memory.nextReplay('r_1', { n: 1 });
    await store.commit([r1.op]);
    const r2 = await memory.nextReplay('r_1', { n: 2 });
    await store.commit([r2.op]);
    expect([r1.id, r2.id]).toEqual(['replay:r_1:1', 'replay:r_1:2']);
    expect(Object.keys(await raw(store, 'memory'))).toEqual(['conv:r_1', 'replay:r_1:1', 'replay:r_1:2', 'sum:r_1', 'team/oncall', 'team/zed', 'vec:r_1']);
    expect(await memory.summaries()).toEqual([{ id: 'r_1' }]);
    expect(await memory.vectors()).toEqual([['r_1', { model: 'm', dim: 2, v: [0.5, 0.5] }]]);
    expect((await memory.users('team/', 1)).map(([k]) => k)).toEqual(['team/oncall']);
    expect(runIdOfSummaryKey('sum:r_1')).toBe('r_1');
    expect(runIdOfSummaryKey('vec:r_1')).toBeNull();
    await store.commit([...(await memory.removeOfRun('r_1')), ...memoryOps.forget('r_1')]);
    expect(Object.keys(await raw(store, 'memory'))).toEqual(['team/oncall', 'team/zed']);
  });

  it('audit: time-ordered keys, newest first, bounded by time and paged by cursor', async () => {
    const store = await backend.open();
    const audit = createRepos(store).audit;
    const op = auditOp({ actor: 'local:me', action: 'x', target: 't' }, 7, 'exec-a');
    expect(op.key).toMatch(/^\d{15}-000007-exec-a$/);
    await store.commit([
      { type: 'put', sub: 'audit', key: '000000000001000-000001', value: { at: 'a', actor: 'a', action: '1', target: '' } },
      { type: 'put', sub: 'audit', key: '000000000002000-000002', value: { at: 'b', actor: 'a', action: '2', target: '' } },
      { type: 'put', sub: 'audit', key: '000000000003000-000003', value: { at: 'c', actor: 'a', action: '3', target: '' } },
    ]);
    const first = await audit.newest(null, 2);
    expect(first.map((r) => r.entry.action)).toEqual(['3', '2']);
    expect((await audit.newest(null, 2, first[1].cursor)).map((r) => r.entry.action)).toEqual(['1']);
    expect((await audit.newest(2000, 10)).map((r) => r.entry.action)).toEqual(['3', '2']);
    const old: string[] = [];
    for await (const rows of audit.before(2500, 10)) old.push(...rows.map(([k]) => k));
    expect(old).toEqual(['000000000001000-000001', '000000000002000-000002']);
  });

  it('feed, cache, schedules: cursor-ordered rows and their keys', async () => {
    const store = await backend.open();
    const repos = createRepos(store);
    expect(await repos.feed.bounds()).toBeNull();
    await store.commit([repos.feed.putOp(9, { n: 9 }), repos.feed.putOp(10, { n: 10 }), repos.feed.putOp(200, { n: 200 }), repos.schedules.putOp('wf', { paused: true })]);
    expect(Object.keys(await raw(store, 'feed'))).toEqual(['000000000000009', '000000000000010', '000000000000200']);
    expect(await repos.feed.bounds()).toEqual({ first: 9, last: 200 });
    expect(await repos.feed.rows(9, 200, 10)).toEqual([[10, { n: 10 }], [200, { n: 200 }]]);
    expect(await repos.feed.before(200, 10)).toEqual([9, 10]);
    expect(await raw(store, 'schedules')).toEqual({ wf: { paused: true } });
    await repos.cache.put('srv', 'tool', 'abc', { stored_at: 1 });
    expect(await raw(store, 'cache')).toEqual({ 'tool:srv:tool:abc': { stored_at: 1 } });
    expect(await repos.cache.get('srv', 'tool', 'abc')).toEqual({ stored_at: 1 });
    await repos.cache.del('srv', 'tool', 'abc');
    expect(await raw(store, 'cache')).toEqual({});
  });

  it('chat state and stats: meta rows under the prefixes the bridges always used', async () => {
    const store = await backend.open();
    const { chat, stats } = createRepos(store);
    await store.commit([
      chat.slackThreads.putOp(chatIds.slackThread('r_1', 'C1'), { run: 'r_1' }),
      chat.slackTs.putOp(chatIds.slackTs('C1', '1.2'), 'r_1'),
      chat.slackWaits.putOp(chatIds.slackWait('r_1', 4), { run: 'r_1' }),
      chat.slackCharts.putOp(chatIds.chart('r_1', '1.2'), 'n1'),
      chat.batchedOf('discord').putOp('001-x', 'receipt'),
      chat.slackSent.putOp('001-x', { ts: '1' }),
      chat.slackSent.putOp('009-x', { ts: '2' }),
      chat.discordInteractions.putOp('m5', { at: 'now' }),
      chat.discordStarts.putOp('k', { at: 'now' }),
      chat.discordThreads.putOp('r_1', { run: 'r_1' }),
      chat.slackCommands.putOp('T1', { at: 'now' }),
      chat.slackPrefs.putOp('U1', { quiet: true }),
      chat.slackInbox.putOp('env1', { type: 'interactive' }),
      stats.runHourOp('2026-01-01T00', null, { wf: 1 }),
      stats.runHourOp('2026-01-01T00', 'exec-b', { wf: 2 }),
      stats.waitOp('r_1', 500),
      stats.backfilledOp(3),
    ]);
    await stats.saveLoose(null, { h: 1 });
    await stats.saveLoose('exec-b', { h: 2 });
    await stats.saveToolStats([{ tool: 't' }]);
    expect(Object.keys(await raw(store, 'meta'))).toEqual([
      'discord_batched:001-x', 'discord_ix:m5', 'discord_start:k', 'discord_thread:r_1',
      'slack_chart:r_1:1.2', 'slack_cmd:T1', 'slack_inbox:env1', 'slack_prefs:U1', 'slack_sent:001-x', 'slack_sent:009-x',
      'slack_thread:r_1:C1', 'slack_ts:C1:1.2', 'slack_wait:r_1:000000004',
      'stats:h:2026-01-01T00', 'stats:h:2026-01-01T00@exec-b', 'stats:loose', 'stats:loose@exec-b', 'stats:v1', 'stats:wait:r_1', 'tools.stats',
    ]);
    expect(await chat.slackSent.entries('', '005')).toEqual([['001-x', { ts: '1' }]]);
    expect(await chat.slackThreads.entries(chatIds.ofRun('r_1'))).toEqual([['r_1:C1', { run: 'r_1' }]]);
    expect(await chat.slackWaits.ids(chatIds.ofRun('r_1'))).toEqual(['r_1:000000004']);
    expect(await chat.discordInteractions.has('m5')).toBe(true);
    expect(await chat.discordInteractions.has('m6')).toBe(false);
    expect(await stats.runHours()).toEqual([['2026-01-01T00', '', { wf: 1 }], ['2026-01-01T00', 'exec-b', { wf: 2 }]]);
    expect(await stats.waits()).toEqual([['r_1', 500]]);
    expect(await stats.loose(null)).toEqual({ h: 1 });
    expect(await stats.othersLoose(null)).toEqual([{ h: 2 }]);
    expect(await stats.othersLoose('exec-b')).toEqual([]);
    expect(await stats.backfilled()).toBe(true);
    expect(await stats.toolStats()).toEqual([{ tool: 't' }]);
  });
});

describe.each(backends)('RunsRepo.activeCounts on $name', ({ open: openStore }) => {
  it('counts the indexed active runs by status and workflow, from their headers; a run that ended is not counted', async () => {
    const store = await openStore();
    const { runs } = createRepos(store);
    const header = (id: string, workflow: string, status: string): RunHeader => ({ id, workflow, status, seq: 1, created_at: `2026-12-05T00:00:0${id.slice(-1)}.000Z`, params: {} }) as unknown as RunHeader;
    const made: [string, string, string][] = [
      ['run_1', 'watch', 'waiting'],
      ['run_2', 'watch', 'waiting'],
      ['run_3', 'watch', 'running'],
      ['run_4', 'profile', 'waiting'],
      ['run_5', 'profile', 'paused'],
    ];
    const ops: StoreOp[] = [];
    for (const [id, wf, st] of made) ops.push(runOps.header(header(id, wf, st)), ...runOps.created(header(id, wf, st)));
    // run_6 ended: its header stays, the active index no longer lists it
    const ended = { ...header('run_6', 'watch', 'succeeded'), ended_at: '2026-12-05T00:01:00.000Z' } as RunHeader;
    ops.push(runOps.header(ended), ...runOps.created(ended), ...runOps.finished(ended));
    // a step row beside a header is not a run
    ops.push(runOps.stepRow('run_1', 0, { path: 'a', state: { status: 'succeeded' } as never }));
    await store.commit(ops);
    const got = (await runs.activeCounts()).sort((a, b) => `${a.workflow}${a.status}`.localeCompare(`${b.workflow}${b.status}`));
    expect(got).toEqual([
      { status: 'paused', workflow: 'profile', n: 1 },
      { status: 'waiting', workflow: 'profile', n: 1 },
      { status: 'running', workflow: 'watch', n: 1 },
      { status: 'waiting', workflow: 'watch', n: 2 },
    ]);
    // on PostgreSQL the server counts (KvStore.sql); on LevelDB the headers are read
    expect(Boolean(store.sql)).toBe(store instanceof PgStore);
  });
});
