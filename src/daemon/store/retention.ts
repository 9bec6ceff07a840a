import { RETENTION_KINDS, type RetentionKind } from '../../config/load.js';
import type { Result } from '../../protocol/index.js';
import type { Logger } from 'pino';
import type { CompiledConfig } from '../../config/load.js';
import type { Service } from '../context.js';
import type { Engine } from '../engine/engine.js';
import type { Feed } from '../feed.js';
import type { MemoryService } from '../memory/memory.js';
import type { Notifier } from '../notify/notifier.js';
import type { Repos } from '../repos/index.js';
import type { KvStore } from './kv.js';
import type { FeedRow } from '../feed.js';
import { chatIds } from '../repos/chat-state.js';
import type { FeedRepo } from '../repos/feed.js';
import { outboxOps } from '../repos/outbox.js';
import { bytesOf, runIdOfEventRef, runOps, type RunHeader } from '../repos/runs.js';
import type { StoreOp } from './store.js';

/** The first sweep waits this long after start (the daemon serves first; OPSTREAM_RETENTION_DELAY_MS overrides it), then one per hour. */
const FIRST_SWEEP_MS = 60_000;
const SWEEP_EVERY_MS = 3_600_000;
/** Runs per batch (each run's rows are one atomic batch with the others of its batch). */
const RUN_BATCH = 50;
/** Rows per batch for the flat kinds (notifications, audit, cache, feed). */
const ROW_BATCH = 500;
/** `runs.watch` can replay this many feed items after a disconnect (the feed's own cap, no rule needed). */
const FEED_KEEP = 200_000;

/** Lets requests and deliveries in between batches: a sweep never holds the event loop for long. */
const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

export type SweepResult = Result<'store.gc'>;

/**
 * What the sweep uses: the repositories of every kind it removes, the store to commit to, and the
 * services whose memory follows the store (the engine's finished-runs summary, the notifier's live
 * entries, memory's recall index, the feed's bounds).
 */
export interface RetentionDeps {
  log: Logger;
  config: Pick<CompiledConfig, 'retention'>;
  store: Pick<KvStore, 'commit'>;
  repos: Pick<Repos, 'runs' | 'outbox' | 'memory' | 'chat' | 'audit' | 'cache' | 'feed'>;
  engine: Pick<Engine, 'isActive' | 'dropFinished'>;
  notifier: Pick<Notifier, 'forget'>;
  memory: Pick<MemoryService, 'expire'>;
  feed: Pick<Feed, 'head' | 'oldest' | 'trimBefore'>;
}

class SweepStopped extends Error {}
type Figures = { count: number; bytes: number };

/**
 * Applies the `retention:` rules (config) in the background and for `opstream gc`. Nothing is
 * removed without a rule for its kind. Only finished runs are ever removed (the `ended` index
 * lists nothing else, and an active run is skipped even so); their step rows, events, index
 * entries, notifications, conversations, Slack thread records and feed rows go with them. Each
 * batch is one atomic commit; one audit entry per sweep sums it up.
 */
export class RetentionService implements Service {
  readonly name = 'retention';
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();
  private stopping = false;

  constructor(private readonly d: RetentionDeps) {}

