import type { Logger } from 'pino';
import { DurationStats } from '../engine/run-json.js';
import type { KvStore } from './kv.js';
import type { StoreOp } from './store.js';

/**
 * Indexes over the runs sublevel, so that what the daemon reads at start and for `list` depends on
 * the runs that are active (or the page asked for), not on every run ever stored:
 *
 *   active   <run_id>                  -> { workflow }    queued, running, waiting or paused runs
 *   created  <created_at>|<run_id>     -> { workflow }    every run, newest first when read backwards
 *   ended    <ended_at>|<run_id>       -> { workflow, status }   finished runs, oldest first (retention)
 *   meta     runs:summary              -> RunsSummary     counts and durations of finished runs
 *
 * The engine writes them in the SAME batch as the run change that makes a run exist, active or
 * final, so they never disagree with the run records after a crash. A store written before they
 * existed is indexed once at start (the only full scan; `runs:index` in meta records that it ran).
 */

export const INDEX_MARK = 'runs:index';
export const SUMMARY_KEY = 'runs:summary';
const FINISHED = ['succeeded', 'failed', 'cancelled'] as const;
type Finished = (typeof FINISHED)[number];

export interface RunsSummary {
  /** Finished runs in the store by outcome. */
  finished: Record<Finished, number>;
  /** Finished runs in the store per workflow (for `list --all --workflow W` totals). */
  by_workflow: Record<string, number>;
  /** Durations of successful runs per workflow (ETAs): the engine's DurationStats. */
  durations: Record<string, { n: number; total: number }>;
}

export function emptySummary(): RunsSummary {
  return { finished: { succeeded: 0, failed: 0, cancelled: 0 }, by_workflow: {}, durations: {} };
}

export const createdKey = (createdAt: string, id: string): string => `${createdAt}|${id}`;
export const endedKey = (endedAt: string, id: string): string => `${endedAt}|${id}`;
/** The run id of a `created` or `ended` key. */
export const idOfIndexKey = (key: string): string => key.slice(key.lastIndexOf('|') + 1);

interface HeaderLike {
  id: string;
  workflow: string;
  status: string;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
}

const isFinished = (s: string): s is Finished => (FINISHED as readonly string[]).includes(s);

const activeOp = (run: HeaderLike): StoreOp => ({ type: 'put', sub: 'active', key: run.id, value: { workflow: run.workflow } });
const createdOp = (run: HeaderLike): StoreOp => ({ type: 'put', sub: 'created', key: createdKey(run.created_at, run.id), value: { workflow: run.workflow } });
const endedOp = (run: HeaderLike): StoreOp => ({ type: 'put', sub: 'ended', key: endedKey(run.ended_at ?? run.created_at, run.id), value: { workflow: run.workflow, status: run.status } });

/** Ops that index a new run (in the batch that creates it). */
export function createdOps(run: HeaderLike): StoreOp[] {
  return [activeOp(run), createdOp(run)];
}

/** Ops that move a run from the active index to the finished one (in the batch that ends it). */
export function finishedOps(run: HeaderLike): StoreOp[] {
  return [{ type: 'del', sub: 'active', key: run.id }, endedOp(run)];
}

/** Finished runs in the store, all outcomes. */
export function finishedTotal(summary: RunsSummary): number {
  return Object.values(summary.finished).reduce((a, b) => a + b, 0);
}

/**
 * Indexes a store written before the indexes existed: one pass over the run headers (step rows
 * are skipped), committed in chunks, the mark last, so an interrupted pass simply runs again.
 * Returns the summary it built, or null when the store was indexed already.
 */
export async function migrateRunIndex(store: KvStore, log: Logger): Promise<RunsSummary | null> {
  if ((await store.get('meta', INDEX_MARK)) !== undefined) return null;
  const t0 = Date.now();
  const summary = emptySummary();
  let ops: StoreOp[] = [];
  let runs = 0;
  for await (const rows of store.pages<HeaderLike>('runs', {}, 5000)) {
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
      await store.commit(ops);
      ops = [];
    }
  }
  ops.push({ type: 'put', sub: 'meta', key: SUMMARY_KEY, value: summary });
  ops.push({ type: 'put', sub: 'meta', key: INDEX_MARK, value: { at: new Date().toISOString(), runs } });
  await store.commit(ops);
  log.info({ runs, ms: Date.now() - t0 }, 'indexed the runs of a store written before the run indexes existed (once)');
  return summary;
}

/** Adds (+1) or removes (-1) a finished run in the summary (a removed run's duration stays in the ETA window). */
export function countFinished(summary: RunsSummary, h: Pick<HeaderLike, 'workflow' | 'status' | 'started_at' | 'ended_at'>, sign: 1 | -1): void {
  if (!isFinished(h.status)) return;
  summary.finished[h.status] = Math.max(0, summary.finished[h.status] + sign);
  const n = Math.max(0, (summary.by_workflow[h.workflow] ?? 0) + sign);
  if (n === 0) delete summary.by_workflow[h.workflow];
  else summary.by_workflow[h.workflow] = n;
  if (sign > 0 && h.status === 'succeeded' && h.started_at && h.ended_at) new DurationStats(summary.durations).add(h.workflow, Date.parse(h.ended_at) - Date.parse(h.started_at));
}
