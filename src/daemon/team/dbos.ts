import { randomUUID } from 'node:crypto';
import { DBOS, type WorkflowHandle } from '@dbos-inc/dbos-sdk';
import type { Logger } from 'pino';
// Internal DBOS APIs (package export "./internal/*"). Pinned to @dbos-inc/dbos-sdk 5.3.0;
// test/unit/team-dbos-internal.test.ts fails if any of them disappears or changes shape.
import { DBOSExecutor } from '@dbos-inc/dbos-sdk/internal/dbos-executor';
import { migrateSystemDatabase } from '@dbos-inc/dbos-sdk/internal/system_database';
import { GlobalLogger } from '@dbos-inc/dbos-sdk/internal/telemetry/logs';
import { INTERNAL_QUEUE_NAME, globalParams } from '@dbos-inc/dbos-sdk/internal/utils';
import { wfQueueRunner } from '@dbos-inc/dbos-sdk/internal/wfqueue';
import { databasePassword, maskDatabaseUrl } from '../../config/load.js';
import { connectCreating, LOCK_NS } from './conn.js';

/** The DBOS application name: scopes our workflows in the shared `dbos` schema. */
export const DBOS_APP_NAME = 'opstream';
/** The registered name of the hosting workflow. */
export const HOST_WORKFLOW = 'opstream.host';
/**
 * A hosted run may be adopted again and again (each daemon death counts as one recovery attempt):
 * never let DBOS dead-letter a run because its hosts kept dying.
 */
const MAX_RECOVERY_ATTEMPTS = 1_000_000;

export interface DbosOptions {
  url: string;
  executorId: string;
  appVersion: string;
  log: Logger;
  /** The body of `host:<runId>`: adopts the run into this daemon's engine; resolves when the run ends. */
  hostBody: (runId: string) => Promise<void>;
}

export interface DbosHandle {
  readonly executorId: string;
  readonly appVersion: string;
  /** Starts `host:<runId>` on this executor; resolves once the workflow row is committed. Idempotent. */
  host(runId: string): Promise<void>;
  /** Moves the PENDING workflows (of our app version) of a dead executor onto this one and starts them. */
  recover(deadExecutorId: string): Promise<string[]>;
  /** PENDING/ENQUEUED workflows of our app that belong to other versions (a mixed-version team). */
  pendingOtherVersions(): Promise<Array<{ version: string; count: number }>>;
  shutdown(): Promise<void>;
}

export const hostWorkflowId = (runId: string): string => `host:${runId}`;

/** DBOS's log lines go to our logger, with the database password scrubbed from every message. */
function dbosLogger(log: Logger, password: string | null): { info(m: unknown): void; debug(m: unknown): void; warn(m: unknown): void; error(m: unknown): void } {
  const text = (m: unknown): string => {
    let s = m instanceof Error ? m.message : typeof m === 'string' ? m : JSON.stringify(m);
    if (password) s = s.split(password).join('***');
    return s;
  };
  return {
    info: (m) => log.debug({ dbos: text(m) }, 'dbos'),
    debug: (m) => log.trace({ dbos: text(m) }, 'dbos'),
    warn: (m) => log.warn({ dbos: text(m) }, 'dbos'),
    error: (m) => log.error({ dbos: text(m) }, 'dbos'),
  };
}

/**
 * DBOS's own migration runner races when two processes migrate a fresh database at once
 * (seen: duplicate key on dbos_migrations_pkey), so every daemon migrates under one advisory lock.
 * The lock is taken in the team database itself (created first when missing): advisory locks are
 * per database.
 */
