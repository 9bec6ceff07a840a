import type { Logger } from 'pino';
import type { RunStatus } from '../../protocol/index.js';
import type { Workflow } from '../../workflows/schema.js';
import { DurationStats } from '../engine/run-json.js';
import type { RunRecord, StepState } from '../engine/types.js';
import type { KvStore } from '../store/kv.js';
import type { StoreOp } from '../store/store.js';

/**
 * The runs domain's storage: every key of a run lives here, so the engine, retention, stats and
 * the team service ask for a run's rows instead of building keys. The layout (unchanged since the
 * run indexes; stores written before this module read as they did):
 *
 *   runs     <run_id>                      -> RunHeader      the record without steps and outline
 *   runs     <run_id>/step/<ord base36 x6> -> StepRow        one row per step, in the order added
 *   events   <run_id>:<seq x9>             -> RunEvent       the run's history
 *   timers   <run_id>:step | :run_timeout  -> TimerEntry     what a waiting run waits for
 *   active   <run_id>                      -> { workflow }   queued, running, waiting or paused runs
 *   created  <created_at>|<run_id>         -> { workflow }   every run, newest first when read backwards
 *   ended    <ended_at>|<run_id>           -> { workflow, status }   finished runs, oldest first
 *   meta     runs:summary[@<executor>]     -> RunsSummary    counts and durations of finished runs
 *   meta     runs:index                    -> mark: a store written before the indexes was indexed
 *   meta     wfdef:<hash>                  -> Workflow       a run's definition, shared by hash
 *   meta     retention:events_after        -> string         the events sweep's cursor (an `ended` key)
 *
 * A header holds the record without `steps` (one row per step instead, so a transition writes only
 * the header and the steps it changed) and without the outline (the definition's). The indexes are
 * written in the SAME batch as the run change that makes a run exist, active or final, so they never
 * disagree with the records after a crash. Ops are returned, not committed: a run change commits with
 * its notifications, feed rows and audit entry in one batch (engine.ts commitRun).
 */

export interface StepRow {
  path: string;
  state: StepState;
}

export type RunHeader = Omit<RunRecord, 'steps'> & { steps?: Record<string, StepState> };

/** A number of active runs with one status and workflow (RunsRepo.activeCounts). */
export interface ActiveCount {
  status: RunStatus;
  workflow: string;
  n: number;
}

export interface TimerEntry {
  run_id: string;
  kind: 'step' | 'run_timeout';
  at: string;
  step?: string;
}
export type TimerKind = TimerEntry['kind'];

export interface RunsSummary {
  /** Finished runs in the store by outcome. */
  finished: Record<Finished, number>;
  /** Finished runs in the store per workflow (for `list --all --workflow W` totals). */
  by_workflow: Record<string, number>;
  /** Durations of successful runs per workflow (ETAs): the engine's DurationStats. */
  durations: Record<string, { n: number; total: number }>;
}

export const INDEX_MARK = 'runs:index';
export const SUMMARY_KEY = 'runs:summary';
const EVENTS_CURSOR = 'retention:events_after';
const FINISHED = ['succeeded', 'failed', 'cancelled'] as const;
type Finished = (typeof FINISHED)[number];
const SEP = '/step/';

export function emptySummary(): RunsSummary {
  return { finished: { succeeded: 0, failed: 0, cancelled: 0 }, by_workflow: {}, durations: {} };
}

/** Finished runs in the store, all outcomes. */
export function finishedTotal(summary: RunsSummary): number {
  return Object.values(summary.finished).reduce((a, b) => a + b, 0);
}

const isFinished = (s: string): s is Finished => (FINISHED as readonly string[]).includes(s);

