import pg from 'pg';
import type { Logger } from 'pino';
import { ERROR_CODES, isWireError, WireError, type ErrorCode } from '../../protocol/wire-error.js';
import { isServerError } from '../store/pg-store.js';
import { maskDatabaseUrl } from '../../config/load.js';
import { SerialClient, TEAM_SCHEMA } from './conn.js';

/**
 * Calls between daemons over PostgreSQL: a row in opstream_team.requests per call, NOTIFY to wake
 * the target (and, with the answer, the caller). The target claims a request with
 * `UPDATE ... WHERE state = 'new'`, so it is handled at most once; a caller that gives up marks
 * an unclaimed request 'expired' in the same way, so a late target never acts on it.
 */

const REQ_CHANNEL = 'opstream_team_req';
const RES_CHANNEL = 'opstream_team_res';

export type Handler = (method: string, params: unknown, actor: unknown) => Promise<unknown>;

export interface Requests {
  /**
   * `claimMs`: how long the target has to take the request before the caller gives up on it
   * (retryable: nothing was done); once taken, the answer may take up to `timeoutMs`.
   */
  call(target: string, method: string, params: unknown, actor: unknown, timeoutMs: number, claimMs?: number): Promise<unknown>;
  serve(handler: Handler): void;
  close(): Promise<void>;
}

