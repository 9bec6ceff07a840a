import type { KvStore } from '../store/kv.js';
import type { StoreOp } from '../store/store.js';

/**
 * A named family of rows in the shared `meta` sublevel, `meta  <prefix><id>`: the repositories of
 * small domains (chat bookkeeping, stats buckets) each own their prefixes through one of these, so
 * no caller builds a meta key. Ids sort as the keys do (bytes).
 */
export class MetaTable<T> {
  constructor(
    private readonly store: KvStore,
    /** Includes its separator (`slack_sent:`). */
    readonly prefix: string,
    /** What bounds a prefix scan from above: `~` for tables whose ids are ASCII by construction (as they were always read). */
    private readonly end: '~' | '\uffff' = '\uffff',
  ) {}

  private key(id: string): string {
    return `${this.prefix}${id}`;
  }

  get(id: string): Promise<T | undefined> {
    return this.store.get<T>('meta', this.key(id));
  }

  /** Whether a row is there (a truthy value). */
  async has(id: string): Promise<boolean> {
    return Boolean(await this.get(id));
  }

  putOp(id: string, value: T): StoreOp {
    return { type: 'put', sub: 'meta', key: this.key(id), value: value as never };
  }

  delOp(id: string): StoreOp {
    return { type: 'del', sub: 'meta', key: this.key(id) };
  }

  /** Rows whose id starts with `idPrefix` (all by default) and, when given, sorts before `below`: `[id, value]` in id order. */
  async entries(idPrefix = '', below?: string): Promise<[string, T][]> {
    const rows = await this.store.entries<T>('meta', { gte: this.key(idPrefix), lt: below !== undefined ? this.key(below) : `${this.key(idPrefix)}${this.end}` });
    return rows.map(([k, v]) => [k.slice(this.prefix.length), v]);
  }

  /** Ids of the rows whose id starts with `idPrefix`. */
  async ids(idPrefix = ''): Promise<string[]> {
    return (await this.store.keys('meta', { gte: this.key(idPrefix), lt: `${this.key(idPrefix)}${this.end}` })).map((k) => k.slice(this.prefix.length));
  }

  /** Non-durable write (figures a crash may lose the last seconds of). */
  putLoose(id: string, value: T): Promise<void> {
    return this.store.putLoose('meta', this.key(id), value);
  }
}
