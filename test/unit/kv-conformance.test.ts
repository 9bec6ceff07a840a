import { type AddressInfo, type Socket, connect, createServer } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isWireError, type WireError } from '../../src/protocol/index.js';
import type { KvRange } from '../../src/daemon/store/kv.js';
import { PgStore, maskDatabaseUrl } from '../../src/daemon/store/pg-store.js';
import type { StoreOp } from '../../src/daemon/store/store.js';
import { waitFor } from '../support/home.js';
import { bothBackends } from '../support/backends.js';
import { freePort } from '../support/pg.js';

/**
 * One suite, run against both storage backends: whatever the daemon reads or commits behaves the
 * same on LevelDB (solo) and PostgreSQL (team). The expected results come from a model of
 * abstract-level's rules written here (UTF-8 byte order, `gte` over `gt`, `lte` over `lt`, a limit
 * that is not a non-negative integer means none), which the LevelDB run checks too.
 */

const { backends, server, track } = bothBackends('kv');

const bytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

// `~` sentinels, `|` and `:` separators, zero-padded and unpadded digits, upper/lower case, and
// UTF-8 where byte order and JS's UTF-16 order disagree (U+E000 sorts before an emoji in bytes)
const KEYS = [
  'a', 'aa', 'a:', 'a:b', 'a|', 'a|b', 'a|~', 'a~', 'a~b', 'b', 'B', 'Z', '0', '9', '00010', '0002', '10', '2', '~', '~~',
  '-', '_', ' ', 'a/b', 'é', 'e', 'ü', '日本', '😀', '\uE000', '\u007F', 'undefined', 'run_1|0000001', 'run_1|0000002', 'run_1~', 'run_10|0000001',
];
const SORTED = [...KEYS].sort(bytes);

function model(o: KvRange): string[] {
  const has = (k: keyof KvRange) => Object.prototype.hasOwnProperty.call(o, k);
  let r = SORTED.filter((k) => {
    if (has('gte') ? bytes(k, String(o.gte)) < 0 : has('gt') && bytes(k, String(o.gt)) <= 0) return false;
    if (has('lte') ? bytes(k, String(o.lte)) > 0 : has('lt') && bytes(k, String(o.lt)) >= 0) return false;
    return true;
  });
  if (o.reverse) r = r.reverse();
  const lim = typeof o.limit === 'number' && Number.isInteger(o.limit) && o.limit >= 0 ? o.limit : Infinity;
  return r.slice(0, lim);
}

function rangeCases(): KvRange[] {
  const probes = ['a|', 'a~', '9', '~', 'é', 'zz'];
  const lows: KvRange[] = [{}, ...probes.flatMap((p) => [{ gt: p }, { gte: p }]), { gt: 'a|', gte: 'b' }, { gt: '0', gte: '~' }, { gt: undefined }];
  const highs: KvRange[] = [{}, ...probes.flatMap((p) => [{ lt: p }, { lte: p }]), { lt: 'a|~', lte: 'a' }, { lt: '0', lte: '😀' }];
  const out: KvRange[] = [];
  for (const lo of lows)
    for (const hi of highs)
      for (const reverse of [false, true])
        for (const limit of [undefined, 0, 1, 3, -1, 2.5]) out.push({ ...lo, ...hi, ...(reverse ? { reverse } : {}), ...(limit === undefined ? {} : { limit }) });
  return out;
}

const put = (sub: StoreOp['sub'], key: string, value: unknown): StoreOp => ({ type: 'put', sub, key, value });
const del = (sub: StoreOp['sub'], key: string): StoreOp => ({ type: 'del', sub, key });

