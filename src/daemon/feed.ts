import type { RunEventPush, WatchItem } from '../protocol/index.js';
import type { Service } from './context.js';
import type { CommitOptions, KvStore } from './store/kv.js';
import type { StoreOp } from './store/store.js';
import type { Repos } from './repos/index.js';
import type { FeedRepo } from './repos/feed.js';

/** What a feed row holds: run events and notifications by reference (their rows are the truth). */
export type FeedRow =
  | { topic: 'runs'; event: string; ref: string; status: string; workflow: string }
  | { topic: 'notifications'; event: 'notification'; ref: string }
  | { topic: 'notifications'; event: 'delivery'; data: Record<string, unknown> };

export type FeedItemInput =
  | { topic: 'runs'; event: string; ref: string; data: RunEventPush }
  | { topic: 'notifications'; event: 'notification'; ref: string; data: Record<string, unknown> }
  | { topic: 'notifications'; event: 'delivery'; data: Record<string, unknown> };

/**
 * The daemon-wide ordered stream behind `runs.watch`. Every run event and notification gets the
 * next cursor when its commit is prepared, a feed row in the SAME batch, and is published to live
 * watchers strictly in cursor order once durable (a later commit that finishes first waits for the
 * earlier one), so a watcher that remembers its last cursor can resume with no gap and no repeat,
 * across daemon restarts too.
 */
export class Feed implements Service {
  readonly name = 'feed';
  private nextCursor = 1;
  private lastPublished = 0;
  private oldestKept = 1;
  /** Cursors reserved but not yet published: the item once durable, null if its commit failed. */
  private readonly settled = new Map<number, WatchItem | null>();
  private readonly listeners = new Set<(item: WatchItem) => void>();

  private readonly rows: FeedRepo<FeedRow>;

  constructor(
    private readonly store: KvStore,
    private readonly repos: Pick<Repos, 'feed' | 'runs' | 'outbox'>,
  ) {
    this.rows = repos.feed as FeedRepo<FeedRow>;
  }

  async stop(): Promise<void> {
    this.listeners.clear();
  }

  async start(): Promise<void> {
    const bounds = await this.rows.bounds();
    if (bounds) this.nextCursor = bounds.last + 1;
    this.lastPublished = this.nextCursor - 1;
    this.oldestKept = bounds ? bounds.first : this.nextCursor;
  }

  /** The cursor of the last item live watchers have been sent. */
  get head(): number {
    return this.lastPublished;
  }

  get oldest(): number {
    return this.oldestKept;
  }

  /** Reserves a cursor for an item and returns the op that stores it (put it in the same batch). */
  prepare(input: FeedItemInput): { cursor: number; op: StoreOp; item: WatchItem } {
    const cursor = this.nextCursor++;
    const row: FeedRow =
      input.topic === 'runs'
        ? { topic: 'runs', event: input.event, ref: input.ref, status: input.data.status, workflow: input.data.workflow }
        : input.event === 'notification'
          ? { topic: 'notifications', event: 'notification', ref: input.ref }
          : { topic: 'notifications', event: 'delivery', data: input.data };
    const item = { cursor, topic: input.topic, event: input.event, data: input.data } as WatchItem;
    return { cursor, op: this.rows.putOp(cursor, row), item };
  }

  /** After the batch: publishes what is now durable (or skips what failed), in cursor order. */
  settle(items: { cursor: number; item: WatchItem }[], ok: boolean): void {
    for (const { cursor, item } of items) this.settled.set(cursor, ok ? item : null);
    for (;;) {
      const next = this.lastPublished + 1;
      if (!this.settled.has(next)) break;
      const item = this.settled.get(next)!;
      this.settled.delete(next);
      this.lastPublished = next;
      if (item) for (const fn of this.listeners) fn(item);
    }
  }

  /**
   * Commits `ops` (holding the feed rows of `items`) and settles the items either way: published
   * once durable, skipped if the batch failed. Every writer of feed rows commits through here.
   */
  /**
   * `durable` runs once the batch is on disk and before any listener hears of it: a writer whose
   * in-memory state follows the disk (the engine's live run records) catches up there, so a listener
   * that reads that state on an item sees the change the item announces.
   */
  async commit(ops: StoreOp[], items: { cursor: number; item: WatchItem }[], audit?: Parameters<KvStore['commit']>[1], opts?: CommitOptions, durable?: () => void): Promise<void> {
    try {
      await this.store.commit(ops, audit, opts);
    } catch (e) {
      this.settle(items, false);
      throw e;
    }
    durable?.();
    this.settle(items, true);
  }

  /**
   * Team mode: an item another member committed (its run events), for live watchers here. It
   * takes the next cursor but no feed row: a watcher that resumes from a cursor gets this daemon's
   * own items again, and another member's only while connected (their rows are in the events).
   */
  publishTransient(input: { topic: 'runs'; event: string; data: RunEventPush }): void {
    const cursor = this.nextCursor++;
    this.settle([{ cursor, item: { cursor, topic: input.topic, event: input.event, data: input.data } as WatchItem }], true);
  }

  /** Whether anyone (a watcher, a chat bridge) listens to the feed now. */
  get listened(): boolean {
    return this.listeners.size > 0;
  }

  onPublish(fn: (item: WatchItem) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Durable items after `cursor`, oldest first, up to `limit`. */
  async replay(after: number, limit = 1000): Promise<WatchItem[]> {
    const rows = await this.rows.rows(after, this.lastPublished, limit);
    const out: WatchItem[] = [];
    for (const [cursor, row] of rows) {
      if (row.topic === 'runs') {
        const ev = await this.repos.runs.eventAt<Record<string, unknown>>(row.ref);
        if (ev) out.push({ cursor, topic: 'runs', event: row.event, data: { ...ev, status: row.status, workflow: row.workflow } as RunEventPush });
      } else if (row.event === 'notification') {
        const n = (await this.repos.outbox.get(row.ref)) as Record<string, unknown> | undefined;
        if (n) out.push({ cursor, topic: 'notifications', event: 'notification', data: n });
      } else out.push({ cursor, topic: 'notifications', event: 'delivery', data: row.data });
    }
    return out;
  }

  /** Drops rows older than `keepFrom` (by cursor) — the retention sweep calls it. */
  async trimBefore(keepFrom: number): Promise<number> {
    const cursors = await this.rows.before(keepFrom, 10_000);
    if (cursors.length) await this.store.commit(cursors.map((c) => this.rows.delOp(c)));
    this.oldestKept = (await this.rows.bounds())?.first ?? this.nextCursor;
    return cursors.length;
  }
}
