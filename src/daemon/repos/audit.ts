import type { KvStore } from '../store/kv.js';
import type { AuditEntry, StoreOp } from '../store/store.js';

/**
 * The audit log's storage. Keys are time-ordered, `<ms x15>-<seq x6>[-<executor>]` (team mode: the
 * writer's executor id, so two members' entries of one millisecond stay apart), so a time bound is
 * a key bound. Entries are written only by `KvStore.commit`'s `audit` argument (both backends call
 * `auditOp`), in the batch they describe.
 */
const pad = (ms: number): string => Math.max(0, ms).toString().padStart(15, '0');

export function auditOp(a: Omit<AuditEntry, 'at'>, seq: number, by?: string): StoreOp {
  const now = new Date();
  const key = `${now.getTime().toString().padStart(15, '0')}-${seq.toString().padStart(6, '0')}${by ? `-${by}` : ''}`;
  return { type: 'put', sub: 'audit', key, value: { at: now.toISOString(), ...a } satisfies AuditEntry };
}

export class AuditRepo {
  constructor(private readonly store: KvStore) {}

  /**
   * Entries newest first, `limit` at a time: since `sinceMs` (null: all), before `cursor` (the
   * `cursor` of the last entry of the page before).
   */
  async newest(sinceMs: number | null, limit: number, cursor?: string): Promise<{ entry: AuditEntry; cursor: string }[]> {
    const rows = await this.store.entries<AuditEntry>('audit', { reverse: true, limit, ...(sinceMs !== null ? { gte: pad(sinceMs) } : {}), ...(cursor ? { lt: cursor } : {}) });
    return rows.map(([k, entry]) => ({ entry, cursor: k }));
  }

  /** Entries written before `before` (ms), oldest first, `size` at a time (retention). */
  async *before(before: number, size: number): AsyncGenerator<[string, AuditEntry][]> {
    yield* this.store.pages<AuditEntry>('audit', { lt: pad(before) }, size);
  }

  delOp(key: string): StoreOp {
    return { type: 'del', sub: 'audit', key };
  }
}
