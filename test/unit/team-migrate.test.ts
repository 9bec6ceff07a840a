import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PgStore } from '../../src/daemon/store/pg-store.js';
import { SUBLEVELS, Store, type StoreOp, type SublevelName } from '../../src/daemon/store/store.js';
import { migrateToTeam } from '../../src/daemon/team/migrate.js';
import { startTestPostgres, type TestPostgres } from '../support/pg.js';

let server: TestPostgres;
const dirs: string[] = [];
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  server = await startTestPostgres();
});
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
afterAll(async () => {
  await server?.stop();
});

const put = (sub: SublevelName, key: string, value: unknown): StoreOp => ({ type: 'put', sub, key, value });

/** A solo store with the shapes the daemon writes: run headers and step rows, events, run indexes, memory, schedules, outbox, audit, feed. */
async function soloStore(runs: string[], extra: StoreOp[] = []): Promise<{ dir: string; store: Store }> {
  const d = mkdtempSync(join(tmpdir(), 'ops-mig-'));
  dirs.push(d);
  const dir = join(d, 'db');
  const store = await Store.open(dir);
  closers.push(() => store.close());
  const ops: StoreOp[] = [];
  runs.forEach((id, i) => {
    const created = `2026-12-0${1 + (i % 3)}T10:00:0${i % 10}.000Z`;
    const done = i % 2 === 0;
    ops.push(put('runs', id, { id, workflow: 'slo-watch', status: done ? 'completed' : 'waiting', created_at: created, vars: { 'é ✓': 'x"y', n: 1.5, list: [null, true] } }));
    for (let s = 0; s < 3; s++) ops.push(put('runs', `${id}/step/${s.toString(36).padStart(4, '0')}`, { ord: s, output: { text: `step ${s} of ${id}` } }));
    for (let e = 1; e <= 4; e++) ops.push(put('events', `${id}:${e.toString().padStart(9, '0')}`, { seq: e, type: 'step.completed', at: created }));
    ops.push(put('created', `${created}|${id}`, 1));
    if (done) ops.push(put('ended', `${created}|${id}`, 1));
    else ops.push(put('active', id, { workflow: 'slo-watch' }));
  });
  ops.push(put('memory', 'sum:checkout-latency', { text: 'p99 rose after deploy 4711', vec: [0.1, -0.25, 3e-7] }));
  ops.push(put('memory', 'conv:U123|0001', { role: 'user', text: '日本語 ok' }));
  ops.push(put('schedules', 'slo-watch', { cron: '*/5 * * * *', workflow: 'slo-watch', enabled: true }));
  ops.push(put('outbox', '000000000000001|slack', { channel: 'slack', text: 'approve?' }));
  ops.push(put('meta', 'runs:summary', { total: runs.length }));
  for (let f = 1; f <= 5; f++) ops.push(put('feed', f.toString().padStart(15, '0'), { topic: 'runs', event: 'step', ref: runs[0] }));
  await store.commit([...ops, ...extra], { actor: 'cli:me', action: 'workflow.run', target: runs[0] });
  return { dir, store };
}

/** Every row of the LevelDB directory as raw bytes (the JSON text on disk), per sublevel. */
async function rawRows(dir: string): Promise<Map<SublevelName, Map<string, string>>> {
  const raw = new Level<string, string>(dir, { valueEncoding: 'utf8' });
  await raw.open();
  const out = new Map<SublevelName, Map<string, string>>(SUBLEVELS.map((s) => [s, new Map()]));
  for (const [k, v] of await raw.iterator().all()) {
    const m = /^!([a-z]+)!(.*)$/s.exec(k)!;
    out.get(m[1] as SublevelName)!.set(m[2], v);
  }
  await raw.close();
  return out;
}

async function tableRows(url: string): Promise<Map<SublevelName, Map<string, string>>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const out = new Map<SublevelName, Map<string, string>>();
    for (const s of SUBLEVELS) out.set(s, new Map((await c.query<{ key: string; value: string }>(`SELECT key, value FROM opstream.kv_${s}`)).rows.map((r) => [r.key, r.value])));
    return out;
  } finally {
    await c.end();
  }
}

async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(text, values)).rows;
  } finally {
    await c.end();
  }
}