async function migrateUnderLock(url: string, dlog: ReturnType<typeof dbosLogger>): Promise<void> {
  const c = await connectCreating(url, 'opstream-migrate');
  try {
    // poll with try-lock, never a blocking pg_advisory_lock: a statement waiting on a lock holds a
    // snapshot, and the migration's CREATE INDEX CONCURRENTLY waits for every such snapshot (a
    // deadlock between the migrating daemon and the ones waiting for it, seen with 3 at once)
    for (;;) {
      const { rows } = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok', [LOCK_NS.ddl, 'dbos']);
      if (rows[0]!.ok) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await migrateSystemDatabase(url, new GlobalLogger(undefined, { logger: dlog }), 'dbos');
  } finally {
    await c.end(); // ends the session: the lock goes with it
  }
}

/**
 * DBOS sets idle_in_transaction_session_timeout with a query on each new pool connection, racing
 * the pool's first query (pg 8 prints a DeprecationWarning for it on stderr). Given in the URL's
 * libpq options instead, DBOS skips that query and the server applies the same 60 s limit.
 */
function withIdleTimeout(url: string): string {
  const u = new URL(url);
  const opts = u.searchParams.get('options') ?? '';
  if (opts.includes('idle_in_transaction_session_timeout')) return url;
  u.searchParams.set('options', `${opts} -c idle_in_transaction_session_timeout=60000`.trim());
  return u.href;
}

/** DBOS is a process-wide singleton: one team member per process. */
let started = false;

export async function startDbos(opts: DbosOptions): Promise<DbosHandle> {
  if (started) throw new Error('DBOS is already running in this process (one team member per process)');
  started = true;
  const { log, executorId, appVersion, url } = opts;
  const dlog = dbosLogger(log, databasePassword(url));
  try {
    await migrateUnderLock(url, dlog);
    const hostWf = DBOS.registerWorkflow(async (runId: string): Promise<void> => opts.hostBody(runId), {
      name: HOST_WORKFLOW,
      maxRecoveryAttempts: MAX_RECOVERY_ATTEMPTS,
    });
    DBOS.setConfig({
      name: DBOS_APP_NAME,
      systemDatabaseUrl: withIdleTimeout(url),
      executorID: executorId,
      applicationVersion: appVersion,
      runMigrations: false,
      logger: dlog,
      enableOTLP: false,
      tracingEnabled: false,
      systemDatabasePoolSize: 6,
    });
    // launch recovers this executor's own PENDING workflows (a daemon back after a crash that no
    // survivor handled); they go through the internal queue like any recovery
    await DBOS.launch();
    log.info({ executor: executorId, version: appVersion, db: maskDatabaseUrl(url) }, 'dbos launched');

    const exec = (): DBOSExecutor => {
      const e = DBOSExecutor.globalInstance;
      if (!e) throw new Error('DBOS is not running');
      return e;
    };
    /**
     * The internal queue's dequeue, done now: DBOS's queue runner would do the same at its next poll
     * (1 s for the internal queue, not configurable). FOR UPDATE SKIP LOCKED admits one claimer per
     * row; the claim sets PENDING, executor_id = us and a fresh owner token (which fences the old
     * owner's late writes); then dispatch runs the bodies exactly as the runner would.
     */
    const claimNow = async (): Promise<string[]> => {
      const e = exec();
      const queue = wfQueueRunner.getInternalQueue(INTERNAL_QUEUE_NAME);
      if (!queue) throw new Error('DBOS internal queue is not registered (DBOS internals changed?)');
      const ownerXid = randomUUID();
      const claimed = await e.systemDatabase.findAndMarkStartableWorkflows(queue, executorId, globalParams.appVersion, undefined, 0, 0, ownerXid);
      if (claimed.length > 0) void e.dispatchDequeuedWorkflows(claimed, ownerXid);
      return claimed;
    };
    // launch re-enqueued our own PENDING workflows (a comeback after a crash nobody handled): start them now
    const own = await claimNow();
    if (own.length > 0) log.info({ workflows: own.length }, 'resumed the hosted runs of our previous life');

    return {
      executorId,
      appVersion,
      async host(runId) {
        // startWorkflow commits the status row (PENDING, executor = us) before it returns and runs
        // the body in the background; a second start of the same id returns the existing workflow
        // without running the body again (only the creator's token executes it)
        const h: WorkflowHandle<void> = await DBOS.startWorkflow(hostWf, { workflowID: hostWorkflowId(runId) })(runId);
        void h;
      },
      async recover(dead) {
        if (dead === executorId) throw new Error('an executor cannot recover itself while running');
        const sysdb = exec().systemDatabase;
        // 1. DBOS's own recovery statement: one atomic UPDATE moves the dead executor's PENDING rows of
        //    our version to ENQUEUED on the internal queue (a row a live executor already claimed no
        //    longer matches `executor_id = dead`, so two recoveries cannot both take it).
        const ids = await sysdb.reenqueueWorkflowsForRecovery(dead, globalParams.appVersion, INTERNAL_QUEUE_NAME);
        if (ids.length === 0) return [];
        // 2. Claim them now instead of waiting for the internal queue's 1 s poll (see claimNow).
        //    Another daemon's poll landing between 1 and 2 takes some of them instead: each still runs
        //    once, there. If we die between 1 and 2 every live daemon's poll picks them up within 1 s.
        const claimed = await claimNow();
        log.info({ dead, recovered: ids.length, claimed_here: claimed.length }, 'recovered the workflows of a gone daemon');
        return ids;
      },
      async pendingOtherVersions() {
        const { rows } = await exec().systemDatabase.pool.query<{ version: string | null; count: string }>(
          `SELECT application_version AS version, count(*) AS count FROM dbos.workflow_status
            WHERE status IN ('PENDING', 'ENQUEUED') AND application_name = $1
              AND application_version IS DISTINCT FROM $2
            GROUP BY application_version ORDER BY application_version`,
          [DBOS_APP_NAME, appVersion],
        );
        return rows.map((r) => ({ version: r.version ?? '(unset)', count: Number(r.count) }));
      },
      async shutdown() {
        // no drain: host bodies of waiting runs never end by themselves; their rows stay PENDING
        // for a survivor (or this executor's next launch) to take over
        await DBOS.shutdown();
        started = false;
      },
    };
  } catch (e) {
    started = false;
    await DBOS.shutdown().catch(() => undefined);
    throw e;
  }
}
