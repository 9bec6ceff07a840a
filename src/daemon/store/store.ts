import { Level } from 'level';
import { WireError } from '../../protocol/index.js';

/** Sublevel names; each holds JSON values under string keys. */
/** `feed`: the daemon-wide ordered stream of run events and notifications that `runs.watch` replays from a cursor. */
/**
 * Run indexes (run-index.ts), written in the same batch as the run change they follow:
 * `active` (`<run_id>` of every queued/running/waiting/paused run), `created` (`<created_at>|<run_id>`,
 * every run, for paged newest-first listing) and `ended` (`<ended_at>|<run_id>`, finished runs, for retention).
 */
export const SUBLEVELS = ['runs', 'events', 'timers', 'schedules', 'outbox', 'memory', 'cache', 'audit', 'meta', 'feed', 'active', 'created', 'ended'] as const;
export type SublevelName = (typeof SUBLEVELS)[number];

type Json = unknown;
type Sub = ReturnType<Level<string, Json>['sublevel']> & { [k: string]: unknown };

export type StoreOp =
  | { type: 'put'; sub: SublevelName; key: string; value: Json }
  | { type: 'del'; sub: SublevelName; key: string };

export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  target: string;
}

interface Pending {
  ops: StoreOp[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * The daemon's one LevelDB handle. `commit` is the only way to change durable state: ops are applied
 * as one atomic batch and the promise resolves only after an fsync. Concurrent commits are grouped
 * into a single synced batch (group commit), so many writers share one fsync without any of them
 * being acknowledged early.
 */
export class Store {
  readonly db: Level<string, Json>;
  private readonly subs: Record<SublevelName, Sub>;
  private queue: Pending[] = [];
  private flushing: Promise<void> | null = null;
  private auditSeq = 0;
  /** Figures for `daemon status` and the benchmarks. */
  readonly stats = { commits: 0, batches: 0, ops: 0 };
  /**
   * Records read per sublevel (`get` hits and `entries` rows): what a start or a listing cost, for
   * the tests and benchmarks that check it does not grow with history.
   */
  readonly reads = Object.fromEntries(SUBLEVELS.map((n) => [n, 0])) as Record<SublevelName, number>;

  private constructor(db: Level<string, Json>) {
    this.db = db;
    this.subs = Object.fromEntries(SUBLEVELS.map((n) => [n, db.sublevel<string, Json>(n, { valueEncoding: 'json' })])) as unknown as Record<SublevelName, Sub>;
  }

  /** Opens the store; a second daemon gets `locked` (LevelDB's LOCK file is the single-daemon lock). */
  static async open(dir: string): Promise<Store> {
    const db = new Level<string, Json>(dir, { valueEncoding: 'json' });
    try {
      await db.open();
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') throw new StoreLockedError(dir);
      throw e;
    }
    return new Store(db);
  }

  sub(name: SublevelName): Sub {
    return this.subs[name];
  }

  async get<T = Json>(sub: SublevelName, key: string): Promise<T | undefined> {
    const v = (await this.subs[sub].get(key)) as T | undefined;
    if (v !== undefined) this.reads[sub]++;
    return v;
  }

  /** Entries of a sublevel in key order. */
  async entries<T = Json>(sub: SublevelName, opts: { gt?: string; gte?: string; lt?: string; lte?: string; limit?: number; reverse?: boolean } = {}): Promise<[string, T][]> {
    const it = this.subs[sub].iterator({ ...opts, limit: opts.limit ?? -1 });
    const rows = (await it.all()) as [string, T][];
    this.reads[sub] += rows.length;
    return rows;
  }

  /**
   * A range of a sublevel in key order, `size` entries at a time: for scans that commit as they
   * go (retention, index migration), so each page is read after the previous page's writes.
   */
  async *pages<T = Json>(sub: SublevelName, range: { gt?: string; gte?: string; lt?: string }, size: number): AsyncGenerator<[string, T][]> {
    let from: { gt?: string; gte?: string } = range.gt !== undefined ? { gt: range.gt } : range.gte !== undefined ? { gte: range.gte } : {};
    for (;;) {
      const rows = await this.entries<T>(sub, { ...from, ...(range.lt !== undefined ? { lt: range.lt } : {}), limit: size });
      if (rows.length === 0) return;
      from = { gt: rows[rows.length - 1][0] };
      yield rows;
    }
  }

  /** Many values by key in one call (undefined where absent). */
  async getMany<T = Json>(sub: SublevelName, keys: string[]): Promise<(T | undefined)[]> {
    if (keys.length === 0) return [];
    const values = (await this.subs[sub].getMany(keys)) as (T | undefined)[];
    for (const v of values) if (v !== undefined) this.reads[sub]++;
    return values;
  }

  /**
   * The entries of many key ranges (given in ascending order, not overlapping) through ONE
   * iterator that seeks from range to range: thousands of small ranges cost far less than an
   * iterator each.
   */
  async ranges<T = Json>(sub: SublevelName, ranges: { gte: string; lt: string }[]): Promise<[string, T][][]> {
    // a few iterators side by side: LevelDB reads run on libuv's thread pool
    const lanes = Math.min(4, Math.ceil(ranges.length / 256));
    if (lanes > 1) {
      const size = Math.ceil(ranges.length / lanes);
      const parts = await Promise.all(Array.from({ length: lanes }, (_, i) => this.lane<T>(sub, ranges.slice(i * size, (i + 1) * size))));
      return parts.flat();
    }
    return this.lane(sub, ranges);
  }

  private async lane<T>(sub: SublevelName, ranges: { gte: string; lt: string }[]): Promise<[string, T][][]> {
    const out: [string, T][][] = [];
    const it = this.subs[sub].iterator();
    try {
      for (const r of ranges) {
        const rows: [string, T][] = [];
        it.seek(r.gte);
        for (;;) {
          const e = (await it.next()) as [string, T] | undefined;
          if (!e || e[0] >= r.lt) break;
          rows.push(e);
        }
        this.reads[sub] += rows.length;
        out.push(rows);
      }
    } finally {
      await it.close();
    }
    return out;
  }

  /** Keys only (no values decoded), in key order. */
  async keys(sub: SublevelName, opts: { gt?: string; gte?: string; lt?: string; lte?: string; limit?: number; reverse?: boolean } = {}): Promise<string[]> {
    const rows = (await this.subs[sub].keys({ ...opts, limit: opts.limit ?? -1 }).all()) as string[];
    this.reads[sub] += rows.length;
    return rows;
  }

  /** A non-durable write for data that may be lost in a crash (cache entries). */
  async putLoose(sub: SublevelName, key: string, value: Json): Promise<void> {
    await this.subs[sub].put(key, value);
  }

  /** Atomic, durable; with `audit`, the audit entry is part of the same batch. */
  commit(ops: StoreOp[], audit?: Omit<AuditEntry, 'at'>): Promise<void> {
    if (this.closed) return Promise.reject(new WireError('unavailable', 'the daemon is shutting down'));
    const all = audit ? [...ops, this.auditOp(audit)] : ops;
    return new Promise((resolve, reject) => {
      this.queue.push({ ops: all, resolve, reject });
      if (!this.flushing) this.flushing = this.flush();
    });
  }

  private auditOp(a: Omit<AuditEntry, 'at'>): StoreOp {
    const now = new Date();
    // time-ordered and unique within this process; a restart cannot collide because time moves on
    const key = `${now.getTime().toString().padStart(15, '0')}-${(this.auditSeq++).toString().padStart(6, '0')}`;
    return { type: 'put', sub: 'audit', key, value: { at: now.toISOString(), ...a } satisfies AuditEntry };
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      const ops = group.flatMap((p) => p.ops).map((op) =>
        op.type === 'put' ? { type: 'put' as const, sublevel: this.subs[op.sub], key: op.key, value: op.value } : { type: 'del' as const, sublevel: this.subs[op.sub], key: op.key },
      );
      try {
        await this.db.batch(ops as never, { sync: true });
        this.stats.batches++;
        this.stats.commits += group.length;
        this.stats.ops += ops.length;
        for (const p of group) p.resolve();
      } catch (e) {
        for (const p of group) p.reject(e);
      }
    }
    this.flushing = null;
  }

  private closed = false;

  /** Waits for queued commits, then closes the handle. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.db.close();
  }
}

export class StoreLockedError extends Error {
  constructor(readonly dir: string) {
    super(`the store at ${dir} is held by another daemon`);
    this.name = 'StoreLockedError';
  }
}