/** Adds (+1) or removes (-1) a finished run in the summary (a removed run's duration stays in the ETA window). */
export function countFinished(summary: RunsSummary, h: Pick<HeaderLike, 'workflow' | 'status' | 'started_at' | 'ended_at'>, sign: 1 | -1): void {
  if (!isFinished(h.status)) return;
  summary.finished[h.status] = Math.max(0, summary.finished[h.status] + sign);
  const n = Math.max(0, (summary.by_workflow[h.workflow] ?? 0) + sign);
  if (n === 0) delete summary.by_workflow[h.workflow];
  else summary.by_workflow[h.workflow] = n;
  if (sign > 0 && h.status === 'succeeded' && h.started_at && h.ended_at) new DurationStats(summary.durations).add(h.workflow, Date.parse(h.ended_at) - Date.parse(h.started_at));
}

interface HeaderLike {
  id: string;
  workflow: string;
  status: string;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
}

// ------------------------------------------------------------------ keys (this module only)

const stepRowKey = (runId: string, ord: number): string => `${runId}${SEP}${ord.toString(36).padStart(6, '0')}`;
const stepRange = (runId: string): { gte: string; lt: string } => ({ gte: `${runId}${SEP}`, lt: `${runId}/step0` });
const runIdOfKey = (key: string): string => {
  const i = key.indexOf(SEP);
  return i < 0 ? key : key.slice(0, i);
};
const seqPart = (seq: number | string): string => String(seq).padStart(9, '0');
const eventKey = (runId: string, seq: number): string => `${runId}:${seqPart(seq)}`;
const ofRun = (runId: string): { gt: string; lt: string } => ({ gt: `${runId}:`, lt: `${runId}:~` });
const createdKey = (createdAt: string, id: string): string => `${createdAt}|${id}`;
const endedKey = (endedAt: string, id: string): string => `${endedAt}|${id}`;
/** The run id of a `created` or `ended` key (store repair reads the index raw). */
export const idOfIndexKey = (key: string): string => key.slice(key.lastIndexOf('|') + 1);
const defKey = (hash: string): string => `wfdef:${hash}`;

/** The ordinal of a step row (its place in the run's `steps`), from the row's key. */
export function stepOrdinal(key: string): number {
  return parseInt(key.slice(key.lastIndexOf('/') + 1), 36);
}

/** The store's key of a timer: the in-memory timer maps and alarms use the same string. */
export function timerKey(runId: string, kind: TimerKind): string {
  return `${runId}:${kind}`;
}

/**
 * The reference a feed row keeps to a run event (feed.ts): the event's key, so a replay reads the
 * event itself. Opaque outside this module; `runIdOfEventRef` gives the run back.
 */
export function eventRef(runId: string, seq: number): string {
  return eventKey(runId, seq);
}

export function runIdOfEventRef(ref: string): string {
  return ref.slice(0, ref.lastIndexOf(':'));
}

/** Groups the runs sublevel's entries (key order) into headers with their step rows. */
export function groupRuns(entries: [string, unknown][]): Map<string, { header?: RunHeader; rows: [string, StepRow][] }> {
  const out = new Map<string, { header?: RunHeader; rows: [string, StepRow][] }>();
  for (const [key, value] of entries) {
    const id = runIdOfKey(key);
    let g = out.get(id);
    if (!g) out.set(id, (g = { rows: [] }));
    if (key === id) g.header = value as RunHeader;
    else g.rows.push([key, value as StepRow]);
  }
  return out;
}

// ------------------------------------------------------------------ op builders (pure)

