import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { maskDatabaseUrl } from '../../config/load.js';
import { ensureTeamSchema, connectCreating, LOCK_NS, SerialClient, TEAM_SCHEMA } from './conn.js';

/**
 * Team membership and liveness. Each daemon holds a session advisory lock keyed by its executor id
 * on a dedicated connection for as long as it lives; PostgreSQL frees the lock when that session
 * ends (kill -9 included). Every other member tries that lock every `sweepMs`: whoever gets it
 * knows the daemon is gone and, holding the lock, is the only survivor that hands its work over
 * (`onDead`), then marks it and lets go. A daemon whose lock is held but whose heartbeat stopped
 * (laptop asleep, half-open TCP) has its lock session terminated after `staleMs`, then the same.
 */

/** live: running; leaving: stopped cleanly, its hosted runs not yet taken over; left/dead: taken over. */
export type MemberState = 'live' | 'leaving' | 'left' | 'dead';

export interface Member {
  executor: string;
  home: string;
  host: string;
  user: string;
  pid: number;
  version: string;
  startedAt: string;
  lastSeen: string;
  endedAt: string | null;
  state: MemberState;
  /** A live member whose heartbeat is older than the stale limit (asleep, cut off, or another version's orphan). */
  stale: boolean;
}

export type TeamEvent =
  /** `at`: epoch ms when this survivor got the gone member's lock (its death was detected). */
  | { type: 'gone'; executor: string; was: 'live' | 'leaving'; at: number }
  /** `handoverMs`: detection to onDead done (its runs recovered here). */
  | { type: 'taken-over'; executor: string; state: 'dead' | 'left'; handoverMs: number }
  | { type: 'lost'; reason: string }
  | { type: 'rejoined' };

export interface JoinOptions {
  url: string;
  executorId: string;
  home: string;
  host: string;
  user: string;
  pid: number;
  /** The app version (members of another version cannot adopt each other's runs). */
  version: string;
  log: Logger;
  /** Hands a gone member's work over to this daemon; called by exactly one survivor per death. */
  onDead: (executorId: string) => Promise<void>;
  onEvent?: (e: TeamEvent) => void;
  heartbeatMs?: number;
  sweepMs?: number;
  staleMs?: number;
  /** How long to wait for our own executor lock (a survivor may be handing our old work over). */
  joinWaitMs?: number;
  /** After the database server restarted: how long a live member has to reconnect before it counts as gone. */
  rejoinGraceMs?: number;
}

export interface Membership {
  readonly executorId: string;
  /** The dedicated connection holding our liveness lock (singleton locks live on it too). */
  readonly conn: () => SerialClient;
  members(): Promise<Member[]>;
  /** Subscribe to our connection's loss (every lock on it is gone) and to rejoins. */
  onEvent(f: (e: TeamEvent) => void): void;
  /** Clean stop: marks us 'leaving' and lets go, so a survivor takes our hosted runs over. */
  leave(): Promise<void>;
}

/** Stable per OPSTREAM_HOME and host: the same daemon restarting keeps its executor id. */
export function executorIdFor(home: string, host: string = hostname()): string {
  const h = createHash('sha256').update(home).digest('hex').slice(0, 8);
  const safeHost = host.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 48) || 'host';
  return `${safeHost}-${h}`;
}

const LOCK = `pg_try_advisory_lock(hashtext('${LOCK_NS.executor}'), hashtext($1))`;

