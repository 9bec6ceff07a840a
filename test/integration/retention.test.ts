import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/client.js';
import { loadConfig } from '../../src/config/load.js';
import { resolvePaths } from '../../src/config/paths.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon/main.js';
import { Store, type StoreOp } from '../../src/daemon/store/store.js';
import { kill9 } from '../support/engine-fixtures.js';
import { cli, tempHome, waitFor, waitGone, type TempHome } from '../support/home.js';

// Cost that does not grow with history, and retention. Stores are seeded in the layout the engine
// wrote before the run indexes existed (headers, step rows, events, outbox, memory, audit, cache),
// with chosen timestamps, so each rule's effect is exact; the daemon migrates them once at start.

const DAY = 86_400_000;
const NOW = Date.now();
const iso = (ms: number): string => new Date(ms).toISOString();
const pad = (n: number): string => n.toString().padStart(15, '0');

const GATE = `id: gate
steps:
  - id: ask
    approval: { prompt: "Go on?" }
`;
const GATE_DEF = { id: 'gate', params: {}, steps: [{ id: 'ask', approval: { prompt: 'Go on?' } }] };

interface SeedRun {
  id: string;
  status: 'succeeded' | 'failed' | 'cancelled' | 'waiting';
  /** When it was created; a finished run ended an hour later. */
  created: number;
  events?: number;
  notifications?: number;
  conversation?: boolean;
}

function header(r: SeedRun): Record<string, unknown> {
  const finished = r.status !== 'waiting';
  return {
    id: r.id,
    workflow: 'gate',
    def_hash: 'seedgate',
    status: r.status,
    params: {},
    created_at: iso(r.created),
    started_at: iso(r.created),
    ended_at: finished ? iso(r.created + 3_600_000) : null,
    current_step: finished ? null : 'ask',
    waiting_for: finished ? null : { kind: 'approval', step: 'ask', prompt: 'Go on?', until: null },
    usage: { prompt_tokens: 0, completion_tokens: 0, tool_calls: 0 },
    error: r.status === 'failed' ? 'it failed' : null,
    trigger: 'cli',
    actor: 'cli:seed',
    seq: r.events ?? 2,
    pause_requested: false,
    pause_reason: null,
    budget_grants: 0,
    timeout_at: null,
    scheduled_for: null,
    catch_up: false,
  };
}

/** Writes runs (and their rows) as the engine did before the run indexes: no index entries. */
async function seed(home: string, runs: SeedRun[], extra: StoreOp[] = []): Promise<void> {
  const store = await Store.open(join(home, 'data', 'db'));
  let ops: StoreOp[] = [{ type: 'put', sub: 'meta', key: 'wfdef:seedgate', value: GATE_DEF }, ...extra];
  let seq = 0;
  for (const r of runs) {
    const h = header(r);
    ops.push({ type: 'put', sub: 'runs', key: r.id, value: h });
    ops.push({ type: 'put', sub: 'runs', key: `${r.id}/step/000000`, value: { path: 'ask', state: { status: r.status === 'waiting' ? 'waiting' : 'succeeded', attempts: 1, started_at: h.created_at, ended_at: h.ended_at, output: null, error: null } } });
    for (let s = 1; s <= (r.events ?? 2); s++) ops.push({ type: 'put', sub: 'events', key: `${r.id}:${s.toString().padStart(9, '0')}`, value: { seq: s, at: iso(r.created + s), run_id: r.id, type: s === 1 ? 'run.created' : 'step.started', step: 'ask' } });
    for (let n = 0; n < (r.notifications ?? 0); n++) {
      const id = `${pad(r.created + n)}-${(++seq).toString(36).padStart(6, '0')}-${r.id}`;
      ops.push({ type: 'put', sub: 'outbox', key: id, value: notification(id, r.created + n, r.id) });
      ops.push({ type: 'put', sub: 'meta', key: `nrun:${r.id}:${id}`, value: 1 });
    }
    if (r.conversation) ops.push({ type: 'put', sub: 'memory', key: `conv:${r.id}`, value: { turns: [{ q: 'why?', a: 'because', at: iso(r.created), by: 'cli:seed', prompt_tokens: 1, completion_tokens: 1 }] } });
    if (ops.length > 2000) {
      await store.commit(ops);
      ops = [];
    }
  }
  await store.commit(ops);
  await store.close();
}

function notification(id: string, at: number, run: string | null): Record<string, unknown> {
  return { id, at: iso(at), run_id: run, workflow: run ? 'gate' : null, step: null, kind: 'notify', level: 'info', title: 't', text: 'x', channels: { terminal: { state: 'sent', attempts: 1, sent_at: iso(at), receipt: null, last_error: null, next_at: null } }, data: {} };
}

