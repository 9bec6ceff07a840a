import { hostname, userInfo } from 'node:os';
import type { Logger } from 'pino';
import { databasePassword, maskDatabaseUrl } from '../../config/load.js';
import { startDbos, type DbosHandle } from './dbos.js';
import { startLeadership, type Leadership, type SingletonRole } from './leader.js';
import { executorIdFor, joinTeam, type Member, type Membership, type TeamEvent } from './membership.js';
import { startRequests, type Handler, type Requests } from './requests.js';

export { executorIdFor } from './membership.js';
export type { Member, TeamEvent } from './membership.js';
export type { SingletonRole } from './leader.js';

/**
 * The team runtime in one piece: membership (liveness lock, heartbeat, sweep), DBOS (hosting
 * workflows and their recovery), singleton election and cross-daemon requests.
 *
 * Start order: join first (our executor lock proves no other live daemon uses our id; only then may
 * DBOS launch, whose launch recovers our id's PENDING workflows), then DBOS, then requests and
 * elections. Stop order is the reverse, with one choice worth stating: a clean stop hands the
 * daemon's hosted runs over instead of keeping them for its return. It marks itself 'leaving' and
 * ends its session; a survivor of the same version sees the free lock, recovers the PENDING host
 * workflows exactly as after a death, and marks it 'left' (not 'dead'). Waiting runs must not wait
 * for a laptop that may never reopen; a daemon that comes back simply hosts new runs again. The
 * caller must have stopped its engine's activations before stop(), or a run could step on two
 * daemons at once.
 */
export interface TeamOptions {
  url: string;
  home: string;
  appVersion: string;
  log: Logger;
  /**
   * The body of `host:<runId>`: adopt the run into this daemon's engine, resolve when it ends. Called
   * for runs this daemon starts (host()), for runs of a gone member recovered here, and, while
   * startTeam is still starting, for runs this executor hosted in a previous life that nobody took
   * over: it must wait for the engine to be ready itself. A rejection records the workflow as ERROR.
   */
  hostBody: (runId: string) => Promise<void>;
  executorId?: string;
  user?: string;
  host?: string;
  pid?: number;
  onEvent?: (e: TeamRuntimeEvent) => void;
  /** Called on the survivor that takes a gone member over, after its runs were recovered (e.g. its undelivered notifications). */
  onTakeOver?: (executor: string) => Promise<void>;
  /** Defaults: heartbeat 500 ms, sweep 250 ms, stale 3000 ms, election 250 ms. */
  timings?: { heartbeatMs?: number; sweepMs?: number; staleMs?: number; leaderTryMs?: number };
}

export type TeamRuntimeEvent = TeamEvent | { type: 'recovered'; executor: string; workflows: string[] };

export interface TeamStatus {
  database: string;
  executorId: string;
  appVersion: string;
  members: Member[];
  leaders: Record<string, string | null>;
  pendingOtherVersions: Array<{ version: string; count: number }>;
}

export interface Team {
  readonly executorId: string;
  readonly appVersion: string;
  /** The database URL with its password masked. */
  readonly database: string;
  host(runId: string): Promise<void>;
  singleton(name: string, role: SingletonRole): void;
  call(target: string, method: string, params: unknown, actor: unknown, timeoutMs: number, claimMs?: number): Promise<unknown>;
  serve(handler: Handler): void;
  members(): Promise<Member[]>;
  leaders(): Promise<Record<string, string | null>>;
  pendingOtherVersions(): Promise<Array<{ version: string; count: number }>>;
  /**
   * Null while the database answers; else since when members(), leaders() or pendingOtherVersions()
   * last failed (they then answer with what was last seen) and why, the password scrubbed.
   */
  databaseError(): { since: string; reason: string } | null;
  status(): Promise<TeamStatus>;
  onEvent(f: (e: TeamRuntimeEvent) => void): void;
  stop(): Promise<void>;
}

