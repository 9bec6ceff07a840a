import type { KvStore } from '../store/kv.js';
import type { StoreOp } from '../store/store.js';

/**
 * The memory domain's storage, one sublevel shared by:
 *
 *   memory   sum:<run_id>          -> RunSummary     what a finished run found (recall, `ask`)
 *   memory   vec:<run_id>          -> StoredVector   its embedding
 *   memory   conv:<run_id>         -> { turns }      `opstream ask` conversation about a run
 *   memory   replay:<run_id>:<n>   -> a replay of the run's model steps (`opstream replay`)
 *   memory   <any other key>       -> { value, updated_at }   `opstream memory set/get` (user keys)
 */
const SUM = 'sum:';
const VEC = 'vec:';
const CONV = 'conv:';
const replayPrefix = (runId: string): string => `replay:${runId}:`;

/** The run id of a summary key, or null (team migrate announces the summaries it copied). */
export function runIdOfSummaryKey(key: string): string | null {
  return key.startsWith(SUM) ? key.slice(SUM.length) : null;
}

export interface StoredVector {
  model: string;
  dim: number;
  v: number[];
}

export interface UserMemory {
  value: unknown;
  updated_at: string;
}

export const memoryOps = {
  summary: (runId: string, s: unknown): StoreOp => ({ type: 'put', sub: 'memory', key: `${SUM}${runId}`, value: s as never }),
  vector: (runId: string, v: StoredVector): StoreOp => ({ type: 'put', sub: 'memory', key: `${VEC}${runId}`, value: v as never }),
  /** A run's summary and vector go together. */
  forget: (runId: string): StoreOp[] => [
    { type: 'del', sub: 'memory', key: `${SUM}${runId}` },
    { type: 'del', sub: 'memory', key: `${VEC}${runId}` },
  ],
  conversation: (runId: string, conv: unknown): StoreOp => ({ type: 'put', sub: 'memory', key: `${CONV}${runId}`, value: conv as never }),
  user: (key: string, m: UserMemory): StoreOp => ({ type: 'put', sub: 'memory', key, value: m as never }),
  delUser: (key: string): StoreOp => ({ type: 'del', sub: 'memory', key }),
};

export class MemoryRepo {
  constructor(private readonly store: KvStore) {}

  async summaries<S>(): Promise<S[]> {
    return (await this.store.entries<S>('memory', { gte: SUM, lt: `${SUM}~` })).map(([, s]) => s);
  }

  /** Every stored vector by run id. */
  async vectors(): Promise<[string, StoredVector][]> {
    return (await this.store.entries<StoredVector>('memory', { gte: VEC, lt: `${VEC}~` })).map(([k, v]) => [k.slice(VEC.length), v]);
  }

  summary<S>(runId: string): Promise<S | undefined> {
    return this.store.get<S>('memory', `${SUM}${runId}`);
  }

  vector(runId: string): Promise<StoredVector | undefined> {
    return this.store.get<StoredVector>('memory', `${VEC}${runId}`);
  }

  conversation<C>(runId: string): Promise<C | undefined> {
    return this.store.get<C>('memory', `${CONV}${runId}`);
  }

  /** The next replay of a run: its id (the key) and the op that stores it. */
  async nextReplay(runId: string, value: unknown): Promise<{ id: string; op: StoreOp }> {
    const n = (await this.store.keys('memory', { gte: replayPrefix(runId), lt: `${replayPrefix(runId)}~` })).length + 1;
    const id = `${replayPrefix(runId)}${n}`;
    return { id, op: { type: 'put', sub: 'memory', key: id, value: value as never } };
  }

  /** Ops removing what memory holds of a run besides its summary: its conversation and replays (retention). */
  async removeOfRun(runId: string): Promise<StoreOp[]> {
    const ops: StoreOp[] = [];
    if ((await this.store.get('memory', `${CONV}${runId}`)) !== undefined) ops.push({ type: 'del', sub: 'memory', key: `${CONV}${runId}` });
    for (const k of await this.store.keys('memory', { gte: replayPrefix(runId), lt: `${replayPrefix(runId)}~` })) ops.push({ type: 'del', sub: 'memory', key: k });
    return ops;
  }

  user(key: string): Promise<UserMemory | undefined> {
    return this.store.get<UserMemory>('memory', key);
  }

  /** User keys starting with `prefix`, in key order. */
  async users(prefix: string, limit: number): Promise<[string, UserMemory][]> {
    return this.store.entries<UserMemory>('memory', { gte: prefix, lt: `${prefix}\uffff`, limit });
  }
}