describe('migrateToTeam', () => {
  it('copies a solo store byte for byte (but the feed), registers its unfinished runs, and a second run copies nothing', async () => {
    const runs = Array.from({ length: 1203 }, (_, i) => `r_${i.toString(36).padStart(8, '0')}`);
    const { dir, store } = await soloStore(runs);
    const url = await server.database('mig');
    const team = await PgStore.open(url, { executorId: 'exec-a' });
    closers.push(() => team.close());

    const first = await migrateToTeam(store, team, { executorId: 'exec-a', homeId: 'home-1' });
    const unfinished = runs.filter((_, i) => i % 2 === 1);
    expect(first.activeRuns).toEqual([...unfinished].sort());
    expect(first.copied.runs).toBe(runs.length * 4); // header + 3 step rows: more than one page
    expect(first.copied.events).toBe(runs.length * 4);
    expect(first.copied).toMatchObject({ active: unfinished.length, created: runs.length, ended: runs.length - unfinished.length, memory: 2, schedules: 1, outbox: 1, audit: 1, feed: 0 });
    expect(first.skipped).toEqual(Object.fromEntries(SUBLEVELS.map((s) => [s, s === 'feed' ? 5 : 0])));

    // the second run: nothing copied, everything skipped, nothing the team changed meanwhile overwritten
    await team.commit([put('memory', 'sum:checkout-latency', { text: 'edited by the team' })]);
    await sql(url, `UPDATE opstream.run_owner SET executor = 'exec-b', epoch = 1 WHERE run_id = $1`, [unfinished[0]]);
    const second = await migrateToTeam(store, team, { executorId: 'exec-a', homeId: 'home-1' });
    expect(Object.values(second.copied).every((n) => n === 0)).toBe(true);
    for (const s of SUBLEVELS) expect(second.skipped[s]).toBe(s === 'feed' ? 5 : first.copied[s]);
    // a run a daemon of the team already hosts is not handed out again
    expect(second.activeRuns).toEqual([...unfinished].sort().filter((r) => r !== unfinished[0]));
    expect(await team.get('memory', 'sum:checkout-latency')).toEqual({ text: 'edited by the team' });

    await store.close();
    const solo = await rawRows(dir);
    const pgRows = await tableRows(url);
    for (const s of SUBLEVELS) {
      const want = solo.get(s)!;
      const got = pgRows.get(s)!;
      if (s === 'feed') {
        expect(want.size).toBe(5);
        expect(got.size).toBe(0);
        continue;
      }
      if (s === 'meta') got.delete('team:migrated:home-1');
      if (s === 'memory') got.set('sum:checkout-latency', want.get('sum:checkout-latency')!); // edited above on purpose
      // audit keys get the home id, so two homes' entries of one millisecond both stay
      // and the solo summary of finished runs joins the team's as one more member's (engine.ts summaryKey)
      const wantKeys = s === 'audit' ? new Map([...want].map(([k, v]) => [`${k}-home-1`, v])) : s === 'meta' ? new Map([...want].map(([k, v]) => [k === 'runs:summary' ? 'runs:summary@migrated:home-1' : k, v])) : want;
      expect(got.size).toBe(wantKeys.size);
      for (const [k, v] of wantKeys) expect(got.get(k)).toBe(v);
    }
    const owners = await sql<{ run_id: string; executor: string | null; epoch: string }>(url, 'SELECT run_id, executor, epoch FROM opstream.run_owner ORDER BY run_id');
    expect(owners.length).toBe(unfinished.length);
    expect(owners.filter((o) => o.executor === null && o.epoch === '0').length).toBe(unfinished.length - 1);
    const marker = await team.get<{ by: string; copied: Record<string, number>; active_runs: number }>('meta', 'team:migrated:home-1');
    expect(marker).toMatchObject({ by: 'exec-a', active_runs: unfinished.length });
    expect(Object.values(marker!.copied).every((n) => n === 0)).toBe(true); // the second run's
  });

  it('two homes into one team: their rows join, a key both hold is kept as the first wrote it and reported skipped', async () => {
    const url = await server.database('mig2');
    const team = await PgStore.open(url, { executorId: 'exec-a' });
    closers.push(() => team.close());
    const sameAudit = put('audit', '001764000000000-000000', { at: '2026-12-04T00:00:00.000Z', actor: 'x', action: 'y', target: 'z' });
    const a = await soloStore(['r_aaaaaaa1', 'r_aaaaaaa2'], [sameAudit, put('schedules', 'nightly', { owner: 'a' })]);
    const b = await soloStore(['r_bbbbbbb1'], [sameAudit, put('schedules', 'nightly', { owner: 'b' })]);
    const ra = await migrateToTeam(a.store, team, { executorId: 'exec-a', homeId: 'home-a' });
    const rb = await migrateToTeam(b.store, team, { executorId: 'exec-b', homeId: 'home-b' });
    expect(ra.activeRuns).toEqual(['r_aaaaaaa2']);
    expect(rb.activeRuns).toEqual([]);
    expect(await team.keys('runs', { lt: 'r_c' })).toHaveLength(12);
    expect(await team.get('schedules', 'nightly')).toEqual({ owner: 'a' });
    expect(rb.skipped.schedules).toBe(2); // 'slo-watch' and 'nightly', both there already
    expect(rb.copied.audit).toBe(2);
    expect(await team.keys('audit')).toHaveLength(4);
    expect(await team.keys('meta', { gte: 'team:migrated:', lt: 'team:migrated:~' })).toEqual(['team:migrated:home-a', 'team:migrated:home-b']);
  });
});