export const runOps = {
  header: (header: RunHeader | RunRecord): StoreOp => ({ type: 'put', sub: 'runs', key: header.id, value: header as never }),
  delHeader: (id: string): StoreOp => ({ type: 'del', sub: 'runs', key: id }),
  stepRow: (runId: string, ord: number, row: StepRow): StoreOp => ({ type: 'put', sub: 'runs', key: stepRowKey(runId, ord), value: row as never }),
  delStepRow: (runId: string, ord: number): StoreOp => ({ type: 'del', sub: 'runs', key: stepRowKey(runId, ord) }),
  event: (runId: string, ev: { seq: number }): StoreOp => ({ type: 'put', sub: 'events', key: eventKey(runId, ev.seq), value: ev as never }),
  timer: (key: string, t: TimerEntry): StoreOp => ({ type: 'put', sub: 'timers', key, value: t as never }),
  delTimer: (key: string): StoreOp => ({ type: 'del', sub: 'timers', key }),
  delActive: (id: string): StoreOp => ({ type: 'del', sub: 'active', key: id }),
  /** Ops that index a new run (in the batch that creates it). */
  created: (run: HeaderLike): StoreOp[] => [activeOp(run), createdOp(run)],
  /** Ops that move a run from the active index to the finished one (in the batch that ends it). */
  finished: (run: HeaderLike): StoreOp[] => [runOps.delActive(run.id), endedOp(run)],
  /** The finished-runs summary: one per daemon in team mode (each counts the runs it ended). */
  summary: (executor: string | null, summary: RunsSummary): StoreOp => ({ type: 'put', sub: 'meta', key: summaryKey(executor), value: summary as never }),
  def: (hash: string, def: Workflow): StoreOp => ({ type: 'put', sub: 'meta', key: defKey(hash), value: def as never }),
};

const summaryKey = (executor: string | null): string => (executor ? `${SUMMARY_KEY}@${executor}` : SUMMARY_KEY);
const activeOp = (run: HeaderLike): StoreOp => ({ type: 'put', sub: 'active', key: run.id, value: { workflow: run.workflow } });
const createdOp = (run: HeaderLike): StoreOp => ({ type: 'put', sub: 'created', key: createdKey(run.created_at, run.id), value: { workflow: run.workflow } });
const endedOp = (run: HeaderLike): StoreOp => ({ type: 'put', sub: 'ended', key: endedKey(run.ended_at ?? run.created_at, run.id), value: { workflow: run.workflow, status: run.status } });

/** A finished run in the `ended` index (retention's scan). */
export interface EndedEntry {
  id: string;
  /** The index key: a page cursor, and what `deleteEnded` removes. */
  key: string;
}

/** Reads of the runs domain; writes are the `runOps` above, committed by the caller. */
export class RunsRepo {
  constructor(private readonly store: KvStore) {}

  header<T extends RunHeader = RunHeader>(id: string): Promise<T | undefined> {
    return this.store.get<T>('runs', id);
  }

  headers(ids: string[]): Promise<(RunHeader | undefined)[]> {
    return this.store.getMany<RunHeader>('runs', ids);
  }

  /** A run's step rows in key (ordinal) order. */
  stepRows(id: string): Promise<[string, StepRow][]> {
    return this.store.entries<StepRow>('runs', stepRange(id));
  }

  /** Step rows of many runs (one seeking read each), in the order of `ids`. */
  stepRowsOf(ids: string[]): Promise<[string, StepRow][][]> {
    return this.store.ranges<StepRow>('runs', ids.map((id) => stepRange(id)));
  }

  /** Every run with its rows: one sequential read of the runs sublevel. */
  async all(): Promise<Map<string, { header?: RunHeader; rows: [string, StepRow][] }>> {
    return groupRuns(await this.store.entries('runs'));
  }

  /**
   * Every run with its rows, read in pages of `size` entries (recovery: each page's entries die
   * young instead of the whole sublevel surviving, as one array, into V8's old generation, where
   * its garbage held ~30 MB of pages for the first seconds after a start with 10,000 runs). A run's
   * rows follow its header ('/' sorts before every character of an id), so a group is complete
   * once a later run's key is read; a page's last group waits for the next page.
   */
  async *allPaged(size: number): AsyncGenerator<[string, { header?: RunHeader; rows: [string, StepRow][] }][]> {
    let open: [string, { header?: RunHeader; rows: [string, StepRow][] }] | null = null;
    for await (const page of this.store.pages<unknown>('runs', {}, size)) {
      const done: [string, { header?: RunHeader; rows: [string, StepRow][] }][] = [];
      for (const [key, value] of page) {
        const id = runIdOfKey(key);
        if (open?.[0] !== id) {
          if (open) done.push(open);
          open = [id, { rows: [] }];
        }
        if (key === id) open[1].header = value as RunHeader;
        else open[1].rows.push([key, value as StepRow]);
      }
      if (done.length > 0) yield done;
    }
    if (open) yield [open];
  }