  async start(): Promise<void> {
    const tick = (): void => {
      void this.sweep({ dryRun: false, actor: 'policy:retention' })
        .catch((err) => this.d.log.error({ err }, 'retention sweep failed (retried at the next one)'))
        .finally(() => {
          if (!this.stopping) (this.timer = setTimeout(tick, SWEEP_EVERY_MS)).unref();
        });
    };
    const first = Number(process.env.OPSTREAM_RETENTION_DELAY_MS ?? FIRST_SWEEP_MS);
    this.timer = setTimeout(tick, Number.isFinite(first) && first >= 0 ? first : FIRST_SWEEP_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running.catch(() => undefined);
  }

  /** Between two batches: lets other work run, and ends the sweep when the daemon stops. */
  private async between(): Promise<void> {
    await yieldLoop();
    if (this.stopping) throw new SweepStopped();
  }

  /** One sweep at a time: a second caller waits for the one under way, then runs its own. */
  sweep(o: { dryRun: boolean; actor: string }): Promise<SweepResult> {
    const next = this.running.catch(() => undefined).then(() => this.sweepNow(o));
    this.running = next;
    return next;
  }

  private async sweepNow(o: { dryRun: boolean; actor: string }): Promise<SweepResult> {
    const t0 = Date.now();
    const rules = this.d.config.retention;
    const removed = Object.fromEntries([...RETENTION_KINDS, 'feed'].map((k) => [k, { count: 0, bytes: 0 }])) as Record<RetentionKind | 'feed', Figures>;
    const gone = { runs: new Set<string>(), notifications: new Set<string>() };
    const cutoff = (kind: RetentionKind): number | null => (rules[kind] === null ? null : t0 - rules[kind]!);
    const c = { runs: cutoff('runs'), events: cutoff('events'), notifications: cutoff('notifications'), audit: cutoff('audit'), cache: cutoff('cache'), memory: cutoff('memory') };
    try {
      if (c.runs !== null) await this.runs(c.runs, o.dryRun, removed, gone);
      if (c.events !== null) await this.events(c.events, o.dryRun, removed, gone);
      if (c.notifications !== null) await this.notifications(c.notifications, o.dryRun, removed, gone);
      const { audit, cache } = this.d.repos;
      if (c.audit !== null) await this.flat(audit.before(c.audit, ROW_BATCH), (k) => audit.delOp(k), () => true, o.dryRun, removed.audit);
      if (c.cache !== null) await this.flat(cache.pages(ROW_BATCH), (k) => cache.delOp(k), (v) => !(typeof (v as { stored_at?: unknown })?.stored_at === 'number' && (v as { stored_at: number }).stored_at >= c.cache!), o.dryRun, removed.cache);
      if (c.memory !== null) {
        const m = await this.d.memory.expire(new Date(c.memory).toISOString(), o.dryRun);
        removed.memory = { count: m.removed, bytes: m.bytes };
      }
      await this.feed(o.dryRun, removed.feed, gone);
    } catch (e) {
      // the daemon is stopping: what was committed stays (each batch is whole); the next start goes on
      if (!(e instanceof SweepStopped)) throw e;
    }
    const total = Object.values(removed).reduce((n, f) => n + f.count, 0);
    if (!o.dryRun && total > 0) {
      const target = Object.entries(removed).filter(([, f]) => f.count > 0).map(([k, f]) => `${k} ${f.count}`).join(', ');
      await this.d.store.commit([], { actor: o.actor, action: 'retention.sweep', target });
      this.d.log.info({ removed, ms: Date.now() - t0 }, 'retention sweep removed data past its rules');
    }
    return { dry_run: o.dryRun, rules, removed, took_ms: Date.now() - t0 };
  }

  /** Finished runs that ended before `before`, with everything that belongs to them. */
  private async runs(before: number, dryRun: boolean, removed: Record<string, Figures>, gone: { runs: Set<string>; notifications: Set<string> }): Promise<void> {
    const { runs, outbox, memory, chat } = this.d.repos;
    for await (const rows of runs.endedBefore(before, RUN_BATCH)) {
      const ops: StoreOp[] = [];
      const headers: RunHeader[] = [];
      for (const e of rows) {
        const id = e.id;
        if (this.d.engine.isActive(id)) continue; // never: the index is written when a run ends
        const header = await runs.header(id);
        ops.push(...runs.removeFinishedOps(e, header));
        if (header) {
          headers.push(header);
          removed.runs.count++;
          removed.runs.bytes += bytesOf(id, header);
        }
        for (const r of await runs.stepRowDels(id)) {
          ops.push(r.op);
          removed.runs.bytes += r.bytes;
        }
        this.eventOps(await runs.eventDels(id), ops, removed.events);
        const notes = await outbox.removeOfRun(id);
        ops.push(...notes.ops);
        for (const n of notes.removed) {
          removed.notifications.count++;
          removed.notifications.bytes += n.bytes;
          gone.notifications.add(n.id);
        }
        // its conversation (`ask`), replays and Slack thread records belong to it too
        ops.push(...(await memory.removeOfRun(id)));
        for (const [tid, t] of (await chat.slackThreads.entries(chatIds.ofRun(id))) as [string, { channel?: string; ts?: string }][]) {
          ops.push(chat.slackThreads.delOp(tid));
          if (t.channel && t.ts) ops.push(chat.slackTs.delOp(chatIds.slackTs(t.channel, t.ts)));
        }
        for (const wid of await chat.slackWaits.ids(chatIds.ofRun(id))) ops.push(chat.slackWaits.delOp(wid));
        gone.runs.add(id);
      }
      if (!dryRun && ops.length) {
        await this.d.store.commit([...ops, this.d.engine.dropFinished(headers)]);
        this.d.notifier.forget(gone.notifications);
      }
      await this.between();
    }
  }

  private eventOps(rows: { op: StoreOp; bytes: number }[], ops: StoreOp[], f: Figures): void {
    for (const r of rows) {
      ops.push(r.op);
      f.count++;
      f.bytes += r.bytes;
    }
  }

  /**
   * Events of runs that ended before `before`: the run keeps its record and steps (`status`), and
   * its header says when its events went (`logs` says so). A cursor over the `ended` index in meta
   * makes each run's events cost one pass, whatever the number of sweeps.
   */
  private async events(before: number, dryRun: boolean, removed: Record<string, Figures>, gone: { runs: Set<string> }): Promise<void> {
    const runs = this.d.repos.runs;
    const after = await runs.eventsSweptUpTo();
    const at = new Date().toISOString();
    for await (const rows of runs.endedBefore(before, RUN_BATCH, after)) {
      const ops: StoreOp[] = [];
      for (const { id } of rows) {
        if (this.d.engine.isActive(id) || gone.runs.has(id)) continue;
        const events = await runs.eventDels(id);
        if (events.length === 0) continue;
        this.eventOps(events, ops, removed.events);
        const header = await runs.header<RunHeader & { events_removed_at?: string }>(id);
        if (header) ops.push(runOps.header({ ...header, events_removed_at: at } as RunHeader));
        gone.runs.add(id);
      }
      if (!dryRun) await this.d.store.commit([...ops, runs.eventsSweptOp(rows[rows.length - 1].key)]);
      await this.between();
    }
  }

  /** Notifications created before `before` (outbox keys start with their time), with their run links. */
  private async notifications(before: number, dryRun: boolean, removed: Record<string, Figures>, gone: { notifications: Set<string> }): Promise<void> {
    for await (const rows of this.d.repos.outbox.before(before, ROW_BATCH)) {
      const ops: StoreOp[] = [];
      for (const [key, n] of rows) {
        // an active run's notifications (its approval request, say) stay until it has finished
        if (n.run_id && this.d.engine.isActive(n.run_id)) continue;
        ops.push(...outboxOps.remove(key, n.run_id));
        removed.notifications.count++;
        removed.notifications.bytes += bytesOf(key, n);
        gone.notifications.add(key);
      }
      if (!dryRun && ops.length) {
        await this.d.store.commit(ops);
        this.d.notifier.forget(rows.map(([k]) => k).filter((k) => gone.notifications.has(k)));
      }
      await this.between();
    }
  }

  /** A kind whose rows can be judged one by one (audit by key time, cache by stored time). */
  private async flat(rows: AsyncGenerator<[string, unknown][]>, delOp: (key: string) => StoreOp, expired: (v: unknown) => boolean, dryRun: boolean, f: Figures): Promise<void> {
    for await (const page of rows) {
      const ops: StoreOp[] = [];
      for (const [key, v] of page) {
        if (!expired(v)) continue;
        ops.push(delOp(key));
        f.count++;
        f.bytes += bytesOf(key, v);
      }
      if (!dryRun && ops.length) await this.d.store.commit(ops);
      await this.between();
    }
  }

  /**
   * Feed rows (the replay buffer behind `runs.watch`) that point at removed events or
   * notifications go with them; the feed also keeps at most FEED_KEEP rows, as before.
   */
  private async feed(dryRun: boolean, f: Figures, gone: { runs: Set<string>; notifications: Set<string> }): Promise<void> {
    const feed = this.d.feed;
    const rowsOf = this.d.repos.feed as FeedRepo<FeedRow>;
    if (gone.runs.size > 0 || gone.notifications.size > 0) {
      for await (const rows of rowsOf.pages(ROW_BATCH)) {
        const ops: StoreOp[] = [];
        for (const [cursor, row, bytes] of rows) {
          const hit = row.topic === 'runs' ? gone.runs.has(runIdOfEventRef(row.ref)) : row.event === 'notification' ? gone.notifications.has(row.ref) : gone.notifications.has(String(row.data?.id ?? ''));
          if (!hit) continue;
          ops.push(rowsOf.delOp(cursor));
          f.count++;
          f.bytes += bytes;
        }
        if (!dryRun && ops.length) await this.d.store.commit(ops);
        await this.between();
      }
    }
    if (dryRun) return;
    if (feed.head - feed.oldest > FEED_KEEP) f.count += await feed.trimBefore(feed.head - FEED_KEEP);
    else if (f.count > 0) await feed.trimBefore(feed.oldest);
  }
}