export async function startTeam(opts: TeamOptions): Promise<Team> {
  const { log } = opts;
  const executorId = opts.executorId ?? executorIdFor(opts.home);
  const listeners: Array<(e: TeamRuntimeEvent) => void> = opts.onEvent ? [opts.onEvent] : [];
  const emit = (e: TeamRuntimeEvent): void => {
    for (const f of listeners) f(e);
  };
  let dbosReady!: (d: DbosHandle) => void;
  const dbosP = new Promise<DbosHandle>((r) => (dbosReady = r));

  const t = opts.timings ?? {};
  const password = databasePassword(opts.url);
  const scrub = (text: string): string => (password ? text.split(password).join('***') : text);
  const membership: Membership = await joinTeam({
    url: opts.url,
    executorId,
    home: opts.home,
    host: opts.host ?? hostname(),
    user: opts.user ?? userInfo().username,
    pid: opts.pid ?? process.pid,
    version: opts.appVersion,
    log,
    heartbeatMs: t.heartbeatMs,
    sweepMs: t.sweepMs,
    staleMs: t.staleMs,
    onEvent: emit,
    // a death noticed while DBOS is still launching waits for it (the gone member's lock stays ours)
    onDead: async (dead) => {
      const d = await dbosP;
      const workflows = await d.recover(dead);
      emit({ type: 'recovered', executor: dead, workflows });
      // before the member is marked taken over: a survivor dying here leaves it to the next one
      await opts.onTakeOver?.(dead);
    },
  });

  let dbos: DbosHandle;
  let requests: Requests;
  try {
    dbos = await startDbos({ url: opts.url, executorId, appVersion: opts.appVersion, log, hostBody: opts.hostBody });
    dbosReady(dbos);
    requests = await startRequests({ url: opts.url, executorId, log });
  } catch (e) {
    await membership.leave().catch(() => undefined);
    throw e;
  }
  const leadership: Leadership = startLeadership(membership, log, { tryMs: t.leaderTryMs });
  let stopping: Promise<void> | null = null;

  /**
   * What the team looked like when the database last answered: while it is away (its restart, a
   * network cut) `daemon status` still answers, with the members, leaders and other versions as
   * last seen, instead of failing with the database.
   */
  const lastKnown = {
    members: [] as Member[],
    leaders: {} as Record<string, string | null>,
    other: [] as Array<{ version: string; count: number }>,
  };
  let unreachable: { since: string; reason: string } | null = null;
  const remembered = async <K extends keyof typeof lastKnown>(key: K, read: () => Promise<(typeof lastKnown)[K]>): Promise<(typeof lastKnown)[K]> => {
    try {
      const v = await read();
      lastKnown[key] = v;
      unreachable = null;
      return v;
    } catch (e) {
      const reason = scrub((e as Error).message ?? String(e));
      unreachable ??= { since: new Date().toISOString(), reason };
      log.debug({ err: reason, what: key }, 'team database unreachable: answering with what was last seen');
      return lastKnown[key];
    }
  };
  const members = (): Promise<Member[]> => remembered('members', () => membership.members());
  const leaders = (): Promise<Record<string, string | null>> => remembered('leaders', () => leadership.leaders());
  const pendingOtherVersions = (): Promise<Array<{ version: string; count: number }>> => remembered('other', () => dbos.pendingOtherVersions());

  return {
    executorId,
    appVersion: opts.appVersion,
    database: maskDatabaseUrl(opts.url),
    host: (runId) => dbos.host(runId),
    singleton: (name, role) => leadership.singleton(name, role),
    call: (target, method, params, actor, timeoutMs, claimMs) => requests.call(target, method, params, actor, timeoutMs, claimMs),
    serve: (h) => requests.serve(h),
    members,
    leaders,
    pendingOtherVersions,
    databaseError: () => unreachable,
    async status() {
      const [m, l, o] = await Promise.all([members(), leaders(), pendingOtherVersions()]);
      return { database: maskDatabaseUrl(opts.url), executorId, appVersion: opts.appVersion, members: m, leaders: l, pendingOtherVersions: o };
    },
    onEvent(f) {
      listeners.push(f);
    },
    stop() {
      stopping ??= (async () => {
        await leadership.stop();
        await requests.close();
        await dbos.shutdown().catch((e: Error) => log.warn({ err: e.message }, 'DBOS shutdown failed'));
        await membership.leave();
      })();
      return stopping;
    },
  };
}
