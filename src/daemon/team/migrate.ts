import type { Logger } from 'pino';
import { WireError } from '../../protocol/index.js';
import type { KvStore } from '../store/kv.js';
import { isServerError, type PgStore } from '../store/pg-store.js';
import { SUBLEVELS, type SublevelName } from '../store/store.js';

const PAGE = 1000;

/**
 * Not copied. `feed` is one daemon's cursor stream for `runs.watch` (cursor numbers that daemon
 * handed out, meaningful only to its own watchers): merged into a team's stream they would collide
 * with other daemons' cursors and replay stale items to watchers of another daemon. The rows it
 * points at (run events, notifications) are copied in their own sublevels; team watchers start
 * from the team's stream.
 */
const NOT_COPIED: ReadonlySet<SublevelName> = new Set(['feed']);

export interface MigrateResult {
  /** Rows written to the team database per sublevel (0 for all on a second run). */
  copied: Record<SublevelName, number>;
  /** Rows already there (another home's, or a previous run's), left as they were; for `feed`, its rows (never copied). */
  skipped: Record<SublevelName, number>;
  /** Runs of the solo store that were unfinished and have no host in the team yet (run_owner executor NULL). */
  activeRuns: string[];
}

/**
 * Copies a solo (LevelDB) store into the team database: every sublevel but `feed`, in pages of
 * 1,000, each row inserted only if its key is absent (re-runnable: a second run copies nothing and
 * never overwrites what the team changed since). Values go over as the same JSON text LevelDB held.
 * Audit keys get `-<homeId>` appended, as PgStore's own audit keys carry their executor: two homes'
 * entries of the same millisecond stay apart instead of one being skipped. Unfinished runs (the
 * `active` index) get a `run_owner` row with no executor, epoch 0, for a daemon of the team to host.
 * The caller opens `source` with the solo daemon stopped (LevelDB's LOCK guarantees it).
 */
export async function migrateToTeam(source: KvStore, target: PgStore, opts: { executorId: string; homeId: string; log?: Logger }): Promise<MigrateResult> {
  if (!/^[A-Za-z0-9_.:-]{1,200}$/.test(opts.homeId)) throw new Error(`invalid home id ${JSON.stringify(opts.homeId)}`);
  const copied = Object.fromEntries(SUBLEVELS.map((n) => [n, 0])) as Record<SublevelName, number>;
  const skipped = Object.fromEntries(SUBLEVELS.map((n) => [n, 0])) as Record<SublevelName, number>;
  const run = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      if (isServerError(e)) throw new WireError('unavailable', `migrating into the team database ${target.dir} failed while ${what}: ${(e as Error).message}; run it again (it is idempotent)`, { retryable: true });
      throw e;
    }
  };
  for (const sub of SUBLEVELS) {
    if (NOT_COPIED.has(sub)) {
      for await (const page of source.pages(sub, {}, PAGE)) skipped[sub] += page.length;
      continue;
    }
    // the solo summary of finished runs joins the team's as one more member's (engine.ts summaryKey)
    const rekey = sub === 'audit' ? (k: string) => `${k}-${opts.homeId}` : sub === 'meta' ? (k: string) => (k === 'runs:summary' ? `runs:summary@migrated:${opts.homeId}` : k) : (k: string) => k;
    for await (const page of source.pages(sub, {}, PAGE)) {
      const res = await run(`copying ${sub}`, () =>
        target.pool.query(`INSERT INTO ${target.table(sub)} (key, value) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (key) DO NOTHING`, [
          page.map(([k]) => rekey(k)),
          page.map(([, v]) => JSON.stringify(v)),
        ]),
      );
      copied[sub] += res.rowCount ?? 0;
      skipped[sub] += page.length - (res.rowCount ?? 0);
    }
    opts.log?.info({ sublevel: sub, copied: copied[sub], skipped: skipped[sub] }, 'team migrate: sublevel copied');
  }
  const active = await source.keys('active');
  const owner = `"${target.schema}".run_owner`;
  const unhosted = await run('registering unfinished runs', async () => {
    for (let i = 0; i < active.length; i += PAGE) {
      await target.pool.query(`INSERT INTO ${owner} (run_id, executor, epoch) SELECT id, NULL, 0 FROM unnest($1::text[]) AS a(id) ON CONFLICT (run_id) DO NOTHING`, [active.slice(i, i + PAGE)]);
    }
    // only those nobody hosts yet: a run a daemon of the team already took over is its, not ours
    return (await target.pool.query<{ run_id: string }>(`SELECT run_id FROM ${owner} WHERE run_id = ANY($1::text[]) AND executor IS NULL ORDER BY run_id`, [active])).rows.map((r) => r.run_id);
  });
  await target.commit([
    {
      type: 'put',
      sub: 'meta',
      key: `team:migrated:${opts.homeId}`,
      value: { at: new Date().toISOString(), by: opts.executorId, from: source.dir, copied, skipped, active_runs: active.length },
    },
  ]);
  opts.log?.info({ home: opts.homeId, copied, skipped, active_runs: unhosted.length }, 'team migrate: done');
  return { copied, skipped, activeRuns: unhosted };
}
