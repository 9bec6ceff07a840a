import pg from 'pg';

/**
 * PostgreSQL plumbing shared by the team modules: one serialised client per purpose, the schema
 * `opstream_team`, and the advisory-lock keys every daemon derives the same way.
 */

export const TEAM_SCHEMA = 'opstream_team';

/** Two-int4 advisory lock namespaces (first key, via hashtext); the second key is hashtext(name). */
export const LOCK_NS = {
  executor: 'opstream.executor',
  leader: 'opstream.leader',
  ddl: 'opstream.ddl',
} as const;

/**
 * A pg.Client whose queries run one after another (pg 8 deprecates queuing on a busy client) and
 * which reports, once, that its connection is gone: session advisory locks die with it, so the
 * owner must treat every lock taken on it as lost.
 */
export class SerialClient {
  private chain: Promise<unknown> = Promise.resolve();
  private dead = false;
  private readonly lostHandlers: Array<(err: Error) => void> = [];

  private constructor(
    private readonly client: pg.Client,
    readonly backendPid: number,
  ) {
    client.on('error', (err) => this.markLost(err));
    client.on('end', () => this.markLost(new Error('connection ended')));
  }

  static async connect(url: string, appName: string): Promise<SerialClient> {
    const client = new pg.Client({ connectionString: url, application_name: appName, keepAlive: true, keepAliveInitialDelayMillis: 1000 });
    // an error before the handlers below are attached must not crash the process
    client.on('error', () => undefined);
    await client.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    return new SerialClient(client, rows[0]!.pid);
  }

  get lost(): boolean {
    return this.dead;
  }

  onNotification(f: (n: pg.Notification) => void): void {
    this.client.on('notification', f);
  }

  onLost(f: (err: Error) => void): void {
    this.lostHandlers.push(f);
  }

  private markLost(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    for (const f of this.lostHandlers) f(err);
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    const run = async (): Promise<pg.QueryResult<R>> => {
      if (this.dead) throw new Error('the team database connection is closed');
      try {
        return await this.client.query<R>(text, params);
      } catch (e) {
        // a query that failed because the socket died: report the loss now, not at the next query
        const code = (e as { code?: string }).code;
        if (!code || code.startsWith('08') || code.startsWith('57P')) this.markLost(e as Error);
        throw e;
      }
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  async end(): Promise<void> {
    this.dead = true;
    await this.client.end().catch(() => undefined);
  }
}

/** Connects to the database, creating it first when it does not exist yet (a brand-new team). */
export async function connectCreating(url: string, appName: string): Promise<SerialClient> {
  try {
    return await SerialClient.connect(url, appName);
  } catch (e) {
    if ((e as { code?: string }).code !== '3D000') throw e;
    const admin = new URL(url);
    const db = decodeURIComponent(admin.pathname.slice(1));
    admin.pathname = '/postgres';
    const c = await SerialClient.connect(admin.href, appName);
    try {
      await c.query(`CREATE DATABASE "${db.replace(/"/g, '""')}"`);
    } catch (err) {
      // another daemon created it first
      const code = (err as { code?: string }).code;
      if (code !== '42P04' && code !== '23505') throw err;
    } finally {
      await c.end();
    }
    return SerialClient.connect(url, appName);
  }
}

/**
 * Our tables. Created under a transaction-scoped advisory lock: CREATE ... IF NOT EXISTS from two
 * daemons starting at once can still collide on the catalog's unique index.
 */
export async function ensureTeamSchema(c: SerialClient): Promise<void> {
  await c.query('BEGIN');
  try {
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [LOCK_NS.ddl, TEAM_SCHEMA]);
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${TEAM_SCHEMA}`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${TEAM_SCHEMA}.members (
      executor text PRIMARY KEY,
      home text NOT NULL,
      host text NOT NULL,
      usr text NOT NULL,
      pid integer NOT NULL,
      version text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      last_seen timestamptz NOT NULL DEFAULT now(),
      ended_at timestamptz,
      state text NOT NULL,
      lock_pid integer)`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${TEAM_SCHEMA}.leaders (
      name text PRIMARY KEY,
      executor text,
      epoch bigint NOT NULL DEFAULT 0,
      since timestamptz NOT NULL DEFAULT now())`);
    await c.query(`CREATE TABLE IF NOT EXISTS ${TEAM_SCHEMA}.requests (
      id bigserial PRIMARY KEY,
      caller text NOT NULL,
      target text NOT NULL,
      method text NOT NULL,
      params jsonb,
      actor jsonb,
      state text NOT NULL DEFAULT 'new',
      result jsonb,
      error jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      done_at timestamptz)`);
    await c.query(`CREATE INDEX IF NOT EXISTS requests_target_new ON ${TEAM_SCHEMA}.requests (target) WHERE state = 'new'`);
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