  /** Ops deleting a run's step rows (retention), with their sizes. */
  async stepRowDels(id: string): Promise<{ op: StoreOp; bytes: number }[]> {
    return (await this.store.entries('runs', stepRange(id))).map(([k, v]) => ({ op: { type: 'del', sub: 'runs', key: k }, bytes: bytesOf(k, v) }));
  }

  activeIds(): Promise<string[]> {
    return this.store.keys('active');
  }

  /**
   * The active runs (the `active` index) by status and workflow, as their headers say. On
   * PostgreSQL one aggregate computed by the server: no header crosses the wire or is parsed here.
   * Reading the headers instead cost a team member 0.1-0.4 s of CPU per `hello` or `daemon status`
   * with 10,000 runs waiting, and their garbage kept its heap large for seconds after
   * (bench/team.bench.js waiting). LevelDB (solo, whose engine counts from memory) reads them.
   */
  async activeCounts(): Promise<ActiveCount[]> {
    const sql = this.store.sql;
    if (sql) {
      const rows = await sql.query<{ status: string; workflow: string; n: number }>(
        `SELECT h->>'status' AS status, h->>'workflow' AS workflow, count(*)::int AS n
           FROM (SELECT r.value::json AS h FROM ${sql.table('active')} a JOIN ${sql.table('runs')} r ON r.key = a.key) s
          GROUP BY 1, 2`,
      );
      return rows.map((r) => ({ status: r.status as RunStatus, workflow: r.workflow, n: Number(r.n) }));
    }
    const tally = new Map<string, ActiveCount>();
    for (const h of await this.headers(await this.activeIds())) {
      if (!h) continue;
      const key = `${h.status}\n${h.workflow}`;
      const c = tally.get(key) ?? { status: h.status, workflow: h.workflow, n: 0 };
      c.n++;
      tally.set(key, c);
    }
    return [...tally.values()];
  }

  /** Events of a run after `after` (a seq), up to `limit`. */
  async events<T = unknown>(id: string, after = 0, limit?: number): Promise<T[]> {
    return (await this.store.entries<T>('events', { gt: eventKey(id, after), lt: ofRun(id).lt, ...(limit !== undefined ? { limit } : {}) })).map(([, e]) => e);
  }

  /** Events of a run with seq in [first, last]. */
  async eventsBetween<T = unknown>(id: string, first: number | string, last: number | string): Promise<T[]> {
    return (await this.store.entries<T>('events', { gte: `${id}:${seqPart(first)}`, lte: `${id}:${seqPart(last)}` })).map(([, e]) => e);
  }

  /** The event a feed row refers to (`eventRef`). */
  eventAt<T = unknown>(ref: string): Promise<T | undefined> {
    return this.store.get<T>('events', ref);
  }

  /** Ops deleting all of a run's events (retention), with their sizes. */
  async eventDels(id: string): Promise<{ op: StoreOp; bytes: number }[]> {
    return (await this.store.entries('events', ofRun(id))).map(([k, v]) => ({ op: { type: 'del', sub: 'events', key: k }, bytes: bytesOf(k, v) }));
  }

  /** Every timer (`key` is `timerKey`'s). */
  timers(): Promise<[string, TimerEntry][]> {
    return this.store.entries<TimerEntry>('timers');
  }

  timersOf(runId: string): Promise<[string, TimerEntry][]> {
    return this.store.entries<TimerEntry>('timers', { gte: `${runId}:`, lt: `${runId}:~` });
  }

  /**
   * A page of the `created` index, newest first, before `cursor` (an opaque string clients get as
   * `next`: the last key read).
   */
  async createdPage(cursor: string | undefined, limit: number): Promise<{ id: string; workflow: string; cursor: string }[]> {
    const rows = await this.store.entries<{ workflow: string }>('created', { ...(cursor !== undefined ? { lt: cursor } : {}), reverse: true, limit });
    return rows.map(([key, v]) => ({ id: idOfIndexKey(key), workflow: v.workflow, cursor: key }));
  }

