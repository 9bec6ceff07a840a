import type { KvStore } from '../store/kv.js';
import type { StoreOp } from '../store/store.js';
import { bytesOf } from './runs.js';

/** The feed's storage: `feed  <cursor x15>` -> a row (feed.ts FeedRow), in cursor order. */
const WIDTH = 15;
const keyOf = (cursor: number): string => cursor.toString().padStart(WIDTH, '0');

export class FeedRepo<Row = unknown> {
  constructor(private readonly store: KvStore) {}

  /** The first and last cursors stored (null when the feed is empty). */
  async bounds(): Promise<{ first: number; last: number } | null> {
    const [last] = await this.store.keys('feed', { reverse: true, limit: 1 });
    const [first] = await this.store.keys('feed', { limit: 1 });
    return last === undefined ? null : { first: Number(first), last: Number(last) };
  }

  putOp(cursor: number, row: Row): StoreOp {
    return { type: 'put', sub: 'feed', key: keyOf(cursor), value: row as never };
  }

  /** Rows with a cursor in (after, upTo], oldest first. */
  async rows(after: number, upTo: number, limit: number): Promise<[number, Row][]> {
    return (await this.store.entries<Row>('feed', { gt: keyOf(after), lte: keyOf(upTo), limit })).map(([k, r]) => [Number(k), r]);
  }

  /** Every row, in pages (retention): cursor, row and its size on disk. */
  async *pages(size: number): AsyncGenerator<[number, Row, number][]> {
    for await (const rows of this.store.pages<Row>('feed', {}, size)) yield rows.map(([k, r]) => [Number(k), r, bytesOf(k, r)] as [number, Row, number]);
  }

  /** Cursors of rows before `keepFrom`, up to `limit`. */
  async before(keepFrom: number, limit: number): Promise<number[]> {
    return (await this.store.keys('feed', { lt: keyOf(keepFrom), limit })).map(Number);
  }

  delOp(cursor: number): StoreOp {
    return { type: 'del', sub: 'feed', key: keyOf(cursor) };
  }
}
