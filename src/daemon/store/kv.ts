import type { WireError } from '../../protocol/index.js';
import type { AuditEntry, StoreOp, SublevelName } from './store.js';

/** A key range of one sublevel; keys compare as bytes (LevelDB order; PostgreSQL `COLLATE "C"`). */
export interface KvRange {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  limit?: number;
  reverse?: boolean;
}

/**
 * A fence on a commit (team mode): the commit applies only while `run` is still hosted by
 * `executor` at `epoch` (checked under a row lock in the commit's own transaction). A daemon that lost
 * a run to another (it was thought dead) has its late writes refused instead of interleaving.
 */
export interface RunFence {
  run: string;
  executor: string;
  epoch: number;
  /** The run's creation: the owner row is inserted (executor, epoch) if it is not there yet. */
  create?: boolean;
}

export interface CommitOptions {
  fences?: RunFence[];
  /**
   * Team mode: NOTIFY each channel with its payload in the commit's own transaction, so listeners
   * (`PgStore.listen`) hear of it only once it committed. The LevelDB store ignores it (one daemon,
   * nobody else to tell).
   */
  notify?: { channel: string; payload: string }[];
}

/**
 * Read-only SQL where the data is (team mode's PostgreSQL), for a repository's aggregate that would
 * otherwise read every row into the daemon (RunsRepo.activeCounts). Absent on LevelDB.
 */
export interface SqlReads {
  /** The qualified table of a sublevel: columns `key` (text, byte order) and `value` (the JSON text). */
  table(sub: SublevelName): string;
  query<R extends Record<string, unknown>>(text: string, values?: unknown[]): Promise<R[]>;
}

/**
 * What the daemon needs of durable storage. Two backends: `Store` (LevelDB, one daemon, the
 * default) and `PgStore` (PostgreSQL, team mode, shared by every daemon of the team). Both:
 * - `commit` is the only way to change durable state: atomic, acknowledged only once durable, and
 *   group-committed (concurrent callers share one sync);
 * - reads return keys in byte order, exactly as LevelDB iterates;
 * - values are JSON; a null/undefined value is refused for its commit alone;
 * - while writes fail, `unwritable` says why (retryable) and `onWritable` listeners run on recovery.
 */
export interface KvStore {
  /** Where the data lives, for messages (a directory, or a masked database URL). */
  readonly dir: string;
  readonly stats: { commits: number; batches: number; ops: number };
  readonly reads: Record<SublevelName, number>;
  readonly unwritable: WireError | null;
  /** PostgreSQL only: see SqlReads. */
  readonly sql?: SqlReads;
  onWritable(fn: () => void): () => void;
  get<T = unknown>(sub: SublevelName, key: string): Promise<T | undefined>;
  getMany<T = unknown>(sub: SublevelName, keys: string[]): Promise<(T | undefined)[]>;
  entries<T = unknown>(sub: SublevelName, opts?: KvRange): Promise<[string, T][]>;
  keys(sub: SublevelName, opts?: KvRange): Promise<string[]>;
  pages<T = unknown>(sub: SublevelName, range: { gt?: string; gte?: string; lt?: string }, size: number): AsyncGenerator<[string, T][]>;
  ranges<T = unknown>(sub: SublevelName, ranges: { gte: string; lt: string }[]): Promise<[string, T][][]>;
  /** Non-durable writes for data a crash may lose (cache entries). */
  putLoose(sub: SublevelName, key: string, value: unknown): Promise<void>;
  delLoose(sub: SublevelName, key: string): Promise<void>;
  commit(ops: StoreOp[], audit?: Omit<AuditEntry, 'at'>, opts?: CommitOptions): Promise<void>;
  close(): Promise<void>;
}

/**
 * A range of a sublevel in key order, `size` entries at a time, each page read after the previous
 * one was handed out (scans that commit as they go, like retention, see their own writes): both
 * backends' `pages`.
 */
export async function* pagesOf<T>(store: Pick<KvStore, 'entries'>, sub: SublevelName, range: { gt?: string; gte?: string; lt?: string }, size: number): AsyncGenerator<[string, T][]> {
  let from: { gt?: string; gte?: string } = range.gt !== undefined ? { gt: range.gt } : range.gte !== undefined ? { gte: range.gte } : {};
  for (;;) {
    const rows = await store.entries<T>(sub, { ...from, ...(range.lt !== undefined ? { lt: range.lt } : {}), limit: size });
    if (rows.length === 0) return;
    from = { gt: rows[rows.length - 1][0] };
    yield rows;
  }
}

/** A put of a null or undefined value: refused for its own commit, on both backends (a writer's bug, never something to store). */
export function emptyValueError(ops: StoreOp[]): Error | null {
  const empty = ops.find((op) => op.type === 'put' && (op.value === undefined || op.value === null));
  return empty ? new Error(`store: a value cannot be null or undefined (${empty.sub}/${empty.key})`) : null;
}