function finished(prefix: string, n: number, created: number): SeedRun[] {
  return Array.from({ length: n }, (_, i) => ({ id: `r_${prefix}${i.toString(36).padStart(5, '0')}`, status: (['succeeded', 'failed', 'cancelled'] as const)[i % 3], created: created + i }));
}

async function inProcess(h: TempHome): Promise<RunningDaemon> {
  const o = await startDaemon(h.env);
  if (o.kind !== 'started') throw new Error('a daemon is already running in this home');
  return o.daemon;
}

async function storeKeys(home: string, sub: 'active' | 'created' | 'ended' | 'runs' | 'events' | 'outbox' | 'audit' | 'cache' | 'memory' | 'meta'): Promise<string[]> {
  const store = await Store.open(join(home, 'data', 'db'));
  try {
    return await store.keys(sub);
  } finally {
    await store.close();
  }
}

function writeGate(h: TempHome): void {
  mkdirSync(join(h.home, 'workflows'), { recursive: true });
  writeFileSync(join(h.home, 'workflows', 'gate.yaml'), GATE);
}

describe('history: run indexes, paged listing, retention', () => {
  let h: TempHome | null = null;
  let h2: TempHome | null = null;
  let d: RunningDaemon | null = null;
  let client: DaemonClient | null = null;

  afterEach(async () => {
    client?.close();
    client = null;
    // an in-process daemon stops before cleanup, which would otherwise signal this process
    await d?.stop();
    d = null;
    for (const x of [h, h2]) await x?.cleanup();
    h = h2 = null;
  });

  it('migrates a store without the index once; start and list then read only active runs and the page, whatever the history', async () => {
    const reads: Record<string, number>[] = [];
    const listReads: Record<string, number>[] = [];
    for (const [i, n] of [100, 1500].entries()) {
      const home = tempHome('ops-hist-');
      if (i === 0) h = home;
      else h2 = home;
      writeGate(home);
      await seed(home.home, [...finished('f', n, NOW - 10 * DAY), { id: 'r_active01', status: 'waiting', created: NOW - DAY }, { id: 'r_active02', status: 'waiting', created: NOW - 2 * DAY }]);
      d = await inProcess(home);
      // the one full scan, recorded
      expect(await d.ctx.store.get('meta', 'runs:index')).toMatchObject({ runs: n + 2 });
      expect(d.ctx.engine.figures.loaded).toBe(2);
      const counts = await d.ctx.runCounts();
      expect(counts.waiting).toBe(2);
      expect(counts.succeeded + counts.failed + counts.cancelled).toBe(n);
      await d.stop();

      // second start: the index is there, no scan
      d = await inProcess(home);
      reads.push({ ...d.ctx.store.reads });
      expect(d.ctx.engine.figures.loaded).toBe(2);
      expect((await d.ctx.runCounts()).succeeded).toBe(Math.ceil(n / 3));
      client = await DaemonClient.connect({ env: home.env, client: 'test', autoStart: false });
      const before = { ...d.ctx.store.reads };
      const active = await client.request('runs.list', { all: false, limit: 200 });
      expect(active.runs.map((r) => r.id)).toEqual(['r_active01', 'r_active02']);
      const page = await client.request('runs.list', { all: true, limit: 50 });
      expect(page.runs).toHaveLength(50);
      expect(page.total).toBe(n + 2);
      expect(page.next).not.toBeNull();
      listReads.push(Object.fromEntries(Object.entries(d.ctx.store.reads).map(([k, v]) => [k, v - before[k as keyof typeof before]])));
      client.close();
      client = null;
      await d.stop();
      d = null;
    }
    // start: 2 headers + their step rows, no events, no finished run; the same with 15x the history
    expect(reads[0].runs).toBe(4);
    expect(reads[0].events).toBe(0);
    const pick = (r: Record<string, number>): Record<string, number> => ({ runs: r.runs, events: r.events, active: r.active, created: r.created, ended: r.ended, outbox: r.outbox });
    expect(pick(reads[1])).toEqual(pick(reads[0]));
    // a page of 50: 51 index entries (one says there is more), 48 finished headers (2 runs are live), no steps or events
    expect(listReads[0]).toMatchObject({ created: 51, runs: 48, events: 0 });
    expect(listReads[1]).toEqual(listReads[0]);
  });

  it('keeps the active index right across start, finish, cancel and kill -9 (child daemon)', async () => {
    h = tempHome('ops-hidx-');
    writeGate(h);
    // the daemon is a child process (started by the client), so kill -9 is real
    const connect = (): Promise<DaemonClient> => DaemonClient.connect({ env: h!.env, client: 'test' });
    client = await connect();
    const start = async (): Promise<string> => (await client!.request('runs.start', { workflow: 'gate', args: [] })).id;
    const a = await start();
    const b = await start();
    const c = await start();
    await client.request('runs.cancel', { id: b });
    // approved, then the daemon is killed: the run may be mid-way; after the restart it finishes
    await waitFor(async () => (await client!.request('runs.get', { id: a })).status === 'waiting', { what: `${a} to wait for its approval` });
    await client.request('runs.approve', { id: a });
    await waitGone(kill9(h));
    client.close();
    client = await connect(); // starts a new daemon
    const e = await start();
    await waitFor(async () => (await client!.request('runs.get', { id: a })).status === 'succeeded', { what: `${a} to succeed after the restart` });
    const list = (await client.request('runs.list', { all: false, limit: 200 })).runs.map((r) => r.id);
    expect(new Set(list)).toEqual(new Set([c, e]));
    await waitFor(async () => (await client!.request('runs.get', { id: e })).status === 'waiting', { what: `${e} to wait for its approval` });
    await waitGone(kill9(h));
    client.close();
    client = null;
    // what the store holds, read directly
    expect(new Set(await storeKeys(h.home, 'active'))).toEqual(new Set([c, e]));
    expect((await storeKeys(h.home, 'ended')).map((k) => k.split('|')[1]).sort()).toEqual([a, b].sort());
    expect((await storeKeys(h.home, 'created')).map((k) => k.split('|')[1])).toEqual([a, b, c, e]);
    // and a restart after the kill finds the same active runs
    const again = JSON.parse((await cli(['list', '--all', '--json'], h.env)).stdout);
    expect(again.map((r: { id: string }) => r.id)).toEqual([e, c, b, a]);
    expect(again.map((r: { status: string }) => r.status)).toEqual(['waiting', 'waiting', 'cancelled', 'succeeded']);
  });

  it('pages list --all newest first with no run skipped or repeated while runs are added', async () => {
    h = tempHome('ops-hpage-');
    writeGate(h);
    await seed(h.home, finished('p', 400, NOW - 5 * DAY));
    d = await inProcess(h);
    client = await DaemonClient.connect({ env: h.env, client: 'test', autoStart: false });
    const seen: string[] = [];
    const added: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const r = await client.request('runs.list', { all: true, limit: 37, cursor });
      seen.push(...r.runs.map((x) => x.id));
      // a new run between pages: it is newer than every page already read, so it is not on a later one
      added.push((await client.request('runs.start', { workflow: 'gate', args: [] })).id);
      if (!r.next) break;
      cursor = r.next;
    }
    expect(seen).toHaveLength(400);
    expect(new Set(seen).size).toBe(400);
    expect(seen).toEqual(finished('p', 400, 0).map((r) => r.id).reverse());
    expect(seen.some((id) => added.includes(id))).toBe(false);

    // the CLI: every run (one JSON document), --limit, and the table's header once
    const all = await cli(['list', '--all', '--json'], h.env);
    expect(all.code, all.stderr).toBe(0);
    const ids = JSON.parse(all.stdout).map((r: { id: string }) => r.id);
    expect(ids).toHaveLength(400 + added.length);
    expect(ids.slice(0, added.length)).toEqual([...added].reverse());
    const some = await cli(['list', '--all', '--limit', '3'], h.env);
    expect(some.stdout.trim().split('\n')).toHaveLength(4);
    // a filter naming no workflow is a one-line error (with the nearest names), not an empty page
    const wf = await cli(['list', '--all', '--workflow', 'nope', '--json'], h.env);
    expect(wf.code).not.toBe(0);
    expect(wf.stdout).toBe('');
    expect(wf.stderr.trim().split('\n')).toHaveLength(1);
    expect(wf.stderr).toMatch(/nope/);
  });

  it('applies each retention rule exactly, never to active runs nor without a rule; gc --dry-run changes nothing', async () => {
    h = tempHome('ops-hret-');
    writeGate(h);
    const runs: SeedRun[] = [
      { id: 'r_old00001', status: 'succeeded', created: NOW - 100 * DAY, events: 3, notifications: 2, conversation: true },
      { id: 'r_old00002', status: 'failed', created: NOW - 95 * DAY, events: 3, notifications: 1 },
      { id: 'r_mid00001', status: 'succeeded', created: NOW - 10 * DAY, events: 4 },
      { id: 'r_new00001', status: 'cancelled', created: NOW - DAY, events: 2 },
      // active since long ago: no rule touches it or its events
      { id: 'r_liv00001', status: 'waiting', created: NOW - 200 * DAY, events: 5, notifications: 1 },
    ];
    const extra: StoreOp[] = [
      { type: 'put', sub: 'outbox', key: `${pad(NOW - 40 * DAY)}-0000zz-daemon`, value: notification(`${pad(NOW - 40 * DAY)}-0000zz-daemon`, NOW - 40 * DAY, null) },
      { type: 'put', sub: 'audit', key: `${pad(NOW - 400 * DAY)}-000001`, value: { at: iso(NOW - 400 * DAY), actor: 'cli:seed', action: 'runs.start', target: 'run:r_old00001' } },
      { type: 'put', sub: 'audit', key: `${pad(NOW - 2 * DAY)}-000001`, value: { at: iso(NOW - 2 * DAY), actor: 'cli:seed', action: 'runs.start', target: 'run:r_new00001' } },
      // the runs.watch replay buffer: rows pointing at events and a notification
      ...(['r_old00001:000000001', 'r_old00001:000000002', 'r_liv00001:000000001', 'r_mid00001:000000001'].map((ref, i): StoreOp => ({ type: 'put', sub: 'feed', key: pad(i + 1), value: { topic: 'runs', event: 'step.started', ref, status: 'running', workflow: 'gate' } }))),
      { type: 'put', sub: 'feed', key: pad(5), value: { topic: 'notifications', event: 'notification', ref: `${pad(NOW - 40 * DAY)}-0000zz-daemon` } },
      { type: 'put', sub: 'cache', key: 'c:old', value: { stored_at: NOW - 30 * DAY, expires_at: NOW - 29 * DAY, result: { text: 'old' } } },
      { type: 'put', sub: 'cache', key: 'c:new', value: { stored_at: NOW - 60_000, expires_at: NOW + DAY, result: { text: 'new' } } },
      ...['r_old00001', 'r_new00001'].map((id, i): StoreOp => ({ type: 'put', sub: 'memory', key: `sum:${id}`, value: { id, workflow: 'gate', service: 'gate', outcome: 'succeeded', at: iso(NOW - (i === 0 ? 400 : 1) * DAY), headline: 'h', root_cause: null, findings: [], fixes: [], text: 'h' } })),
    ];
    await seed(h.home, runs, extra);
    const counts = async (): Promise<Record<string, number>> => {
      const out: Record<string, number> = {};
      for (const sub of ['runs', 'events', 'outbox', 'audit', 'cache', 'memory', 'created', 'ended', 'active', 'feed'] as const) out[sub] = (await d!.ctx.store.keys(sub)).length;
      return out;
    };
    const gc = async (...flags: string[]): Promise<{ removed: Record<string, { count: number; bytes: number }> }> => {
      const r = await cli(['gc', '--json', ...flags], h!.env);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };

    // no retention section: only the defaults that were there before (notifications 30d, memory 365d)
    d = await inProcess(h);
    const initial = await counts();
    const dry = await gc('--dry-run');
    // 4 old notifications; the active run's (200 days old) stays while it is active
    expect(Object.fromEntries(Object.entries(dry.removed).map(([k, f]) => [k, f.count]))).toEqual({ runs: 0, events: 0, notifications: 4, audit: 0, cache: 0, memory: 1, feed: 1 });
    expect(dry.removed.notifications.bytes).toBeGreaterThan(0);
    expect(await counts()).toEqual(initial);
    const human = await cli(['gc', '--dry-run'], h.env);
    expect(human.stdout).toMatch(/^dry run: 6 items would be removed/);
    expect(human.stdout).toMatch(/runs\s+no rule \(kept\)\s+0/);
    const real = await gc();
    expect(real.removed.notifications.count).toBe(4);
    // and one audit entry says so
    expect(await counts()).toEqual({ ...initial, outbox: initial.outbox - 4, memory: initial.memory - 1, audit: initial.audit + 1, feed: initial.feed - 1 });
    expect(await d.ctx.store.keys('meta', { gte: 'nrun:', lt: 'nrun:~' })).toEqual([expect.stringMatching(/^nrun:r_liv00001:/)]); // the finished runs' links went too
    await d.stop();

    // rules for every kind
    writeFileSync(join(h.home, 'config.yaml'), 'retention:\n  runs: 90d\n  events: 7d\n  audit: 365d\n  cache: 7d\n  notifications: never\n  memory: never\n');
    d = await inProcess(h);
    const before = await counts();
    const sweep = await gc();
    expect(Object.fromEntries(Object.entries(sweep.removed).map(([k, f]) => [k, f.count]))).toEqual({ runs: 2, events: 3 + 3 + 4, notifications: 0, audit: 1, cache: 1, memory: 0, feed: 3 });
    const after = await counts();
    expect(after).toMatchObject({ runs: before.runs - 4, events: before.events - 10, audit: before.audit, cache: 1, active: 1, created: 3, ended: 2, feed: 1 });
    expect(await d.ctx.store.get('feed', pad(3))).toMatchObject({ ref: 'r_liv00001:000000001' });
    expect(new Set(await d.ctx.store.keys('active'))).toEqual(new Set(['r_liv00001']));
    // the active run, 200 days old, is whole
    expect((await d.ctx.store.keys('events', { gt: 'r_liv00001:', lt: 'r_liv00001:~' })).length).toBe(5);
    expect(await d.ctx.store.get('memory', 'conv:r_old00001')).toBeUndefined();
    expect((await cli(['status', 'r_old00001'], h.env)).stderr).toMatch(/no run r_old00001/);
    // events rule: the run stays, its log says where the events went
    const mid = await cli(['status', 'r_mid00001', '--json'], h.env);
    expect(JSON.parse(mid.stdout).status).toBe('succeeded');
    expect((await cli(['logs', 'r_mid00001'], h.env)).stdout).toMatch(/events removed by the retention.events rule/);
    expect(JSON.parse((await cli(['logs', 'r_new00001', '--json'], h.env)).stdout)).toHaveLength(2);
    const listed = JSON.parse((await cli(['list', '--all', '--json'], h.env)).stdout).map((r: { id: string }) => r.id);
    expect(listed).toEqual(['r_new00001', 'r_mid00001', 'r_liv00001']);
    expect((await d.ctx.runCounts()).succeeded).toBe(1);
    // one audit entry for the sweep, with its counts
    const audit = JSON.parse((await cli(['audit', '--json'], h.env)).stdout).filter((e: { action: string }) => e.action === 'retention.sweep');
    expect(audit).toHaveLength(2);
    expect(audit[0].target).toBe('notifications 4, memory 1, feed 1');
    expect(audit[1].target).toBe('runs 2, events 10, audit 1, cache 1, feed 3');
    // a second sweep finds nothing more
    const twice = await gc();
    expect(Object.values(twice.removed).every((f) => f.count === 0)).toBe(true);
  });

  it('sweeps in the background after start, audited as policy:retention', async () => {
    h = tempHome('ops-hbg-');
    const key = `${pad(NOW - 40 * DAY)}-000001-daemon`;
    await seed(h.home, [], [{ type: 'put', sub: 'outbox', key, value: notification(key, NOW - 40 * DAY, null) }]);
    // the daemon runs in this process: it reads the knob from this process's environment
    process.env.OPSTREAM_RETENTION_DELAY_MS = '0';
    try {
      d = await inProcess(h);
    } finally {
      delete process.env.OPSTREAM_RETENTION_DELAY_MS;
    }
    const entry = await waitFor(async () => (await d!.ctx.store.entries<{ actor: string; action: string; target: string }>('audit')).find(([, e]) => e.action === 'retention.sweep')?.[1], { what: 'the background sweep' });
    expect(entry).toMatchObject({ actor: 'policy:retention', target: 'notifications 1' });
    expect(await d.ctx.store.get('outbox', key)).toBeUndefined();
  });

  it('refuses a retention rule that is not a duration, and both a rule and its old alias; the aliases still work', () => {
    h = tempHome('ops-hcfg-');
    const load = (yaml: string): ReturnType<typeof loadConfig> => {
      writeFileSync(join(h!.home, 'config.yaml'), yaml);
      return loadConfig(resolvePaths(h!.env), h!.env);
    };
    expect(() => load('retention:\n  runs: forever\n')).toThrow(/retention\.runs.*expected a duration such as 30d or 12h, or never/);
    expect(() => load('retention:\n  notifications: 10d\nnotify:\n  retention: 10d\n')).toThrow(/notify\.retention is an old name of retention\.notifications/);
    expect(load('notify:\n  retention: 10d\nmemory:\n  retention: never\n').retention).toEqual({ runs: null, events: null, notifications: 10 * DAY, audit: null, cache: null, memory: null });
    expect(load('log:\n  level: info\n').retention).toEqual({ runs: null, events: null, notifications: 30 * DAY, audit: null, cache: null, memory: 365 * DAY });
  });
});