export async function joinTeam(opts: JoinOptions): Promise<Membership> {
  const { log, executorId: me } = opts;
  const heartbeatMs = opts.heartbeatMs ?? 500;
  const sweepMs = opts.sweepMs ?? 250;
  const staleMs = opts.staleMs ?? 3000;
  const joinWaitMs = opts.joinWaitMs ?? 3000;
  // longer than a reconnect's longest backoff (5 s) plus a connect and a join
  const rejoinGraceMs = opts.rejoinGraceMs ?? Math.max(10_000, 3 * staleMs);
  const listeners: Array<(e: TeamEvent) => void> = opts.onEvent ? [opts.onEvent] : [];
  const emit = (e: TeamEvent): void => {
    for (const f of listeners) {
      try {
        f(e);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'team event listener failed');
      }
    }
  };

  let conn: SerialClient;
  try {
    conn = await connectCreating(opts.url, `opstream-member ${me}`);
  } catch (e) {
    // pg's messages never carry the password; the URL is shown masked
    throw new Error(`cannot use the team database ${maskDatabaseUrl(opts.url)}: ${(e as Error).message}`);
  }
  await ensureTeamSchema(conn);

  /** Takes our own lock (waiting while a survivor hands our previous life's work over), then says we are live. */
  const lockSelf = async (c: SerialClient, waitMs: number): Promise<boolean> => {
    const until = Date.now() + waitMs;
    for (;;) {
      // got it; or who holds it: the live member itself (its lock session is in the row: refuse at
      // once) or a survivor handing our previous life over (wait for it)
      const { rows } = await c.query<{ ok: boolean; owner: boolean }>(
        `SELECT ok, NOT ok AND EXISTS (
                  SELECT 1 FROM ${TEAM_SCHEMA}.members m JOIN pg_locks l ON l.pid = m.lock_pid
                   WHERE m.executor = $1 AND m.state = 'live' AND l.locktype = 'advisory' AND l.granted
                     AND l.classid = hashtext('${LOCK_NS.executor}')::oid AND l.objid = hashtext($1)::oid AND l.objsubid = 2) AS owner
           FROM (SELECT ${LOCK} AS ok) t`,
        [me],
      );
      if (rows[0]!.ok) break;
      if (rows[0]!.owner || Date.now() >= until) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
    await c.query(
      `INSERT INTO ${TEAM_SCHEMA}.members (executor, home, host, usr, pid, version, started_at, last_seen, ended_at, state, lock_pid)
       VALUES ($1, $2, $3, $4, $5, $6, now(), now(), NULL, 'live', $7)
       ON CONFLICT (executor) DO UPDATE SET home = EXCLUDED.home, host = EXCLUDED.host, usr = EXCLUDED.usr, pid = EXCLUDED.pid,
         version = EXCLUDED.version, started_at = now(), last_seen = now(), ended_at = NULL, state = 'live', lock_pid = EXCLUDED.lock_pid`,
      [me, opts.home, opts.host, opts.user, opts.pid, opts.version, c.backendPid],
    );
    return true;
  };

  if (!(await lockSelf(conn, joinWaitMs))) {
    const { rows } = await conn.query<{ host: string; pid: number; home: string }>(`SELECT host, pid, home FROM ${TEAM_SCHEMA}.members WHERE executor = $1`, [me]);
    await conn.end();
    const r = rows[0];
    throw new Error(
      `another OpStream daemon with executor id ${me} is running${r ? ` (pid ${r.pid} on ${r.host}, home ${r.home})` : ''}: stop it first, or use another OPSTREAM_HOME`,
    );
  }

  let stopped = false;
  /** Gone members this daemon is handing over right now (their lock held on our connection). */
  const handing = new Set<string>();
  /** Members whose stale lock session we already asked PostgreSQL to end (once per episode). */
  const terminated = new Set<string>();

  const handOver = async (executor: string, was: 'live' | 'leaving', detectedAt: number, c: SerialClient): Promise<void> => {
    try {
      // the sweep read the state with a snapshot older than the lock it got: another survivor may
      // have taken this member over and let go in between; read again now that the lock is ours
      const { rows: now } = await c.query<{ state: MemberState }>(`SELECT state FROM ${TEAM_SCHEMA}.members WHERE executor = $1`, [executor]);
      if (now[0]?.state !== 'live' && now[0]?.state !== 'leaving') return;
      emit({ type: 'gone', executor, was, at: Date.now() });
      log.info({ executor, was }, 'team member gone; taking its work over');
      await opts.onDead(executor);
      const handedAt = performance.now();
      const { rows } = await c.query<{ state: 'dead' | 'left' }>(
        `UPDATE ${TEAM_SCHEMA}.members SET state = CASE state WHEN 'leaving' THEN 'left' ELSE 'dead' END, ended_at = now()
          WHERE executor = $1 AND state IN ('live', 'leaving') RETURNING state`,
        [executor],
      );
      const state = rows[0]?.state ?? (was === 'leaving' ? 'left' : 'dead');
      emit({ type: 'taken-over', executor, state, handoverMs: Math.round(handedAt - detectedAt) });
    } catch (e) {
      // not marked: the next sweep (ours or another survivor's) tries again
      log.warn({ executor, err: (e as Error).message }, 'taking over a gone team member failed; retrying');
    } finally {
      await c.query(`SELECT pg_advisory_unlock(hashtext('${LOCK_NS.executor}'), hashtext($1))`, [executor]).catch(() => undefined);
      handing.delete(executor);
    }
  };

  let sweeping = false;
  const sweep = async (): Promise<void> => {
    if (sweeping || stopped || conn.lost) return;
    sweeping = true;
    const c = conn;
    try {
      // one round trip: try every other live/leaving member's lock; a lock we get means its process is gone.
      // Only members of our version: a daemon of another version could not run their workflows, and
      // marking them taken over would strand them; they wait for a survivor (or a newcomer) of theirs.
      //
      // After the DATABASE restarted, every lock is free because every session ended, not because
      // its daemon died: a live member not seen since the server started is given `rejoinGraceMs`
      // from the server's start to reconnect (its backoff tops out at 5 s) before its free lock
      // counts as a death. Without this, the member that reconnects first takes over the others'
      // runs while they are on their way back (seen in test/integration/team-faults.test.ts).
      const { rows } = await c.query<{ executor: string; state: 'live' | 'leaving'; got: boolean; stale: boolean }>(
        `SELECT executor, state, CASE WHEN rejoining THEN false ELSE ${LOCK.replace('$1', 'executor')} END AS got,
                NOT rejoining AND (now() - last_seen) > make_interval(secs => $3::float8 / 1000) AS stale
           FROM (SELECT *, state = 'live' AND last_seen < pg_postmaster_start_time()
                           AND now() - pg_postmaster_start_time() < make_interval(secs => $5::float8 / 1000) AS rejoining
                   FROM ${TEAM_SCHEMA}.members
                  WHERE executor <> $1 AND state IN ('live', 'leaving') AND NOT (executor = ANY($2::text[])) AND version = $4) m`,
        [me, [...handing], staleMs, opts.version, rejoinGraceMs],
      );
      const now = performance.now();
      for (const r of rows) {
        if (r.got) {
          handing.add(r.executor);
          terminated.delete(r.executor);
          void handOver(r.executor, r.state, now, c);
        } else if (r.stale && r.state === 'live' && !terminated.has(r.executor)) {
          // its lock is held but it has not been heard of: end that session, the lock goes with it
          terminated.add(r.executor);
          const t = await c.query<{ n: number }>(
            `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_locks
              WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND classid = hashtext('${LOCK_NS.executor}')::oid AND objid = hashtext($1)::oid AND objsubid = 2`,
            [r.executor],
          );
          log.warn({ executor: r.executor, stale_ms: staleMs, terminated: t.rows[0]?.n ?? 0 }, 'team member stopped heartbeating while holding its lock; ended its session');
        } else if (!r.stale) {
          terminated.delete(r.executor);
        }
      }
    } catch (e) {
      if (!c.lost) log.warn({ err: (e as Error).message }, 'team sweep failed');
    } finally {
      sweeping = false;
    }
  };

  const heartbeat = async (): Promise<void> => {
    if (stopped || conn.lost) return;
    await conn.query(`UPDATE ${TEAM_SCHEMA}.members SET last_seen = now() WHERE executor = $1`, [me]).catch((e: Error) => {
      if (!conn.lost) log.warn({ err: e.message }, 'team heartbeat failed');
    });
  };

  /** Our connection (and with it every lock) is gone: say so, then rejoin with backoff. */
  const onConnLost = (err: Error): void => {
    if (stopped) return;
    log.error({ err: err.message }, 'lost the team database connection: this daemon left the team until it reconnects');
    emit({ type: 'lost', reason: err.message });
    void (async () => {
      let delay = 250;
      while (!stopped) {
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
        try {
          const c = await SerialClient.connect(opts.url, `opstream-member ${me}`);
          if (!(await lockSelf(c, joinWaitMs))) {
            await c.end();
            continue;
          }
          if (stopped) {
            await c.end();
            return;
          }
          conn = c;
          c.onLost(onConnLost);
          log.info('rejoined the team');
          emit({ type: 'rejoined' });
          return;
        } catch {
          // still unreachable: back off
        }
      }
    })();
  };
  conn.onLost(onConnLost);

  const hb = setInterval(() => void heartbeat(), heartbeatMs);
  const sw = setInterval(() => void sweep(), sweepMs);
  hb.unref();
  sw.unref();
  void sweep();

  return {
    executorId: me,
    conn: () => conn,
    onEvent(f) {
      listeners.push(f);
    },
    async members() {
      const { rows } = await conn.query<{
        executor: string; home: string; host: string; usr: string; pid: number; version: string;
        started_at: Date; last_seen: Date; ended_at: Date | null; state: MemberState; stale: boolean;
      }>(
        `SELECT *, state = 'live' AND (now() - last_seen) > make_interval(secs => $1::float8 / 1000) AS stale FROM ${TEAM_SCHEMA}.members
          WHERE state IN ('live', 'leaving') OR ended_at > now() - interval '1 day'
          ORDER BY state <> 'live', executor`,
        [staleMs],
      );
      return rows.map((r) => ({
        executor: r.executor, home: r.home, host: r.host, user: r.usr, pid: r.pid, version: r.version,
        startedAt: r.started_at.toISOString(), lastSeen: r.last_seen.toISOString(), endedAt: r.ended_at?.toISOString() ?? null, state: r.state, stale: r.stale,
      }));
    },
    async leave() {
      if (stopped) return;
      stopped = true;
      clearInterval(hb);
      clearInterval(sw);
      const c = conn;
      // let in-flight handovers finish (they hold a gone member's lock on this connection)
      for (let i = 0; i < 100 && handing.size > 0; i++) await new Promise((r) => setTimeout(r, 50));
      await c.query(`UPDATE ${TEAM_SCHEMA}.members SET state = 'leaving', last_seen = now() WHERE executor = $1`, [me]).catch(() => undefined);
      // ending the session frees our lock: a survivor sees 'leaving' + a free lock and takes our runs over
      await c.end();
    },
  };
}
