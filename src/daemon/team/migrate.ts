import type { Logger } from 'pino';
import { WireError } from '../../protocol/index.js';
import type { KvStore } from '../store/kv.js';
import { isServerError, type PgStore } from '../store/pg-store.js';
import { SUBLEVELS, type SublevelName } from '../store/store.js';
import { runIdOfSummaryKey } from '../repos/memory.js';
import { EVENTS_CHANNEL } from './port.js';

// Storage-level on purpose, like store/maintenance.ts: a migration copies whole sublevels byte for
// byte (rows of every domain, in key order, with the same keys and JSON), so it works on sublevels
// and keys rather than through the per-domain repositories (repos/). The few keys it must know
// (the solo runs summary, audit keys, its own mark) are named here and nowhere else.

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
  /** Unfinished runs of the solo store handed to the team by this run, or still unhosted since an earlier one (run_owner executor NULL). */
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
  const owner = `"${target.schema}".run_owner`;
  const active = await source.keys('active');
  // Unfinished runs a daemon of the team already took up (a previous migration handed them over):
  // their live state is the team's now. Copying their `active` and `timers` rows again would bring
  // back what the team deleted when the run moved on or ended (a finished run listed as active, a
  // timer that fired re-armed), so those rows are left out on a re-run.
  const taken = new Set(
    await run('reading which runs the team hosts', async () =>
      (await target.pool.query<{ run_id: string }>(`SELECT run_id FROM ${owner} WHERE run_id = ANY($1::text[]) AND executor IS NOT NULL`, [active])).rows.map((r) => r.run_id),
    ),
  );
  const teamsNow = (sub: SublevelName, key: string): boolean => (sub === 'active' || sub === 'timers') && taken.has(sub === 'active' ? key : key.slice(0, key.indexOf(':')));
  /** Finished runs whose memory summary this run copied: the running members are told to learn them. */
  const learned: string[] = [];
  for (const sub of SUBLEVELS) {
    if (NOT_COPIED.has(sub)) {
      for await (const page of source.pages(sub, {}, PAGE)) skipped[sub] += page.length;
      continue;
    }
    // the solo summary of finished runs joins the team's as one more member's (engine.ts summaryKey)
    const rekey = sub === 'audit' ? (k: string) => `${k}-${opts.homeId}` : sub === 'meta' ? (k: string) => (k === 'runs:summary' ? `runs:summary@migrated:${opts.homeId}` : k) : (k: string) => k;
    for await (const all of source.pages(sub, {}, PAGE)) {
      const page = all.filter(([k]) => !teamsNow(sub, k));
      skipped[sub] += all.length - page.length;
      if (page.length === 0) continue;
      const res = await run(`copying ${sub}`, () =>
        target.pool.query(`INSERT INTO ${target.table(sub)} (key, value) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (key) DO NOTHING RETURNING key`, [
          page.map(([k]) => rekey(k)),
          page.map(([, v]) => JSON.stringify(v)),
        ]),
      );
      copied[sub] += res.rowCount ?? 0;
      skipped[sub] += page.length - (res.rowCount ?? 0);
      if (sub === 'memory') {
        for (const r of res.rows as { key: string }[]) {
          const id = runIdOfSummaryKey(r.key);
          if (id !== null) learned.push(id);
        }
      }
    }
    opts.log?.info({ sublevel: sub, copied: copied[sub], skipped: skipped[sub] }, 'team migrate: sublevel copied');
  }
  // those this run handed over (inserted now: a daemon of the team may host one within the second,
  // by its orphan sweep, so a read-back alone would miss it) and those a previous run handed over
  // that nobody hosts yet; a run a daemon of the team already took over is its, not ours
  const unhosted = await run('registering unfinished runs', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < active.length; i += PAGE) {
      const r = await target.pool.query<{ run_id: string }>(
        `INSERT INTO ${owner} (run_id, executor, epoch) SELECT id, NULL, 0 FROM unnest($1::text[]) AS a(id) ON CONFLICT (run_id) DO NOTHING RETURNING run_id`,
        [active.slice(i, i + PAGE)],
      );
      for (const x of r.rows) ids.add(x.run_id);
    }
    for (const x of (await target.pool.query<{ run_id: string }>(`SELECT run_id FROM ${owner} WHERE run_id = ANY($1::text[]) AND executor IS NULL`, [active])).rows) ids.add(x.run_id);
    return [...ids].sort();
  });
  // Running members load memory at start only: each copied summary is announced on the channel a
  // host announces its runs' events on, with an empty event range (first > last: no event to push),
  // so every listening member reads the run, sees it ended and adds its summary to recall
  // (TeamService.onRemoteEvents). A member that is not running reads them when it starts.
  for (let i = 0; i < learned.length; i += PAGE) {
    const ids = learned.slice(i, i + PAGE);
    await run('announcing the migrated memory', () =>
      target.pool.query(`SELECT pg_notify($1, $2 || ' ' || id || ' 1 0 ended') FROM unnest($3::text[]) AS a(id)`, [EVENTS_CHANNEL, `migrate:${opts.homeId}`, ids]),
    );
  }
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