describe.each(backends)('KvStore conformance: $name', (backend) => {
  it('keeps keys in LevelDB byte order and values as written', async () => {
    const s = await backend.open();
    const value = (k: string) => ({ k, nested: { z: 1, a: [1, 'two', null, { é: '✓ "q" \u0000 \n' }] }, n: -1.5e-7, t: true });
    await s.commit(KEYS.map((k) => put('runs', k, value(k))));
    expect(await s.keys('runs')).toEqual(SORTED);
    const rows = await s.entries('runs');
    expect(rows.map(([k]) => k)).toEqual(SORTED);
    // byte-identical JSON: same text, key order included
    for (const [k, v] of rows) expect(JSON.stringify(v)).toBe(JSON.stringify(value(k)));
    expect(await s.get('runs', '日本')).toEqual(value('日本'));
    expect(await s.get('runs', 'missing')).toBeUndefined();
    // other sublevels do not see these rows
    expect(await s.keys('events')).toEqual([]);
    for (const [k, v] of [['zero', 0], ['empty', ''], ['false', false], ['list', [1, 2]], ['text', 'plain']] as const) await s.commit([put('meta', k, v)]);
    expect(await s.getMany('meta', ['zero', 'empty', 'false', 'list', 'text'])).toEqual([0, '', false, [1, 2], 'plain']);
  });

  it('answers every range option and combination as LevelDB does (entries and keys)', async () => {
    const s = await backend.open();
    await s.commit(KEYS.map((k) => put('events', k, k.length)));
    const cases = rangeCases();
    expect(cases.length).toBeGreaterThan(1000);
    const bad: string[] = [];
    for (const o of cases) {
      const want = model(o);
      const keys = await s.keys('events', o);
      const entries = await s.entries<number>('events', o);
      if (JSON.stringify(keys) !== JSON.stringify(want)) bad.push(`keys ${JSON.stringify(o)} ${Object.keys(o).join(',')}: ${JSON.stringify(keys)} != ${JSON.stringify(want)}`);
      if (JSON.stringify(entries) !== JSON.stringify(want.map((k) => [k, k.length]))) bad.push(`entries ${JSON.stringify(o)}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it('pages a range in key order, each page read after the previous page was yielded', async () => {
    const s = await backend.open();
    const keys = Array.from({ length: 25 }, (_, i) => `p|${i.toString().padStart(3, '0')}`);
    await s.commit([...keys.map((k) => put('ended', k, 1)), put('ended', 'p~', 1), put('ended', 'o', 1)]);
    const pages: string[][] = [];
    for await (const page of s.pages('ended', { gte: 'p|', lt: 'p|~' }, 7)) {
      pages.push(page.map(([k]) => k));
      // deleting what was read (as retention does) does not disturb the next page
      await s.commit(page.map(([k]) => del('ended', k)));
    }
    expect(pages.map((p) => p.length)).toEqual([7, 7, 7, 4]);
    expect(pages.flat()).toEqual(keys);
    expect(await s.keys('ended')).toEqual(['o', 'p~']);
    const after: string[] = [];
    for await (const page of s.pages('ended', { gt: 'o' }, 1)) after.push(...page.map(([k]) => k));
    expect(after).toEqual(['p~']);
  });

  it('reads many ranges at once, one result per range, in order, empty ones included', async () => {
    const s = await backend.open();
    const runs = ['r1', 'r10', 'r2', 'r3'];
    await s.commit(runs.flatMap((r) => [1, 2, 3].map((n) => put('events', `${r}:${n.toString().padStart(9, '0')}`, { r, n }))));
    const ranges = ['r1', 'r10', 'r2', 'r4', 'r3'].sort(bytes).map((r) => ({ gte: `${r}:`, lt: `${r}:~` }));
    const got = await s.ranges<{ r: string; n: number }>('events', ranges);
    expect(got.map((rows) => rows.map(([, v]) => `${v.r}.${v.n}`))).toEqual([['r1.1', 'r1.2', 'r1.3'], ['r10.1', 'r10.2', 'r10.3'], ['r2.1', 'r2.2', 'r2.3'], ['r3.1', 'r3.2', 'r3.3'], []]);
    expect(await s.ranges('events', [])).toEqual([]);
    // many small ranges (LevelDB splits them over several iterators)
    const many = Array.from({ length: 600 }, (_, i) => `m${i.toString().padStart(4, '0')}`);
    await s.commit(many.map((k) => put('timers', `${k}|a`, 1)));
    const res = await s.ranges('timers', many.map((k) => ({ gte: `${k}|`, lt: `${k}|~` })));
    expect(res.map((r) => r.map(([k]) => k))).toEqual(many.map((k) => [`${k}|a`]));
  });

  it('getMany returns one slot per key asked (absent ones undefined, duplicates repeated) and counts reads', async () => {
    const s = await backend.open();
    await s.commit([put('memory', 'x', { v: 1 }), put('memory', 'y', 'two')]);
    const before = s.reads.memory;
    expect(await s.getMany('memory', ['y', 'nope', 'x', 'y'])).toEqual(['two', undefined, { v: 1 }, 'two']);
    expect(s.reads.memory - before).toBe(3);
    expect(await s.getMany('memory', [])).toEqual([]);
    await s.entries('memory');
    expect(s.reads.memory - before).toBe(5);
  });

  it('refuses a null value for its own commit alone; the commits grouped with it land', async () => {
    const s = await backend.open();
    const results = await Promise.allSettled([
      s.commit([put('runs', 'one', 1)]),
      s.commit([put('runs', 'bad-ok', 1), put('runs', 'bad', null)]),
      s.commit([put('runs', 'two', 2)], { actor: 'cli:me', action: 'x', target: 't' }),
      s.commit([put('runs', 'undef', undefined)]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toContain('store: a value cannot be null or undefined (runs/bad)');
    expect(await s.keys('runs')).toEqual(['one', 'two']);
    expect(s.unwritable).toBeNull();
  });

  it('applies the last op per key: put then del in one commit is a del, across grouped commits too', async () => {
    const s = await backend.open();
    await s.commit([put('outbox', 'k1', 'old'), put('outbox', 'k3', 'old')]);
    await s.commit([put('outbox', 'k1', 'new'), del('outbox', 'k1'), del('outbox', 'k2'), put('outbox', 'k2', 'again'), put('outbox', 'k4', 'a'), put('outbox', 'k4', 'b')]);
    expect(await s.entries('outbox')).toEqual([
      ['k2', 'again'],
      ['k3', 'old'],
      ['k4', 'b'],
    ]);
    // concurrent callers: one group, in call order
    await Promise.all([s.commit([put('outbox', 'k3', 'first')]), s.commit([del('outbox', 'k3')]), s.commit([put('outbox', 'k5', 1)]), s.commit([del('outbox', 'k5'), put('outbox', 'k5', 2)])]);
    expect(await s.entries('outbox')).toEqual([
      ['k2', 'again'],
      ['k4', 'b'],
      ['k5', 2],
    ]);
  });

  it('writes the audit entry in the same commit as the change', async () => {
    const s = await backend.open();
    await s.commit([put('memory', 'k', 1)], { actor: 'cli:me', action: 'memory.set', target: 'memory:k' });
    const audit = await s.entries<{ at: string; actor: string; action: string; target: string }>('audit');
    expect(audit).toHaveLength(1);
    expect(audit[0][1]).toMatchObject({ actor: 'cli:me', action: 'memory.set', target: 'memory:k' });
    expect(Date.parse(audit[0][1].at)).toBeGreaterThan(0);
    expect(audit[0][0]).toMatch(/^\d{15}-\d{6}/);
    expect(s.stats).toEqual({ commits: 1, batches: 1, ops: 2 });
  });

  it('groups 200 concurrent commits into fewer transactions, acknowledging each only once written', async () => {
    const s = await backend.open();
    await Promise.all(Array.from({ length: 200 }, (_, i) => s.commit([put('runs', `r${i}`, { i })]).then(async () => expect(await s.get('runs', `r${i}`)).toEqual({ i }))));
    expect(s.stats.commits).toBe(200);
    expect(s.stats.batches).toBeLessThan(200);
    expect(await s.keys('runs')).toHaveLength(200);
  });

  it('putLoose and delLoose write outside commits', async () => {
    const s = await backend.open();
    await s.putLoose('cache', 'c1', { hit: 1 });
    await s.putLoose('cache', 'c1', { hit: 2 });
    await s.putLoose('cache', 'c2', 'x');
    await s.delLoose('cache', 'c2');
    await s.delLoose('cache', 'never');
    expect(await s.entries('cache')).toEqual([['c1', { hit: 2 }]]);
    expect(s.stats.commits).toBe(0);
  });

  it('refuses commits once closed, as unavailable', async () => {
    const s = await backend.open();
    await s.commit([put('runs', 'a', 1)]);
    const pending = s.commit([put('runs', 'b', 1)]);
    await s.close();
    await pending; // queued before close: written
    const e = (await s.commit([put('runs', 'c', 1)]).catch((x: unknown) => x)) as WireError;
    expect(isWireError(e) && e.code).toBe('unavailable');
  });
});

/** A TCP proxy to the server that can stop passing bytes (held, not dropped) as a network partition would. */
async function freezableProxy(url: string): Promise<{ url: string; freeze(): void; thaw(): void; close(): Promise<void> }> {
  const target = new URL(url);
  let frozen = false;
  const held: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const srv = createServer((a) => {
    const b = connect(Number(target.port), target.hostname);
    for (const [from, to] of [
      [a, b],
      [b, a],
    ] as const) {
      sockets.add(from);
      from.on('data', (d: Buffer) => (frozen ? held.push(() => to.write(d)) : to.write(d)));
      from.on('error', () => to.destroy());
      from.on('close', () => {
        sockets.delete(from);
        to.destroy();
      });
    }
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const proxied = new URL(url);
  proxied.port = String((srv.address() as AddressInfo).port);
  return {
    url: proxied.href,
    freeze: () => void (frozen = true),
    thaw: () => {
      frozen = false;
      for (const f of held.splice(0)) f();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => srv.close(r));
    },
  };
}

describe('PgStore (team mode only)', () => {
  const fence = (run: string, executor: string, epoch: number) => ({ run, executor, epoch });

  async function owners(url: string, rows: [string, string | null, number][]): Promise<void> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      for (const [run, executor, epoch] of rows) await c.query('INSERT INTO opstream.run_owner (run_id, executor, epoch) VALUES ($1, $2, $3) ON CONFLICT (run_id) DO UPDATE SET executor = $2, epoch = $3', [run, executor, epoch]);
    } finally {
      await c.end();
    }
  }

  it('creates its tables once when several daemons open a fresh database together', async () => {
    const url = await server().database('race');
    const stores = await Promise.all(['e1', 'e2', 'e3', 'e4', 'e5'].map((id) => PgStore.open(url, { executorId: id, poolSize: 2 }).then(track)));
    await stores[0].commit([put('runs', 'x', 1)]);
    expect(await stores[4].get('runs', 'x')).toBe(1);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      expect((await c.query('SELECT version FROM opstream.meta_schema')).rows).toEqual([{ version: 1 }]);
      const cols = (await c.query(`SELECT table_name, collation_name FROM information_schema.columns WHERE table_schema = 'opstream' AND column_name IN ('key', 'run_id') ORDER BY table_name`)).rows;
      expect(cols.length).toBe(14);
      expect(new Set(cols.map((r: { collation_name: string }) => r.collation_name))).toEqual(new Set(['C']));
      // a layout newer than this code: refused with a clear line instead of misread
      await c.query('INSERT INTO opstream.meta_schema (version) VALUES (99)');
    } finally {
      await c.end();
    }
    await expect(PgStore.open(url, { executorId: 'late' })).rejects.toThrow(/layout version 99; this OpStream knows up to 1/);
  });

  it('commits with synchronous_commit on even where the database defaults to off', async () => {
    const url = await server().database('sync');
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`ALTER DATABASE "${new URL(url).pathname.slice(1)}" SET synchronous_commit = off`);
    await c.end();
    const s = track(await PgStore.open(url, { executorId: 'exec-a', poolSize: 3 }));
    const settings = await Promise.all(Array.from({ length: 3 }, () => s.pool.query<{ v: string }>(`SELECT current_setting('synchronous_commit') AS v, pg_sleep(0.05)`)));
    expect(settings.map((r) => r.rows[0].v)).toEqual(['on', 'on', 'on']);
    const plain = new pg.Client({ connectionString: url });
    await plain.connect();
    expect((await plain.query(`SELECT current_setting('synchronous_commit') AS v`)).rows[0].v).toBe('off');
    await plain.end();
  });

  it('audit keys carry the executor id, so two daemons writing in the same millisecond never collide', async () => {
    const url = await server().database('audit');
    const a = track(await PgStore.open(url, { executorId: 'exec-a' }));
    const b = track(await PgStore.open(url, { executorId: 'exec-b' }));
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).commit([], { actor: 'x', action: 'y', target: String(i) })));
    const keys = await a.keys('audit');
    expect(keys).toHaveLength(20);
    expect(keys.filter((k) => k.endsWith('-exec-a'))).toHaveLength(10);
  });

  it('fences: a commit lands only while its run is hosted by that executor at that epoch; refused ones change nothing and the rest of the group lands', async () => {
    const url = await server().database('fence');
    const s = track(await PgStore.open(url, { executorId: 'exec-a' }));
    await s.commit([put('runs', 'r1', 'v0'), put('runs', 'r2', 'v0'), put('runs', 'r3', 'v0')]);
    await owners(url, [
      ['r1', 'exec-a', 3],
      ['r2', 'exec-b', 4],
    ]);
    const results = await Promise.allSettled([
      s.commit([put('runs', 'r1', 'v1'), put('events', 'r1:1', 'e')], undefined, { fences: [fence('r1', 'exec-a', 3)] }),
      s.commit([put('runs', 'r2', 'v1')], { actor: 'a', action: 'b', target: 'c' }, { fences: [fence('r2', 'exec-a', 4)] }),
      s.commit([put('runs', 'r1', 'stale')], undefined, { fences: [fence('r1', 'exec-a', 2)] }),
      s.commit([put('runs', 'r3', 'v1')], undefined, { fences: [fence('r3', 'exec-a', 0)] }),
      s.commit([put('memory', 'free', 1)]),
      s.commit([put('runs', 'r2', 'both')], undefined, { fences: [fence('r1', 'exec-a', 3), fence('r2', 'exec-a', 4)] }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected', 'fulfilled', 'rejected']);
    const why = results.map((r) => (r.status === 'rejected' ? (r.reason as WireError) : null));
    expect(why[1]).toMatchObject({ code: 'conflict', retryable: false, message: 'run r2 is now hosted by exec-b' });
    expect(why[2]).toMatchObject({ code: 'conflict', message: 'run r1 is now hosted by exec-a' });
    expect(why[3]).toMatchObject({ code: 'conflict', message: 'run r3 is now hosted by nobody' });
    expect(why[5]).toMatchObject({ code: 'conflict', message: 'run r2 is now hosted by exec-b' });
    expect(await s.entries('runs')).toEqual([
      ['r1', 'v1'],
      ['r2', 'v0'],
      ['r3', 'v0'],
    ]);
    expect(await s.keys('events')).toEqual(['r1:1']);
    expect(await s.keys('memory')).toEqual(['free']);
    expect(await s.keys('audit')).toEqual([]); // the refused commit's audit entry went with it
    expect(s.unwritable).toBeNull();
    // a group whose callers all fail writes nothing
    const before = await s.entries('runs');
    const all = await Promise.allSettled([s.commit([put('runs', 'r1', 'x')], undefined, { fences: [fence('r1', 'exec-b', 3)] }), s.commit([put('runs', 'r9', 'x')], undefined, { fences: [fence('r9', 'exec-a', 0)] })]);
    expect(all.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await s.entries('runs')).toEqual(before);
  });

  it('notify is delivered to listeners (on every daemon) only when its commit committed', async () => {
    const url = await server().database('notify');
    const a = track(await PgStore.open(url, { executorId: 'exec-a' }));
    const b = track(await PgStore.open(url, { executorId: 'exec-b' }));
    await owners(url, [['r1', 'exec-b', 1]]);
    const heard: string[] = [];
    const heardOther: string[] = [];
    const stop = await b.listen('opstream_runs', (p) => heard.push(p));
    await b.listen('opstream_other', (p) => heardOther.push(p));
    await b.listen('opstream_runs', (p) => heard.push(`2nd:${p}`));
    await Promise.allSettled([
      a.commit([put('runs', 'r1', 'zombie')], undefined, { fences: [fence('r1', 'exec-a', 1)], notify: [{ channel: 'opstream_runs', payload: 'refused' }] }),
      a.commit([put('runs', 'r2', 'ok')], undefined, { notify: [{ channel: 'opstream_runs', payload: 'r2' }] }),
      a.commit([put('runs', 'bad', null)], undefined, { notify: [{ channel: 'opstream_runs', payload: 'null-refused' }] }),
      // beyond PostgreSQL's payload limit: refused alone, before it could fail the group
      a.commit([put('runs', 'big', 1)], undefined, { notify: [{ channel: 'opstream_runs', payload: 'x'.repeat(8000) }] }).catch((e: Error) => {
        expect(e.message).toMatch(/^store: a notification needs a channel of 1-63 bytes and a payload under 8000 bytes/);
        throw e;
      }),
    ]);
    expect(await a.get('runs', 'r2')).toBe('ok');
    expect(await a.get('runs', 'big')).toBeUndefined();
    await a.commit([], undefined, { notify: [{ channel: 'opstream_runs', payload: 'last' }, { channel: 'opstream_other', payload: 'o' }] });
    // notifications arrive in commit order: once 'last' is in, anything earlier would be too
    await waitFor(() => heard.filter((p) => p.endsWith('last')).length === 2, { what: 'the last notification' });
    expect(heard).toEqual(['r2', '2nd:r2', 'last', '2nd:last']);
    await waitFor(() => heardOther.length === 1);
    expect(heardOther).toEqual(['o']);
    await stop();
    await a.commit([], undefined, { notify: [{ channel: 'opstream_runs', payload: 'after-stop' }] });
    await waitFor(() => heard.length === 5);
    expect(heard[4]).toBe('2nd:after-stop');
  });

  it('a wrong password or a closed port at open: one line with the masked URL and the reason, no password', async () => {
    const url = await server().database('auth');
    const u = new URL(url);
    u.password = 'not-the-secret-4242';
    const wrong = u.href;
    const e1 = (await PgStore.open(wrong, { executorId: 'x' }).catch((e: unknown) => e)) as WireError;
    expect(e1.message).toBe(`cannot open the team database ${maskDatabaseUrl(wrong)}: password authentication failed for user "postgres"`);
    expect(maskDatabaseUrl(wrong)).toBe(`${u.protocol}//${u.username}:***@${u.host}${u.pathname}`);
    expect(JSON.stringify(e1.toJSON())).not.toContain('not-the-secret-4242');
    expect(e1.retryable).toBe(false);

    const port = await freePort();
    const closed = `postgres://someone:hunter2secret@127.0.0.1:${port}/db`;
    const e2 = (await PgStore.open(closed, { executorId: 'x' }).catch((e: unknown) => e)) as WireError;
    expect(e2.message).toBe(`cannot open the team database postgres://someone:***@127.0.0.1:${port}/db: connection refused (is PostgreSQL running and listening there?)`);
    expect(e2.message).not.toMatch(/\n/);
    expect(e2.retryable).toBe(true);
    // `.invalid` never resolves (RFC 2606)
    const e3 = (await PgStore.open('postgres://u:s3cret-pw@no-such-host.invalid:5432/db', { executorId: 'x' }).catch((e: unknown) => e)) as WireError;
    expect(e3.message).toBe('cannot open the team database postgres://u:***@no-such-host.invalid:5432/db: unknown host no-such-host.invalid');
    expect(e3.retryable).toBe(false);
    expect(maskDatabaseUrl('postgres://u@h/db?password=abc&sslmode=require')).toBe('postgres://u@h/db?password=***&sslmode=require');
    expect(maskDatabaseUrl('postgres://u:p%40ss@h:5/db')).toBe('postgres://u:***@h:5/db');
  });

  it('a server gone silent (a partition): the commit fails at its time limit instead of hanging, writes resume once it answers', async () => {
    const url = await server().database('silent');
    const proxy = await freezableProxy(url);
    try {
      const s = track(await PgStore.open(proxy.url, { executorId: 'exec-a', queryTimeoutMs: 1000 }));
      await s.commit([put('runs', 'before', 1)]);
      let writable = 0;
      s.onWritable(() => writable++);
      proxy.freeze();
      const e = (await s.commit([put('runs', 'during', 1)]).catch((x: unknown) => x)) as WireError;
      expect(e).toMatchObject({ code: 'store_unwritable', retryable: true });
      expect(e.message).toBe(`cannot write to ${maskDatabaseUrl(proxy.url)}: the server did not answer in time (a network partition, or a server that stopped responding); new work is refused until it can (the daemon retries by itself)`);
      expect(s.unwritable).toBe(e);
      proxy.thaw();
      await waitFor(() => writable > 0, { what: 'writable again', timeoutMs: 30_000 });
      await s.commit([put('runs', 'after', 1)]);
      expect(await s.keys('runs')).toEqual(['after', 'before']);
    } finally {
      await proxy.close();
    }
  });

  // last: it restarts the server the other tests use
  it('PostgreSQL restarted mid-use: commits fail retryable while it is down, writes resume by themselves, nothing acknowledged is lost', async () => {
    const url = await server().database('restart');
    const s = track(await PgStore.open(url, { executorId: 'exec-a' }));
    let writable = 0;
    s.onWritable(() => writable++);
    const heard: string[] = [];
    let reconnected = 0;
    await s.listen('opstream_restart', (p) => heard.push(p), { onReconnect: () => reconnected++ });
    const acked: string[] = [];
    const failures: unknown[] = [];
    let stop = false;
    let n = 0;
    // a few writers committing as fast as they can; after a refusal each waits for onWritable
    const writers = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const key = `k${(n++).toString().padStart(6, '0')}`;
        try {
          await s.commit([put('runs', key, { key }), put('events', `${key}:1`, 1)]);
          acked.push(key);
        } catch (e) {
          failures.push(e);
          await waitFor(() => stop || !s.unwritable, { timeoutMs: 60_000 });
        }
      }
    });
    await waitFor(() => acked.length >= 50, { what: 'commits before the restart' });
    // idle pooled connections when the server dies: their errors must not end the process
    await Promise.all(Array.from({ length: 6 }, () => s.get('runs', 'k000000')));
    expect(s.pool.idleCount).toBeGreaterThan(2);
    const restarted = server().restart!({ downMs: 3000 });
    const failure = await waitFor(() => s.unwritable, { what: 'unwritable' });
    // a read while it is down: a clear retryable error
    const readErr = (await s.get('runs', 'k000000').catch((e: unknown) => e)) as WireError;
    expect(readErr).toMatchObject({ code: 'unavailable', retryable: true });
    expect(readErr.message).toMatch(new RegExp(`^the team database ${maskDatabaseUrl(url).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot be reached: `));
    expect(failure).toMatchObject({ code: 'store_unwritable', retryable: true });
    expect(failure.message).toMatch(/^cannot write to postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/restart_\d+: .+; new work is refused until it can \(the daemon retries by itself\)$/);
    expect(failure.message).not.toContain('opstream-test');
    const refused = (await s.commit([put('runs', 'during', 1)]).catch((e: unknown) => e)) as WireError;
    expect(refused).toBe(failure);
    await restarted;
    await waitFor(() => writable > 0, { what: 'onWritable after the restart', timeoutMs: 30_000 });
    // the notification connection comes back by itself and listens again (what was sent meanwhile
    // is lost: onReconnect tells the caller to catch up)
    await waitFor(() => reconnected > 0, { what: 'the notification connection back', timeoutMs: 30_000 });
    await s.commit([put('runs', 'after', 1)], undefined, { notify: [{ channel: 'opstream_restart', payload: 'after' }] });
    await waitFor(() => acked.length >= 100, { what: 'commits after the restart' });
    stop = true;
    await Promise.all(writers);
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) expect(f).toMatchObject({ code: 'store_unwritable', retryable: true });
    // every acknowledged commit is there, both of its rows
    const got = await s.getMany('runs', acked);
    expect(got.filter((v) => v === undefined)).toHaveLength(0);
    expect((await s.getMany('events', acked.map((k) => `${k}:1`))).filter((v) => v === undefined)).toHaveLength(0);
    expect(await s.get('runs', 'during')).toBeUndefined();
    expect(await s.get<{ at: string }>('meta', 'store:last_recovered')).toMatchObject({ executor: 'exec-a' });
    await waitFor(() => heard.includes('after'), { what: 'the notification after the restart' });
  });
});