  /** Finished runs that ended before `before` (ms), after the cursor `after` (an `EndedEntry.key`), `size` at a time. */
  async *endedBefore(before: number, size: number, after?: string): AsyncGenerator<EndedEntry[]> {
    for await (const rows of this.store.pages('ended', { gt: after, lt: `${new Date(before).toISOString()}|` }, size)) yield rows.map(([key]) => ({ id: idOfIndexKey(key), key }));
  }

  /** Ops removing a finished run's header and index rows (retention). */
  removeFinishedOps(e: EndedEntry, header: RunHeader | undefined): StoreOp[] {
    const ops: StoreOp[] = [{ type: 'del', sub: 'ended', key: e.key }];
    if (header) ops.push(runOps.delHeader(e.id), { type: 'del', sub: 'created', key: createdKey(header.created_at, e.id) });
    return ops;
  }

  /** Where the events sweep stopped (an `EndedEntry.key`), and the op that moves it. */
  eventsSweptUpTo(): Promise<string | undefined> {
    return this.store.get<string>('meta', EVENTS_CURSOR);
  }

  eventsSweptOp(key: string): StoreOp {
    return { type: 'put', sub: 'meta', key: EVENTS_CURSOR, value: key };
  }

  summary(executor: string | null): Promise<RunsSummary | undefined> {
    return this.store.get<RunsSummary>('meta', summaryKey(executor));
  }

  /** Team mode: every member's summary of the runs it ended. */
  async summaries(): Promise<RunsSummary[]> {
    return (await this.store.entries<RunsSummary>('meta', { gte: `${SUMMARY_KEY}@`, lt: `${SUMMARY_KEY}@~` })).map(([, s]) => s);
  }

  defs(hashes: string[]): Promise<(Workflow | undefined)[]> {
    return this.store.getMany<Workflow>('meta', hashes.map(defKey));
  }

  /** Whether the run indexes were built (`migrateIndex` ran, or the store was made with them). */
  async indexed(): Promise<boolean> {
    return (await this.store.get('meta', INDEX_MARK)) !== undefined;
  }

  /**
   * Indexes a store written before the indexes existed: one pass over the run headers (step rows
   * are skipped), committed in chunks, the mark last, so an interrupted pass simply runs again.
   * Returns the summary it built, or null when the store was indexed already.
   */
  async migrateIndex(log: Logger): Promise<RunsSummary | null> {
    if (await this.indexed()) return null;
    const t0 = Date.now();
    const summary = emptySummary();
    let ops: StoreOp[] = [];
    let runs = 0;
    for await (const rows of this.store.pages<HeaderLike>('runs', {}, 5000)) {
      for (const [key, h] of rows) {
        if (key.includes('/')) continue; // a step row
        runs++;
        ops.push(createdOp(h));
        if (isFinished(h.status)) {
          ops.push(endedOp(h));
          countFinished(summary, h, +1);
        } else ops.push(activeOp(h));
      }
      if (ops.length >= 20_000) {
        await this.store.commit(ops);
        ops = [];
      }
    }
    ops.push(runOps.summary(null, summary));
    ops.push({ type: 'put', sub: 'meta', key: INDEX_MARK, value: { at: new Date().toISOString(), runs } });
    await this.store.commit(ops);
    log.info({ runs, ms: Date.now() - t0 }, 'indexed the runs of a store written before the run indexes existed (once)');
    return summary;
  }
}

/** What a row costs on disk, roughly (retention's figures). */
export const bytesOf = (key: string, value: unknown): number => key.length + (value === undefined ? 0 : JSON.stringify(value).length);

/** `RunsRepo.migrateIndex` for the storage layer's repair (store/maintenance.ts). */
export function migrateRunIndex(store: KvStore, log: Logger): Promise<RunsSummary | null> {
  return new RunsRepo(store).migrateIndex(log);
}
