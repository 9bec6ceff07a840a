import pg from 'pg';
import type { Logger } from 'pino';
import { WireError } from '../../protocol/index.js';
import { emptyValueError, pagesOf, type CommitOptions, type KvRange, type KvStore, type RunFence, type SqlReads } from './kv.js';
import { RecoveryProbe } from './recovery-probe.js';
import { auditOp } from '../repos/audit.js';
import { SUBLEVELS, type AuditEntry, type StoreOp, type SublevelName } from './store.js';
import { databasePassword, maskDatabaseUrl } from '../../config/load.js';

/** The table layout this code writes; a database with a newer one is refused instead of misread. */
export const PG_SCHEMA_VERSION = 1;

type Json = unknown;

interface Pending {
  ops: StoreOp[];
  fences?: RunFence[];
  notify?: { channel: string; payload: string }[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

export { maskDatabaseUrl } from '../../config/load.js';

/** SQLSTATE codes and socket errors after which the server (not the statement) is the problem. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * Whether `e` says the database cannot be reached or cannot take writes now (a lost connection, a
 * server shutting down or starting up, too many connections, a full disk, a read-only standby):
 * retryable as a whole, never the statement's fault.
 */
export function isServerError(e: unknown): boolean {
  const errs = (e as { errors?: unknown[] })?.errors;
  if (Array.isArray(errs) && errs.length > 0 && errs.some(isServerError)) return true;
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string') {
    if (SOCKET_CODES.has(code)) return true;
    // 08: connection exception; 53: insufficient resources (disk full, out of memory, too many
    // connections); 57P0x: shutdown / cannot connect now; 58: system I/O error; 25006: read-only
    // (a standby after a failover)
    if (/^(08|53|57P0|58)/.test(code) || code === '25006') return true;
  }
  const msg = String((e as Error)?.message ?? '');
  return /Query read timeout|Connection terminated|connection timeout|Client has encountered a connection error|not queryable|Connection refused|the database system is/i.test(msg);
}

/** PostgreSQL's (or the socket's) reason for `e`, one line, without the password. */
function reasonOf(e: unknown, url: string): string {
  const errs = (e as { errors?: unknown[] })?.errors;
  const first = Array.isArray(errs) && errs.length > 0 && !(e as Error).message ? errs[0] : e;
  const code = (first as { code?: unknown })?.code;
  let text: string;
  if ((first as Error)?.message === 'Query read timeout') text = 'the server did not answer in time (a network partition, or a server that stopped responding)';
  else if (code === 'ECONNREFUSED') text = 'connection refused (is PostgreSQL running and listening there?)';
  else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') text = `unknown host ${(first as { hostname?: string }).hostname ?? hostOf(url)}`;
  else text = String((first as Error)?.message ?? first) || String(code ?? 'unknown error');
  const pw = databasePassword(url);
  if (pw) text = text.split(pw).join('***');
  return text.replace(/\s+/g, ' ').trim();
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '?';
  }
}

/** The abstract-level rules: `gte` wins over `gt` and `lte` over `lt`; a bound given as undefined is the string 'undefined' (the sublevel concatenates it). */
function bounds(opts: KvRange): { lo?: { op: '>' | '>='; v: string }; hi?: { op: '<' | '<='; v: string } } {
  const has = (k: keyof KvRange) => Object.prototype.hasOwnProperty.call(opts, k);
  const lo = has('gte') ? { op: '>=' as const, v: String(opts.gte) } : has('gt') ? { op: '>' as const, v: String(opts.gt) } : undefined;
  const hi = has('lte') ? { op: '<=' as const, v: String(opts.lte) } : has('lt') ? { op: '<' as const, v: String(opts.lt) } : undefined;
  return { lo, hi };
}

/** abstract-level: a limit that is not a non-negative integer means no limit. */
function limitOf(limit: unknown): number | null {
  return typeof limit === 'number' && Number.isInteger(limit) && limit >= 0 ? limit : null;
}

/**
 * The daemon's storage in team mode: the same KvStore as the LevelDB `Store`, over PostgreSQL
 * tables shared by every daemon of the team. One table per sublevel, `key text COLLATE "C"` so
 * ranges scan in byte order exactly as LevelDB iterates (UTF-8 bytes, `~` after letters), `value`
 * the JSON text (not jsonb: values read back byte-identical, key order and all). Commits are
 * grouped as in `Store.flush`: concurrent callers share one transaction, acknowledged only once
 * COMMIT returned (synchronous_commit on).
 */
