import { closeSync, existsSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import { WireError } from '../../protocol/index.js';
import { emptyValueError, pagesOf, type CommitOptions, type KvStore } from './kv.js';
import { RecoveryProbe } from './recovery-probe.js';
import { auditOp } from '../repos/audit.js';
import { tableNames, verifyLogs, verifyTablesOnce } from './verify.js';

/** Sublevel names; each holds JSON values under string keys. */
/** `feed`: the daemon-wide ordered stream of run events and notifications that `runs.watch` replays from a cursor. */
/**
 * Run indexes (repos/runs.ts), written in the same batch as the run change they follow:
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

/**
 * An audit entry as a put: keys time-ordered and unique within a process (a restart cannot collide
 * because time moves on); `by` (team mode: the executor id) keeps daemons writing in the same
 * millisecond apart.
 */
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
export class Store implements KvStore {
  /** Replaced when the handle is reopened after a write error (see `recover`). */
  db: Level<string, Json>;
  private subs: Record<SublevelName, Sub>;
  /** Set while the store cannot write: every commit is refused with it until a probe write succeeds. */
  private failure: WireError | null = null;
  private readonly recovery = new RecoveryProbe(() => this.tryRecover(), () => this.closed);
  private reopening: Promise<void> | null = null;
  private readonly writableListeners = new Set<() => void>();
  /** Test hook (documented in README): while this file exists, writes fail as on a full disk. */
  private readonly faultFile = process.env.OPSTREAM_STORE_FAULT_FILE || null;
  /**
   * Test hook (documented in README, used by `npm run chaos`): OPSTREAM_STORE_FAULT_SLOW_MS=<ms>
   * holds every synced batch that long after it is written and before it is acknowledged, as a
   * slow fsync would (the records are in the log, their writers still wait). Read once, at open.
   */
  private readonly slowMs = slowFsyncMs();
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

  private constructor(
    db: Level<string, Json>,
    readonly dir: string,
  ) {
    this.db = db;
    this.subs = subsOf(db);
  }

  /**
   * Opens the store; a second daemon gets `locked` (LevelDB's LOCK file is the single-daemon lock).
   * With `verify` (the daemon), every record of the files LevelDB would replay or read is checked
   * against its checksum first (LevelDB as bundled skips a bad log record silently): a corrupt store
   * is refused with StoreCorruptError, never opened with runs missing.
   */
  static async open(dir: string, opts: { verify?: boolean } = {}): Promise<Store> {
    let tables: string[] = [];
    if (opts.verify) {
      // the logs before the open: opening replays them into a table and deletes them, a bad record
      // and all (a torn tail is a crash's unacknowledged write and passes)
      const bad = verifyLogs(dir);
      if (bad) throw new StoreCorruptError(dir, bad);
      tables = tableNames(dir);
    }
    const db = new Level<string, Json>(dir, { valueEncoding: 'json' });
    try {
      await db.open();
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      if (cause?.code === 'LEVEL_LOCKED') throw new StoreLockedError(dir);
      if (cause?.code === 'LEVEL_CORRUPTION') throw new StoreCorruptError(dir, cause.message ?? 'corruption');
      throw e;
    }
    if (opts.verify) {
      // the tables that were there before the open (the LOCK is ours now; tables never change once
      // written, and one a compaction removed meanwhile is skipped)
      const bad = verifyTablesOnce(dir, tables);
      if (bad) {
        await db.close().catch(() => undefined);
        throw new StoreCorruptError(dir, bad);
      }
    }
    return new Store(db, dir);
  }

  /** Why the store cannot write now, or null. */
  get unwritable(): WireError | null {
    return this.failure;
  }

  /** Called each time the store can write again after a failure (pending work retries then). */
  onWritable(fn: () => void): () => void {
    this.writableListeners.add(fn);
    return () => this.writableListeners.delete(fn);
  }

  /** Reads wait out a reopen (a few milliseconds) instead of failing on the closed handle. */
  private async gate(): Promise<void> {
    while (this.reopening) await this.reopening;
  }

  sub(name: SublevelName): Sub {
    return this.subs[name];
  }

  async get<T = Json>(sub: SublevelName, key: string): Promise<T | undefined> {
    if (this.reopening) await this.gate();
    const v = (await this.subs[sub].get(key)) as T | undefined;
    if (v !== undefined) this.reads[sub]++;
    return v;
  }

  /** Entries of a sublevel in key order. */
  async entries<T = Json>(sub: SublevelName, opts: { gt?: string; gte?: string; lt?: string; lte?: string; limit?: number; reverse?: boolean } = {}): Promise<[string, T][]> {
    if (this.reopening) await this.gate();
    const it = this.subs[sub].iterator({ ...opts, limit: opts.limit ?? -1 });
    const rows = (await it.all()) as [string, T][];
    this.reads[sub] += rows.length;
    return rows;
  }

  /**
   * A range of a sublevel in key order, `size` entries at a time: for scans that commit as they
   * go (retention, index migration), so each page is read after the previous page's writes.
   */
  pages<T = Json>(sub: SublevelName, range: { gt?: string; gte?: string; lt?: string }, size: number): AsyncGenerator<[string, T][]> {
    return pagesOf<T>(this, sub, range, size);
  }

  /** Many values by key in one call (undefined where absent). */
  async getMany<T = Json>(sub: SublevelName, keys: string[]): Promise<(T | undefined)[]> {
    if (this.reopening) await this.gate();
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
    if (this.reopening) await this.gate();
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
    if (this.reopening) await this.gate();
    const rows = (await this.subs[sub].keys({ ...opts, limit: opts.limit ?? -1 }).all()) as string[];
    this.reads[sub] += rows.length;
    return rows;
  }

  /** A non-durable write for data that may be lost in a crash (cache entries). */
  async putLoose(sub: SublevelName, key: string, value: Json): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.reopening) await this.gate();
    try {
      this.injectFault();
      await this.subs[sub].put(key, value);
    } catch (e) {
      throw this.writeFailed(e);
    }
  }

  async delLoose(sub: SublevelName, key: string): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.reopening) await this.gate();
    await this.subs[sub].del(key);
  }

  /**
   * Atomic, durable; with `audit`, the audit entry is part of the same batch. Fences are a team-mode
   * notion (one daemon owns every run of a LevelDB store), so they always hold here.
   */
  commit(ops: StoreOp[], audit?: Omit<AuditEntry, 'at'>, _opts?: CommitOptions): Promise<void> {
    if (this.closed) return Promise.reject(new WireError('unavailable', 'the daemon is shutting down'));
    // refused at once while the store cannot write: nothing is attempted, nothing is left behind
    if (this.failure) return Promise.reject(this.failure);
    // refused alone, as abstract-level refuses it: a writer's bug, never something to store, and
    // not a reason to fail the batch it would have joined
    const empty = emptyValueError(ops);
    if (empty) return Promise.reject(empty);
    const all = audit ? [...ops, this.auditOp(audit)] : ops;
    return new Promise((resolve, reject) => {
      this.queue.push({ ops: all, resolve, reject });
      if (!this.flushing) this.flushing = this.flush();
    });
  }

  private auditOp(a: Omit<AuditEntry, 'at'>): StoreOp {
    return auditOp(a, this.auditSeq++);
  }

  private async flush(): Promise<void> {
    // always yields first: `this.flushing` is assigned before this body can finish (a group that
    // fails synchronously would otherwise clear it too early and leave it set for good)
    await this.gate();
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      if (this.failure) {
        for (const p of group) p.reject(this.failure);
        continue;
      }
      const ops = group.flatMap((p) => p.ops);
      try {
        this.injectFault();
        await this.write(ops);
        if (this.slowMs > 0) await new Promise((r) => setTimeout(r, this.slowMs));
        this.stats.batches++;
        this.stats.commits += group.length;
        this.stats.ops += ops.length;
        for (const p of group) p.resolve();
      } catch (e) {
        const err = this.closed && !this.failure ? e : this.writeFailed(e);
        for (const p of group) p.reject(err);
      }
    }
    this.flushing = null;
  }

  /**
   * One atomic synced LevelDB batch of `ops`. Keys are prefixed with the sublevel's public
   * `prefixKey` and values JSON-encoded here, exactly as the sublevels encode them (the bytes on
   * disk are the same), and the batch goes to classic-level's batch implementation (`_batch`, the
   * method abstract-level's `batch()` ends in) without abstract-level's per-operation
   * normalisation: option merging, encoding lookups and hook plumbing cost ~5.7 us per op against
   * 1.8 us (measured on the ops a real chain commits), a quarter of the main thread's time per
   * step. The store uses no hooks and no 'write' events, and only writes while open. A `level`
   * without `_batch` gets the public `batch()` with the same ops.
   */
  private write(ops: StoreOp[]): Promise<void> {
    const encoded = ops.map((op) => {
      const key = (this.subs[op.sub] as unknown as { prefixKey(key: string, format: 'utf8'): string }).prefixKey(op.key, 'utf8');
      return op.type === 'put' ? { type: 'put' as const, key, value: JSON.stringify(op.value), keyEncoding: 'utf8', valueEncoding: 'utf8' } : { type: 'del' as const, key, keyEncoding: 'utf8' };
    });
    const db = this.db as unknown as { _batch?: (ops: unknown[], options: { sync: boolean }) => Promise<void>; batch(ops: unknown[], options: object): Promise<void> };
    if (typeof db._batch === 'function' && this.db.status === 'open') return db._batch(encoded, { sync: true });
    return db.batch(encoded, { sync: true, keyEncoding: 'utf8', valueEncoding: 'utf8' });
  }

  private injectFault(): void {
    if (this.faultFile && existsSync(this.faultFile)) {
      const what = readFileSync(this.faultFile, 'utf8').trim() || 'enospc';
      throw Object.assign(new Error(`IO error: ${this.dir}: ${what === 'eio' ? 'Input/output error' : 'No space left on device'} (injected by ${this.faultFile})`), { code: 'LEVEL_IO_ERROR' });
    }
  }

  /**
   * A write failed: from now on every commit is refused with a clear, retryable error, and the
   * handle is never written again. After a failed append LevelDB's log may end in a torn record,
   * and records appended after it would be lost on the next open (the reader skips the rest of a
   * block with a bad checksum), so writing resumes only through a reopen, which replays the log up
   * to the torn tail and starts a fresh one (PostgreSQL likewise recovers from its WAL after a
   * failed write or fsync instead of retrying it). Probes with backoff until the disk takes writes.
   */
  private writeFailed(e: unknown): WireError {
    if (!this.failure) {
      const text = String((e as { cause?: Error })?.cause?.message ?? (e as Error)?.message ?? e);
      const why = /no space left|ENOSPC|disk full/i.test(text) ? 'no space left on device' : /quota/i.test(text) ? 'disk quota exceeded' : text.replace(/^IO error:\s*/i, '');
      this.failure = new WireError('store_unwritable', `cannot write to ${this.dir}: ${why}; new work is refused until it can (the daemon retries by itself)`, { retryable: true });
      this.recovery.schedule();
    }
    return this.failure;
  }

  /** One recovery attempt: a probe file write, then a reopen and a synced probe record. */
  private async tryRecover(): Promise<boolean> {
    if (this.closed) return false;
    try {
      this.injectFault();
      probeWrite(this.dir);
    } catch {
      return false;
    }
    while (this.flushing) await this.flushing;
    if (this.closed) return false;
    let done!: () => void;
    this.reopening = new Promise<void>((r) => (done = r));
    try {
      await this.db.close().catch(() => undefined);
      const fresh = new Level<string, Json>(this.dir, { valueEncoding: 'json' });
      await fresh.open();
      this.db = fresh;
      this.subs = subsOf(fresh);
      await this.subs.meta.put('store:last_recovered', { at: new Date().toISOString(), from: this.failure?.message ?? null }, { sync: true } as never);
    } catch {
      // still failing (the reopen itself needs a little space): the next attempt reopens again
      return false;
    } finally {
      this.reopening = null;
      done();
    }
    this.failure = null;
    for (const fn of this.writableListeners) {
      try {
        fn();
      } catch {
        // a listener's failure is its own
      }
    }
    return true;
  }

  private closed = false;

  /** Waits for queued commits, then closes the handle. */
  async close(): Promise<void> {
    this.closed = true;
    this.recovery.cancel();
    while (this.flushing) await this.flushing;
    while (this.reopening) await this.reopening;
    await this.db.close();
  }
}

