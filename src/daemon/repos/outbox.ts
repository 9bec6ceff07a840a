import type { Notification } from '../../protocol/index.js';
import type { KvStore } from '../store/kv.js';
import type { StoreOp } from '../store/store.js';
import { bytesOf } from './runs.js';

/**
 * The notifications domain's storage (notify/notifier.ts delivers; this module owns the keys):
 *
 *   outbox   <ms x15>-<seq base36 x6>-<run_id|daemon>  -> Notification   time-ordered: retention reads a prefix
 *   meta     npend:<id>             -> 1 | executor id   the pending index: entries with a channel still pending
 *                                                       (team mode: the member delivering it)
 *   meta     outbox:pending-index   -> mark: an outbox written before the pending index was indexed
 *   meta     nrun:<run_id>:<id>     -> 1                 a run's notifications, in time order
 *   meta     pd_open:<hook>:<key>   -> 1                 PagerDuty incidents open per webhook (hook names have no ':')
 *
 * Ops are returned for the caller's batch: an entry is written with the run change that made it.
 */
const PENDING = 'npend:';
const PENDING_MARK = 'outbox:pending-index';
const PD_OPEN = 'pd_open:';
const pad = (n: number): string => Math.max(0, n).toString().padStart(15, '0');
const runLink = (runId: string, id: string): string => `nrun:${runId}:${id}`;

export const outboxOps = {
  put: (entry: Notification): StoreOp => ({ type: 'put', sub: 'outbox', key: entry.id, value: entry as never }),
  /** Names the entry in the pending index; `by`: the delivering member (team mode) or 1. */
  pending: (id: string, by: string | 1): StoreOp => ({ type: 'put', sub: 'meta', key: `${PENDING}${id}`, value: by }),
  notPending: (id: string): StoreOp => ({ type: 'del', sub: 'meta', key: `${PENDING}${id}` }),
  ofRun: (runId: string, id: string): StoreOp => ({ type: 'put', sub: 'meta', key: runLink(runId, id), value: 1 }),
  pdOpen: (hook: string, key: string): StoreOp => ({ type: 'put', sub: 'meta', key: `${PD_OPEN}${hook}:${key}`, value: 1 }),
  pdClosed: (hook: string, key: string): StoreOp => ({ type: 'del', sub: 'meta', key: `${PD_OPEN}${hook}:${key}` }),
  /** Everything a removed notification leaves behind: the entry, its pending index row, its run link. */
  remove: (id: string, runId: string | null | undefined): StoreOp[] => [
    { type: 'del', sub: 'outbox', key: id },
    outboxOps.notPending(id),
    ...(runId ? [{ type: 'del' as const, sub: 'meta' as const, key: runLink(runId, id) }] : []),
  ],
};

/** A new entry's id: time-ordered (`at` in ms), unique per daemon by `seq`, and naming its run. */
export function notificationId(at: number, seq: number, runId: string | null): string {
  return `${pad(at)}-${seq.toString(36).padStart(6, '0')}-${runId ?? 'daemon'}`;
}

export class OutboxRepo {
  constructor(private readonly store: KvStore) {}

  get(id: string): Promise<Notification | undefined> {
    return this.store.get<Notification>('outbox', id);
  }

  getMany(ids: string[]): Promise<(Notification | undefined)[]> {
    return this.store.getMany<Notification>('outbox', ids);
  }

  /** The newest `limit` entries before `before` (an id), newest first. */
  async newest(limit: number, before?: string): Promise<Notification[]> {
    return (await this.store.entries<Notification>('outbox', { ...(before ? { lt: before } : {}), reverse: true, limit })).map(([, e]) => e);
  }

  /** Ids of a run's notifications before `before` (an id), newest first. */
  async idsOfRun(runId: string, limit: number, before?: string): Promise<string[]> {
    const prefix = runLink(runId, '');
    return (await this.store.keys('meta', { gte: prefix, lt: before ? runLink(runId, before) : `${prefix}~`, reverse: true, limit })).map((k) => k.slice(prefix.length));
  }

  /** Every id of a run's notifications (retention), oldest first. */
  async allIdsOfRun(runId: string): Promise<string[]> {
    const prefix = runLink(runId, '');
    return (await this.store.keys('meta', { gte: prefix, lt: `${prefix}~` })).map((k) => k.slice(prefix.length));
  }

  /** The pending index: `[id, by]` (by: 1, or the executor id of the member delivering it). */
  async pending(): Promise<[string, unknown][]> {
    return (await this.store.entries<unknown>('meta', { gte: PENDING, lt: `${PENDING}~` })).map(([k, v]) => [k.slice(PENDING.length), v]);
  }

  /**
   * An outbox written before the pending index existed is indexed once (the only full read of
   * it). Returns after committing the index and its mark, or at once when it was indexed already.
   */
  async indexPending(): Promise<void> {
    if ((await this.store.get('meta', PENDING_MARK)) !== undefined) return;
    const ops: StoreOp[] = [];
    for (const [key, entry] of await this.store.entries<Notification>('outbox')) {
      if (Object.values(entry.channels).some((c) => c.state === 'pending')) ops.push(outboxOps.pending(key, 1));
    }
    ops.push({ type: 'put', sub: 'meta', key: PENDING_MARK, value: { at: new Date().toISOString(), pending: ops.length } });
    await this.store.commit(ops);
  }

  /** PagerDuty incidents open: `[hook, incident key]`. */
  async pdOpen(): Promise<[string, string][]> {
    return (await this.store.keys('meta', { gte: PD_OPEN, lt: `${PD_OPEN}~` })).map((k) => {
      // hook names have no ':', incident keys may
      const rest = k.slice(PD_OPEN.length);
      const at = rest.indexOf(':');
      return [rest.slice(0, at), rest.slice(at + 1)];
    });
  }

  /** Entries created before `before` (ms), oldest first, `size` at a time (retention). */
  async *before(before: number, size: number): AsyncGenerator<[string, Notification][]> {
    yield* this.store.pages<Notification>('outbox', { lt: pad(before) }, size);
  }

  /** Removal of a run's notifications (retention): ops, and the ids and sizes of those that existed. */
  async removeOfRun(runId: string): Promise<{ ops: StoreOp[]; removed: { id: string; bytes: number }[] }> {
    const ops: StoreOp[] = [];
    const removed: { id: string; bytes: number }[] = [];
    for (const id of await this.allIdsOfRun(runId)) {
      const n = await this.get(id);
      ops.push(...outboxOps.remove(id, runId));
      if (n !== undefined) removed.push({ id, bytes: bytesOf(id, n) });
    }
    return { ops, removed };
  }
}