export class PgStore implements KvStore {
  readonly stats = { commits: 0, batches: 0, ops: 0 };
  readonly reads = Object.fromEntries(SUBLEVELS.map((n) => [n, 0])) as Record<SublevelName, number>;
  private failure: WireError | null = null;
  private readonly recovery = new RecoveryProbe(() => this.tryRecover(), () => this.closed);
  private readonly writableListeners = new Set<() => void>();
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private auditSeq = 0;
  private closed = false;
  private readonly tables: Record<SublevelName, string>;
  private readonly ownerTable: string;
  private readonly listeners = new Map<string, Set<(payload: string) => void>>();
  private readonly reconnectListeners = new Set<() => void>();
  private readonly listening = new Map<string, Promise<void>>();
  private listenClient: pg.Client | null = null;
  private listenConnecting: Promise<pg.Client> | null = null;
  private readonly relistening = new RecoveryProbe(() => this.relisten(), () => this.closed || this.listeners.size === 0);

  private constructor(
    /** The connection pool: team tables (members, leases, run_owner) use it too. */
    readonly pool: pg.Pool,
    readonly schema: string,
    readonly dir: string,
    private readonly url: string,
    private readonly executorId: string,
    private readonly log: Logger | undefined,
    private readonly queryTimeoutMs: number,
  ) {
    this.tables = Object.fromEntries(SUBLEVELS.map((n) => [n, `"${schema}".kv_${n}`])) as Record<SublevelName, string>;
    this.ownerTable = `"${schema}".run_owner`;
  }