function slowFsyncMs(): number {
  const ms = Number(process.env.OPSTREAM_STORE_FAULT_SLOW_MS ?? 0);
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 60_000) : 0;
}

function subsOf(db: Level<string, Json>): Record<SublevelName, Sub> {
  return Object.fromEntries(SUBLEVELS.map((n) => [n, db.sublevel<string, Json>(n, { valueEncoding: 'json' })])) as unknown as Record<SublevelName, Sub>;
}

/** Whether the disk takes a synced write of a little more than a LevelDB log block. */
function probeWrite(dir: string): void {
  const file = join(dir, 'PROBE.tmp');
  try {
    const fd = openSync(file, 'w', 0o600);
    try {
      writeSync(fd, Buffer.alloc(64 * 1024));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } finally {
    rmSync(file, { force: true });
  }
}

export class StoreCorruptError extends Error {
  constructor(
    readonly dir: string,
    readonly detail: string,
  ) {
    super(
      `the store at ${dir} is corrupt (${detail}); the daemon will not start on it. ` +
        'Run `opstream daemon repair` to salvage what is intact (it reports what was lost), ' +
        'or `opstream daemon restore <backup> --force` to go back to a backup',
    );
    this.name = 'StoreCorruptError';
  }
}

export class StoreLockedError extends Error {
  constructor(readonly dir: string) {
    super(`the store at ${dir} is held by another daemon`);
    this.name = 'StoreLockedError';
  }
}
