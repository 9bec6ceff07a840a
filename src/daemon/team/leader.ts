import type { Logger } from 'pino';
import { LOCK_NS, TEAM_SCHEMA, type SerialClient } from './conn.js';
import type { Membership } from './membership.js';

/**
 * Singletons (scheduler, notifier, chat bridges) run on one elected daemon. Election is a session
 * advisory lock per name on the membership connection: exactly one session holds it, and it is
 * freed with the holder's session (process death, or the stale sweep ending a sleeping laptop's
 * session), so a follower that tries every `tryMs` takes over within about that long.
 *
 * `acquire(epoch)` gets a number that grows with every change of holder (leaders.epoch): work that
 * must not be done twice across a move can be fenced with it. If the membership connection is lost,
 * every held singleton is released locally first: the locks are gone with the session.
 */
export interface SingletonRole {
  acquire(epoch: number): Promise<void> | void;
  release(): Promise<void> | void;
}

export interface Leadership {
  singleton(name: string, role: SingletonRole): void;
  /** Each registered or known singleton and the live executor leading it (null: none right now). */
  leaders(): Promise<Record<string, string | null>>;
  /** Names this daemon leads right now. */
  held(): string[];
  /** Releases every held singleton (role.release, then the lock). */
  stop(): Promise<void>;
}

export function startLeadership(membership: Membership, log: Logger, opts: { tryMs?: number } = {}): Leadership {
  const tryMs = opts.tryMs ?? 250;
  const roles = new Map<string, SingletonRole>();
  const held = new Set<string>();
  let stopped = false;
  let busy = false;

  const releaseLocal = async (name: string): Promise<void> => {
    held.delete(name);
    try {
      await roles.get(name)?.release();
    } catch (e) {
      log.warn({ singleton: name, err: (e as Error).message }, 'releasing a singleton failed');
    }
  };

  const tick = async (): Promise<void> => {
    if (busy || stopped) return;
    const c: SerialClient = membership.conn();
    if (c.lost) return;
    const want = [...roles.keys()].filter((n) => !held.has(n));
    if (want.length === 0) return;
    busy = true;
    try {
      const { rows } = await c.query<{ name: string; got: boolean }>(
        `SELECT n AS name, pg_try_advisory_lock(hashtext('${LOCK_NS.leader}'), hashtext(n)) AS got FROM unnest($1::text[]) AS n`,
        [want],
      );
      for (const r of rows) {
        if (!r.got) continue;
        const { rows: er } = await c.query<{ epoch: string }>(
          `INSERT INTO ${TEAM_SCHEMA}.leaders (name, executor, epoch, since) VALUES ($1, $2, 1, now())
           ON CONFLICT (name) DO UPDATE SET executor = EXCLUDED.executor, epoch = ${TEAM_SCHEMA}.leaders.epoch + 1, since = now()
           RETURNING epoch`,
          [r.name, membership.executorId],
        );
        const epoch = Number(er[0]!.epoch);
        held.add(r.name);
        log.info({ singleton: r.name, epoch }, 'leading singleton');
        try {
          await roles.get(r.name)!.acquire(epoch);
        } catch (e) {
          // could not take the role up: let another daemon have it
          log.error({ singleton: r.name, err: (e as Error).message }, 'starting a singleton failed; giving it up');
          held.delete(r.name);
          await c.query(`SELECT pg_advisory_unlock(hashtext('${LOCK_NS.leader}'), hashtext($1))`, [r.name]).catch(() => undefined);
        }
      }
    } catch (e) {
      if (!c.lost) log.warn({ err: (e as Error).message }, 'singleton election failed');
    } finally {
      busy = false;
    }
  };

  membership.onEvent((e) => {
    if (e.type !== 'lost') return;
    // the session is gone, and every lock with it: stop acting as leader at once
    for (const name of [...held]) void releaseLocal(name);
  });

  const timer = setInterval(() => void tick(), tryMs);
  timer.unref();

  return {
    singleton(name, role) {
      if (roles.has(name)) throw new Error(`singleton ${name} is already registered`);
      roles.set(name, role);
      void tick();
    },
    held: () => [...held],
    async leaders() {
      const { rows } = await membership.conn().query<{ name: string; executor: string | null }>(
        `SELECT l.name, CASE WHEN m.state = 'live' THEN l.executor END AS executor
           FROM ${TEAM_SCHEMA}.leaders l LEFT JOIN ${TEAM_SCHEMA}.members m ON m.executor = l.executor ORDER BY l.name`,
      );
      const out: Record<string, string | null> = {};
      for (const n of roles.keys()) out[n] = null;
      for (const r of rows) out[r.name] = r.executor;
      return out;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      for (let i = 0; i < 100 && busy; i++) await new Promise((r) => setTimeout(r, 20));
      const c = membership.conn();
      for (const name of [...held]) {
        await releaseLocal(name);
        if (!c.lost) {
          await c.query(`UPDATE ${TEAM_SCHEMA}.leaders SET executor = NULL WHERE name = $1 AND executor = $2`, [name, membership.executorId]).catch(() => undefined);
          await c.query(`SELECT pg_advisory_unlock(hashtext('${LOCK_NS.leader}'), hashtext($1))`, [name]).catch(() => undefined);
        }
      }
    },
  };
}