  /**
   * Connects and creates the schema and tables if missing, under an advisory lock (daemons that
   * start together on a fresh database would otherwise race on CREATE and fail). A database that
   * cannot be reached or refuses us throws one line: the masked URL and PostgreSQL's reason.
   */
  static async open(url: string, opts: { executorId: string; schema?: string; log?: Logger; poolSize?: number; queryTimeoutMs?: number }): Promise<PgStore> {
    const schema = opts.schema ?? 'opstream';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}: lower-case letters, digits and _ only`);
    if (!opts.executorId) throw new Error('PgStore.open: an executor id is required');
    const masked = maskDatabaseUrl(url);
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.poolSize ?? 8,
      // a black-holed host fails in seconds rather than hanging the daemon's start
      connectionTimeoutMillis: Math.min(10_000, opts.queryTimeoutMs ?? 10_000),
      keepAlive: true,
      idleTimeoutMillis: 30_000,
      // every commit is acknowledged only once durable, whatever the server's or the database's
      // default: a startup parameter of each connection (a `SET` queued by the pool's 'connect'
      // event ran beside the first query on the same client, which pg 8 reports as deprecated)
      options: '-c synchronous_commit=on',
    });
    // an idle client whose server went away emits here; unhandled, it would end the process
    pool.on('error', (e) => opts.log?.warn({ database: masked, err: reasonOf(e, url) }, 'team database: an idle connection was lost'));
    try {
      await createTables(pool, schema);
    } catch (e) {
      await pool.end().catch(() => undefined);
      if (e instanceof SchemaVersionError) throw e;
      throw new WireError('unavailable', `cannot open the team database ${masked}: ${reasonOf(e, url)}`, { retryable: isServerError(e) && !/unknown host/.test(reasonOf(e, url)) });
    }
    return new PgStore(pool, schema, masked, url, opts.executorId, opts.log, opts.queryTimeoutMs ?? 30_000);
  }

  /** Repositories' aggregates run here, by the server (KvStore.sql). */
  get sql(): SqlReads {
    return this;
  }

  /** The qualified table of a sublevel (`"<schema>".kv_<sub>`), for team code that writes it in its own SQL. */
  table(sub: SublevelName): string {
    return this.tables[sub];
  }

  /**
   * A statement of ours with a time limit: a server that went silent (a network partition, a laptop
   * that slept through its TCP connection) fails the statement, and with it the group, instead of
   * holding every commit behind it until TCP keepalive gives up (hours). The limit is client-side;
   * the connection is dropped from the pool after it.
   */
  private q(text: string, values?: unknown[]): pg.QueryConfig {
    return { text, values, query_timeout: this.queryTimeoutMs } as pg.QueryConfig;
  }

  get unwritable(): WireError | null {
    return this.failure;
  }

  onWritable(fn: () => void): () => void {
    this.writableListeners.add(fn);
    return () => this.writableListeners.delete(fn);
  }

  /**
   * A statement on the shared pool (the store's reads, and team code's own rows: run_owner,
   * requests), with the store's time limit: a database that cannot be reached is a clear one-line
   * retryable `unavailable`, never pg's raw `connect ECONNREFUSED`; a statement's own error passes as is.
   */
  async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    if (this.closed) throw new WireError('unavailable', 'the daemon is shutting down');
    try {
      return (await this.pool.query<R>(this.q(text, values))).rows;
    } catch (e) {
      if (isServerError(e)) throw new WireError('unavailable', `the team database ${this.dir} cannot be reached: ${reasonOf(e, this.url)}`, { retryable: true });
      throw e;
    }
  }

  async get<T = Json>(sub: SublevelName, key: string): Promise<T | undefined> {
    const rows = await this.query<{ value: string }>(`SELECT value FROM ${this.tables[sub]} WHERE key = $1`, [key]);
    if (rows.length === 0) return undefined;
    this.reads[sub]++;
    return JSON.parse(rows[0].value) as T;
  }

  async getMany<T = Json>(sub: SublevelName, keys: string[]): Promise<(T | undefined)[]> {
    if (keys.length === 0) return [];
    const rows = await this.query<{ key: string; value: string }>(`SELECT key, value FROM ${this.tables[sub]} WHERE key = ANY($1::text[])`, [keys]);
    const found = new Map(rows.map((r) => [r.key, r.value]));
    return keys.map((k) => {
      const v = found.get(k);
      if (v === undefined) return undefined;
      this.reads[sub]++;
      return JSON.parse(v) as T;
    });
  }

  private rangeSql(sub: SublevelName, cols: string, opts: KvRange): { text: string; values: unknown[] } {
    const { lo, hi } = bounds(opts);
    const where: string[] = [];
    const values: unknown[] = [];
    if (lo) {
      values.push(lo.v);
      where.push(`key ${lo.op} $${values.length}`);
    }
    if (hi) {
      values.push(hi.v);
      where.push(`key ${hi.op} $${values.length}`);
    }
    const limit = limitOf(opts.limit);
    let text = `SELECT ${cols} FROM ${this.tables[sub]}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY key${opts.reverse ? ' DESC' : ''}`;
    if (limit !== null) {
      values.push(limit);
      text += ` LIMIT $${values.length}`;
    }
    return { text, values };
  }

  async entries<T = Json>(sub: SublevelName, opts: KvRange = {}): Promise<[string, T][]> {
    if (limitOf(opts.limit) === 0) return [];
    const { text, values } = this.rangeSql(sub, 'key, value', opts);
    const rows = await this.query<{ key: string; value: string }>(text, values);
    this.reads[sub] += rows.length;
    return rows.map((r) => [r.key, JSON.parse(r.value) as T]);
  }

  async keys(sub: SublevelName, opts: KvRange = {}): Promise<string[]> {
    if (limitOf(opts.limit) === 0) return [];
    const { text, values } = this.rangeSql(sub, 'key', opts);
    const rows = await this.query<{ key: string }>(text, values);
    this.reads[sub] += rows.length;
    return rows.map((r) => r.key);
  }

  pages<T = Json>(sub: SublevelName, range: { gt?: string; gte?: string; lt?: string }, size: number): AsyncGenerator<[string, T][]> {
    return pagesOf<T>(this, sub, range, size);
  }

  /** Many ranges in ONE query: each range is a lateral index scan, rows come back tagged with their range. */
  async ranges<T = Json>(sub: SublevelName, ranges: { gte: string; lt: string }[]): Promise<[string, T][][]> {
    const out: [string, T][][] = ranges.map(() => []);
    if (ranges.length === 0) return out;
    const rows = await this.query<{ i: string; key: string; value: string }>(
      `SELECT r.i, k.key, k.value FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS r(gte, lt, i)
       CROSS JOIN LATERAL (SELECT key, value FROM ${this.tables[sub]} WHERE key >= r.gte AND key < r.lt ORDER BY key) k
       ORDER BY r.i, k.key`,
      [ranges.map((r) => r.gte), ranges.map((r) => r.lt)],
    );
    for (const r of rows) out[Number(r.i) - 1].push([r.key, JSON.parse(r.value) as T]);
    this.reads[sub] += rows.length;
    return out;
  }

  async putLoose(sub: SublevelName, key: string, value: Json): Promise<void> {
    if (this.closed) throw new WireError('unavailable', 'the daemon is shutting down');
    if (this.failure) throw this.failure;
    try {
      await this.pool.query(this.q(`INSERT INTO ${this.tables[sub]} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, [key, JSON.stringify(value)]));
    } catch (e) {
      throw isServerError(e) ? this.writeFailed(e) : e;
    }
  }

  async delLoose(sub: SublevelName, key: string): Promise<void> {
    if (this.closed) throw new WireError('unavailable', 'the daemon is shutting down');
    if (this.failure) throw this.failure;
    try {
      await this.pool.query(this.q(`DELETE FROM ${this.tables[sub]} WHERE key = $1`, [key]));
    } catch (e) {
      throw isServerError(e) ? this.writeFailed(e) : e;
    }
  }

  /**
   * Atomic and durable, as `Store.commit`; with `audit`, the audit entry is in the same transaction.
   * `fences` are checked under a row lock in that transaction (a caller whose run moved to another
   * daemon is refused with `conflict`, alone); `notify` is sent with the transaction, so listeners
   * hear of it only if it committed.
   */
  commit(ops: StoreOp[], audit?: Omit<AuditEntry, 'at'>, opts?: CommitOptions): Promise<void> {
    if (this.closed) return Promise.reject(new WireError('unavailable', 'the daemon is shutting down'));
    if (this.failure) return Promise.reject(this.failure);
    const empty = emptyValueError(ops);
    if (empty) return Promise.reject(empty);
    // PostgreSQL text cannot hold NUL: refused alone too, rather than failing the group it would join
    const nul = ops.find((op) => op.key.includes('\u0000'));
    if (nul) return Promise.reject(new Error(`store: a key cannot contain a NUL character here (${nul.sub}/${JSON.stringify(nul.key)})`));
    // PostgreSQL's limits (a channel is an identifier, a payload under 8000 bytes): checked here so
    // that a bad one fails its own commit, not the group's
    const note = opts?.notify?.find((n) => !n.channel || Buffer.byteLength(n.channel) > 63 || Buffer.byteLength(n.payload) >= 8000);
    if (note) return Promise.reject(new Error(`store: a notification needs a channel of 1-63 bytes and a payload under 8000 bytes (${note.channel.slice(0, 63)})`));
    const all = audit ? [...ops, this.auditOp(audit)] : ops;
    return new Promise((resolve, reject) => {
      this.queue.push({ ops: all, fences: opts?.fences, notify: opts?.notify, resolve, reject });
      if (!this.flushing) this.flushing = this.flush();
    });
  }

  private auditOp(a: Omit<AuditEntry, 'at'>): StoreOp {
    return auditOp(a, this.auditSeq++, this.executorId);
  }

  private async flush(): Promise<void> {
    // yields first, as Store.flush: `this.flushing` is set before this body can finish
    await Promise.resolve();
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      if (this.failure) {
        for (const p of group) p.reject(this.failure);
        continue;
      }
      try {
        const { committed, refused, ops } = await this.writeGroup(group);
        if (committed.length > 0) this.stats.batches++;
        this.stats.commits += committed.length;
        this.stats.ops += ops;
        for (const p of committed) p.resolve();
        for (const [p, e] of refused) p.reject(e);
      } catch (e) {
        const err = isServerError(e) ? this.writeFailed(e) : e;
        for (const p of group) p.reject(err);
      }
    }
    this.flushing = null;
  }

  /** One transaction for the group; a deadlock with another daemon's group is retried (it was rolled back whole). */
  private async writeGroup(group: Pending[]): Promise<{ committed: Pending[]; refused: [Pending, WireError][]; ops: number }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.tryWriteGroup(group);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if ((code === '40P01' || code === '40001') && attempt < 5 && !this.closed) continue;
        throw e;
      }
    }
  }

  private async tryWriteGroup(group: Pending[]): Promise<{ committed: Pending[]; refused: [Pending, WireError][]; ops: number }> {
    const client = await this.pool.connect();
    let broken: unknown = undefined;
    // a checked-out client has no error listener of the pool's: a connection lost between two
    // statements would otherwise be an uncaught 'error' (the next statement fails with it anyway)
    const onError = (e: Error) => (broken = e);
    client.on('error', onError);
    try {
      await client.query(this.q('BEGIN'));
      const refused: [Pending, WireError][] = [];
      const fenced = group.filter((p) => p.fences && p.fences.length > 0);
      if (fenced.length > 0) {
        const ids = [...new Set(fenced.flatMap((p) => p.fences!.map((f) => f.run)))].sort();
        // a run's creation makes its owner row (a row already there is checked like any other)
        const creates = [...new Map(fenced.flatMap((p) => p.fences!.filter((f) => f.create)).map((f) => [f.run, f])).values()].sort((a, b) => byteCompare(a.run, b.run));
        if (creates.length > 0) {
          await client.query(`INSERT INTO ${this.ownerTable} (run_id, executor, epoch) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) ON CONFLICT (run_id) DO NOTHING`, [creates.map((f) => f.run), creates.map((f) => f.executor), creates.map((f) => f.epoch)]);
        }
        // in run id order, so two daemons' groups lock the same rows in the same order
        const rows = (await client.query<{ run_id: string; executor: string | null; epoch: string }>(this.q(`SELECT run_id, executor, epoch FROM ${this.ownerTable} WHERE run_id = ANY($1::text[]) ORDER BY run_id FOR UPDATE`, [ids]))).rows;
        const owners = new Map(rows.map((r) => [r.run_id, r]));
        for (const p of fenced) {
          const bad = p.fences!.find((f) => {
            const o = owners.get(f.run);
            return !o || o.executor !== f.executor || Number(o.epoch) !== f.epoch;
          });
          if (bad) refused.push([p, new WireError('conflict', `run ${bad.run} is now hosted by ${owners.get(bad.run)?.executor ?? 'nobody'}`, { retryable: false, data: { fence: bad.run } })]);
        }
      }
      const out = new Set(refused.map(([p]) => p));
      const committed = group.filter((p) => !out.has(p));
      // last op wins per (sub, key) across the group: ON CONFLICT cannot touch a row twice in one statement
      const last = new Map<SublevelName, Map<string, StoreOp>>();
      let n = 0;
      for (const p of committed)
        for (const op of p.ops) {
          let m = last.get(op.sub);
          if (!m) last.set(op.sub, (m = new Map()));
          m.delete(op.key); // re-inserted at the end: the Map keeps the latest op
          m.set(op.key, op);
          n++;
        }
      for (const sub of SUBLEVELS) {
        const m = last.get(sub);
        if (!m) continue;
        const puts: [string, string][] = [];
        const dels: string[] = [];
        for (const op of m.values()) if (op.type === 'put') puts.push([op.key, JSON.stringify(op.value)]);
        else dels.push(op.key);
        // keys in byte order: concurrent groups of several daemons lock rows in one order
        if (puts.length > 0) {
          puts.sort((a, b) => byteCompare(a[0], b[0]));
          await client.query(
            this.q(`INSERT INTO ${this.tables[sub]} (key, value) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, [
              puts.map((r) => r[0]),
              puts.map((r) => r[1]),
            ]),
          );
        }
        if (dels.length > 0) await client.query(this.q(`DELETE FROM ${this.tables[sub]} WHERE key = ANY($1::text[])`, [dels.sort(byteCompare)]));
      }
      const notes = committed.flatMap((p) => p.notify ?? []);
      if (notes.length > 0) await client.query(this.q(`SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)`, [notes.map((x) => x.channel), notes.map((x) => x.payload)]));
      await client.query(this.q('COMMIT'));
      return { committed, refused, ops: n };
    } catch (e) {
      if (isServerError(e)) broken = e;
      if (!broken) await client.query('ROLLBACK').catch((r) => (broken = r));
      throw e;
    } finally {
      client.removeListener('error', onError);
      // a client whose connection failed is dropped from the pool, not handed to the next caller
      client.release(broken as Error | undefined);
    }
  }

  /**
   * The database cannot take writes: every commit is refused with one clear, retryable error until
   * a probe (a read, then a small write) succeeds; then `onWritable` listeners run so pending work
   * retries. Probes back off from 250 ms to 5 s.
   */
  private writeFailed(e: unknown): WireError {
    if (!this.failure) {
      const why = reasonOf(e, this.url);
      this.failure = new WireError('store_unwritable', `cannot write to ${this.dir}: ${why}; new work is refused until it can (the daemon retries by itself)`, { retryable: true });
      this.log?.warn({ database: this.dir, err: why }, 'team database: writes fail; new work is refused until a probe write succeeds');
      this.recovery.schedule();
    }
    return this.failure;
  }

  private async tryRecover(): Promise<boolean> {
    if (this.closed) return false;
    try {
      await this.pool.query(this.q('SELECT 1'));
      await this.pool.query(
        this.q(`INSERT INTO ${this.tables.meta} (key, value) VALUES ('store:last_recovered', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, [
          JSON.stringify({ at: new Date().toISOString(), executor: this.executorId, from: this.failure?.message ?? null }),
        ]),
      );
    } catch {
      return false;
    }
    if (this.closed) return false;
    this.failure = null;
    this.log?.info({ database: this.dir }, 'team database: writable again');
    for (const fn of this.writableListeners) {
      try {
        fn();
      } catch {
        // a listener's failure is its own
      }
    }
    return true;
  }

  /**
   * Calls `fn` with the payload of every NOTIFY on `channel` (sent by `commit`'s `notify`, by this
   * daemon or another). All channels share ONE dedicated connection, re-established with backoff
   * after it drops; notifications sent while it was down are lost, so `onReconnect` (optional) runs
   * after each re-LISTEN for callers to catch up from the tables. Returns the unlisten function.
   */
  async listen(channel: string, fn: (payload: string) => void, opts: { onReconnect?: () => void } = {}): Promise<() => Promise<void>> {
    if (this.closed) throw new WireError('unavailable', 'the daemon is shutting down');
    let set = this.listeners.get(channel);
    if (!set) {
      this.listeners.set(channel, (set = new Set()));
      // every caller for this channel waits for the same LISTEN: none returns before it is active
      this.listening.set(
        channel,
        this.listenConnection().then((c) => c.query(`LISTEN ${c.escapeIdentifier(channel)}`).then(() => undefined)),
      );
    }
    set.add(fn);
    if (opts.onReconnect) this.reconnectListeners.add(opts.onReconnect);
    try {
      await this.listening.get(channel);
    } catch (e) {
      set.delete(fn);
      if (set.size === 0 && this.listeners.get(channel) === set) {
        this.listeners.delete(channel);
        this.listening.delete(channel);
      }
      if (opts.onReconnect) this.reconnectListeners.delete(opts.onReconnect);
      if (isServerError(e)) throw new WireError('unavailable', `the team database ${this.dir} cannot be reached: ${reasonOf(e, this.url)}`, { retryable: true });
      throw e;
    }
    return async () => {
      const s = this.listeners.get(channel);
      if (opts.onReconnect) this.reconnectListeners.delete(opts.onReconnect);
      if (!s || !s.delete(fn) || s.size > 0) return;
      this.listeners.delete(channel);
      this.listening.delete(channel);
      const c = this.listenClient;
      if (c) await c.query(`UNLISTEN ${c.escapeIdentifier(channel)}`).catch(() => undefined);
    };
  }

  private listenConnection(): Promise<pg.Client> {
    if (this.listenClient) return Promise.resolve(this.listenClient);
    if (this.listenConnecting) return this.listenConnecting;
    const connecting = (async () => {
      const c = new pg.Client({ connectionString: this.url, keepAlive: true, connectionTimeoutMillis: 10_000 });
      c.on('notification', (m) => {
        for (const fn of this.listeners.get(m.channel) ?? []) {
          try {
            fn(m.payload ?? '');
          } catch (e) {
            this.log?.warn({ channel: m.channel, err: String(e) }, 'team database: a notification listener failed');
          }
        }
      });
      let lost = false;
      const onLost = (e?: Error) => {
        if (lost) return;
        lost = true;
        if (this.listenClient === c) this.listenClient = null;
        c.end().catch(() => undefined);
        if (this.closed) return;
        this.log?.warn({ database: this.dir, err: e ? reasonOf(e, this.url) : 'connection ended' }, 'team database: the notification connection was lost; reconnecting');
        this.relistening.schedule();
      };
      c.on('error', onLost);
      c.on('end', () => onLost());
      try {
        await c.connect();
        for (const ch of this.listeners.keys()) await c.query(`LISTEN ${c.escapeIdentifier(ch)}`);
      } catch (e) {
        lost = true;
        c.end().catch(() => undefined);
        throw e;
      }
      if (this.closed) {
        await c.end().catch(() => undefined);
        throw new WireError('unavailable', 'the daemon is shutting down');
      }
      this.listenClient = c;
      return c;
    })();
    this.listenConnecting = connecting;
    const clear = () => {
      if (this.listenConnecting === connecting) this.listenConnecting = null;
    };
    connecting.then(clear, clear);
    return connecting;
  }

  /** After the notification connection dropped: again with backoff, then the callers catch up (`onReconnect`). */
  private async relisten(): Promise<boolean> {
    try {
      await this.listenConnection();
    } catch {
      return false;
    }
    for (const fn of this.reconnectListeners) {
      try {
        fn();
      } catch {
        // its own
      }
    }
    return true;
  }

  /** Waits for queued commits, then ends the notification connection and the pool. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.recovery.cancel();
    this.relistening.cancel();
    while (this.flushing) await this.flushing;
    const c = this.listenClient ?? (await this.listenConnecting?.catch(() => null)) ?? null;
    this.listenClient = null;
    if (c) await c.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }
}

/** LevelDB's (and COLLATE "C"'s) order: UTF-8 bytes. JS `<` compares UTF-16 units, which differs past U+FFFF. */
export function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export class SchemaVersionError extends Error {
  constructor(found: number, schema: string) {
    super(`the team database schema "${schema}" has layout version ${found}; this OpStream knows up to ${PG_SCHEMA_VERSION}: upgrade OpStream on this machine`);
    this.name = 'SchemaVersionError';
  }
}

async function createTables(pool: pg.Pool, schema: string): Promise<void> {
  const c = await pool.connect();
  let broken: Error | undefined;
  const onError = (e: Error) => (broken = e);
  c.on('error', onError);
  try {
    await c.query('BEGIN');
    // one creator at a time: concurrent CREATE ... IF NOT EXISTS on a fresh database still collide
    // (a unique violation in pg_type); the lock ends with the transaction
    await c.query(`SELECT pg_advisory_xact_lock(hashtext('opstream.schema'), hashtext($1))`, [schema]);
    await c.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    for (const sub of SUBLEVELS) await c.query(`CREATE TABLE IF NOT EXISTS "${schema}".kv_${sub} (key text COLLATE "C" PRIMARY KEY, value text NOT NULL)`);
    await c.query(
      `CREATE TABLE IF NOT EXISTS "${schema}".run_owner (run_id text COLLATE "C" PRIMARY KEY, executor text, epoch bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now())`,
    );
    // the runs a dead member hosted, found without a scan when its work is taken over
    await c.query(`CREATE INDEX IF NOT EXISTS run_owner_executor ON "${schema}".run_owner (executor)`);
    await c.query(`CREATE TABLE IF NOT EXISTS "${schema}".meta_schema (version int NOT NULL)`);
    const rows = (await c.query<{ version: number }>(`SELECT max(version) AS version FROM "${schema}".meta_schema`)).rows;
    const found = rows[0]?.version ?? null;
    if (found === null) await c.query(`INSERT INTO "${schema}".meta_schema (version) VALUES ($1)`, [PG_SCHEMA_VERSION]);
    else if (found > PG_SCHEMA_VERSION) throw new SchemaVersionError(found, schema);
    await c.query('COMMIT');
  } catch (e) {
    if (isServerError(e)) broken = e as Error;
    else if (!broken) await c.query('ROLLBACK').catch((r: Error) => (broken = r));
    throw e;
  } finally {
    c.removeListener('error', onError);
    c.release(broken);
  }
}