interface Waiter {
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

export async function startRequests(opts: { url: string; executorId: string; log: Logger }): Promise<Requests> {
  const { executorId: me, log } = opts;
  const masked = maskDatabaseUrl(opts.url);
  const pool = new pg.Pool({ connectionString: opts.url, max: 4, application_name: `opstream-requests ${me}` });
  pool.on('error', (e) => log.warn({ err: e.message }, 'team requests pool connection failed'));
  const waiting = new Map<string, Waiter>();
  let handler: Handler | null = null;
  let closed = false;
  let listener: SerialClient | null = null;

  const finish = async (id: string): Promise<void> => {
    const w = waiting.get(id);
    if (!w) return;
    const { rows } = await pool.query<{ state: string; result: unknown; error: { code?: string; message?: string; retryable?: boolean } | null }>(
      `SELECT state, result, error FROM ${TEAM_SCHEMA}.requests WHERE id = $1`,
      [id],
    );
    const r = rows[0];
    if (!r || r.state !== 'done') return;
    waiting.delete(id);
    if (r.error) {
      const code = (ERROR_CODES as readonly string[]).includes(r.error.code ?? '') ? (r.error.code as ErrorCode) : 'internal';
      w.reject(new WireError(code, r.error.message ?? 'the remote daemon failed', { retryable: r.error.retryable ?? false }));
    } else {
      w.resolve(r.result);
    }
  };

  const handle = async (id: string): Promise<void> => {
    if (!handler || closed) return;
    const { rows } = await pool.query<{ method: string; params: unknown; actor: unknown }>(
      `UPDATE ${TEAM_SCHEMA}.requests SET state = 'claimed' WHERE id = $1 AND target = $2 AND state = 'new' AND expires_at > now()
       RETURNING method, params, actor`,
      [id, me],
    );
    const req = rows[0];
    if (!req) return; // someone else's, already handled, or given up by its caller
    let result: unknown = null;
    let error: { code: string; message: string; retryable: boolean } | null = null;
    try {
      result = (await handler(req.method, req.params, req.actor)) ?? null;
    } catch (e) {
      error = isWireError(e)
        ? { code: e.code, message: e.message, retryable: e.retryable }
        : { code: 'internal', message: (e as Error).message ?? String(e), retryable: false };
    }
    // the answer and the caller's wake-up in one statement (NOTIFY is delivered at commit)
    await pool.query(
      `WITH u AS (UPDATE ${TEAM_SCHEMA}.requests SET state = 'done', result = $2::jsonb, error = $3::jsonb, done_at = now()
                   WHERE id = $1 RETURNING caller)
       SELECT pg_notify('${RES_CHANNEL}', u.caller || ' ' || $1::text) FROM u`,
      [id, JSON.stringify(result), error ? JSON.stringify(error) : null],
    );
  };

  /** Requests for us that arrived while we were not listening (startup, a reconnect). */
  const catchUp = async (): Promise<void> => {
    const { rows } = await pool.query<{ id: string }>(`SELECT id::text FROM ${TEAM_SCHEMA}.requests WHERE target = $1 AND state = 'new' AND expires_at > now()`, [me]);
    for (const r of rows) void handle(r.id).catch((e: Error) => log.warn({ err: e.message }, 'team request failed'));
    for (const id of waiting.keys()) void finish(id).catch(() => undefined);
  };

  const listen = async (): Promise<void> => {
    const c = await SerialClient.connect(opts.url, `opstream-listen ${me}`);
    c.onNotification((n) => {
      const [who, id] = (n.payload ?? '').split(' ');
      if (who !== me || !id) return;
      if (n.channel === REQ_CHANNEL) void handle(id).catch((e: Error) => log.warn({ err: e.message }, 'team request failed'));
      else if (n.channel === RES_CHANNEL) void finish(id).catch((e: Error) => log.warn({ err: e.message }, 'reading a team answer failed'));
    });
    await c.query(`LISTEN ${REQ_CHANNEL}`);
    await c.query(`LISTEN ${RES_CHANNEL}`);
    listener = c;
    c.onLost(() => {
      if (closed) return;
      log.warn('team request listener lost its connection; reconnecting');
      const retry = (delay: number): void => {
        setTimeout(() => {
          if (closed) return;
          listen().then(catchUp, () => retry(Math.min(delay * 2, 5000)));
        }, delay).unref();
      };
      retry(250);
    });
  };
  await listen();

  // answered requests are kept a while for inspection, then dropped
  const gc = setInterval(() => {
    void pool.query(`DELETE FROM ${TEAM_SCHEMA}.requests WHERE caller = $1 AND created_at < now() - interval '10 minutes'`, [me]).catch(() => undefined);
  }, 60_000);
  gc.unref();

  return {
    serve(h) {
      handler = h;
      void catchUp().catch((e: Error) => log.warn({ err: e.message }, 'team request catch-up failed'));
    },
    async call(target, method, params, actor, timeoutMs, claimMs = timeoutMs) {
      if (closed) throw new WireError('unavailable', 'this daemon is stopping');
      let rows: { id: string }[];
      try {
        ({ rows } = await pool.query<{ id: string }>(
          `WITH i AS (INSERT INTO ${TEAM_SCHEMA}.requests (caller, target, method, params, actor, expires_at)
                      VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, now() + make_interval(secs => $6::float8 / 1000)) RETURNING id)
           SELECT i.id::text AS id, pg_notify('${REQ_CHANNEL}', $2 || ' ' || i.id::text) FROM i`,
          [me, target, method, JSON.stringify(params ?? null), JSON.stringify(actor ?? null), timeoutMs],
        ));
      } catch (e) {
        // not asked (or, if the connection broke after the commit, asked once): a decision asked again is
        // refused as already made, so trying again is safe
        if (isServerError(e)) throw new WireError('unavailable', `the team database ${masked} cannot be reached, so daemon ${target} could not be asked; try again`, { retryable: true });
        throw e;
      }
      const id = rows[0]!.id;
      return new Promise((resolve, reject) => {
        let timer: NodeJS.Timeout;
        const giveUp = (final: boolean): void => {
          void (async () => {
            if (!waiting.has(id)) return;
            // give up: an unclaimed request can never run after this; a claimed one may still be running
            const { rows: u } = await pool.query<{ state: string }>(
              `UPDATE ${TEAM_SCHEMA}.requests SET state = CASE WHEN state = 'new' THEN 'expired' ELSE state END
                WHERE id = $1 RETURNING state`,
              [id],
            );
            const state = u[0]?.state;
            if (state === 'done') return void (await finish(id));
            if (state !== 'expired' && !final) {
              // taken in time: its answer may take until the full timeout
              timer = setTimeout(() => giveUp(true), Math.max(0, timeoutMs - claimMs));
              timer.unref();
              return;
            }
            waiting.delete(id);
            reject(
              state === 'expired'
                ? new WireError('unavailable', `daemon ${target} did not take the request within ${claimMs} ms (gone or unresponsive); nothing was done`, { retryable: true })
                : new WireError('unavailable', `daemon ${target} took the request but did not answer within ${timeoutMs} ms; it may have been applied`, { retryable: false }),
            );
          })().catch((e: Error) => {
            waiting.delete(id);
            reject(new WireError('unavailable', `team database unreachable: ${e.message}`, { retryable: true }));
          });
        };
        timer = setTimeout(() => giveUp(claimMs >= timeoutMs), claimMs);
        timer.unref();
        waiting.set(id, {
          resolve: (v) => (clearTimeout(timer), resolve(v)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
        // the answer may have landed before we registered
        void finish(id).catch(() => undefined);
      });
    },
    async close() {
      closed = true;
      clearInterval(gc);
      for (const [id, w] of waiting) {
        waiting.delete(id);
        w.reject(new WireError('unavailable', 'this daemon is stopping'));
      }
      await listener?.end();
      await pool.end().catch(() => undefined);
    },
  };
}
