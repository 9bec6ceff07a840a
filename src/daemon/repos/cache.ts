import type { KvStore } from '../store/kv.js';
import type { StoreOp } from '../store/store.js';

/**
 * The tool-result cache's storage: `cache  tool:<server>:<tool>:<sha256 of the canonical args>`.
 * Writes are loose (not fsynced): losing an entry in a crash only costs a call.
 */
const key = (server: string, tool: string, argsDigest: string): string => `tool:${server}:${tool}:${argsDigest}`;

export class CacheRepo {
  constructor(private readonly store: KvStore) {}

  get<T>(server: string, tool: string, argsDigest: string): Promise<T | undefined> {
    return this.store.get<T>('cache', key(server, tool, argsDigest));
  }

  put(server: string, tool: string, argsDigest: string, value: unknown): Promise<void> {
    return this.store.putLoose('cache', key(server, tool, argsDigest), value);
  }

  del(server: string, tool: string, argsDigest: string): Promise<void> {
    return this.store.delLoose('cache', key(server, tool, argsDigest));
  }

  /** Every entry, in pages (retention judges each by its `stored_at`). */
  async *pages<T>(size: number): AsyncGenerator<[string, T][]> {
    yield* this.store.pages<T>('cache', {}, size);
  }

  delOp(k: string): StoreOp {
    return { type: 'del', sub: 'cache', key: k };
  }
}
