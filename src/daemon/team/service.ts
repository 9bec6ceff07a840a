import { hostname, userInfo } from 'node:os';
import { PACKAGE_VERSION, WireError } from '../../protocol/index.js';
import type { TeamStatus } from '../../protocol/methods/daemon.js';
import type { RunEventPush } from '../../protocol/events.js';
import type { Logger } from 'pino';
import type { Paths } from '../../config/paths.js';
import type { Bus } from '../bus.js';
import type { Service } from '../context.js';
import type { Engine } from '../engine/engine.js';
import type { Feed } from '../feed.js';
import type { MemoryService } from '../memory/memory.js';
import type { Notifier } from '../notify/notifier.js';
import type { RunsRepo } from '../repos/runs.js';
import type { PgStore } from '../store/pg-store.js';
import type { ForwardedOp } from '../engine/engine.js';
import { EVENTS_CHANNEL, type TeamPort } from './port.js';
import { startTeam, type Team } from './team.js';
import { hostWorkflowId } from './dbos.js';


/** The call name of a forwarded engine operation. */
const OP_PREFIX = 'engine.';

/** What the team member uses from the start: its database, where other members' events go (bus, feed, memory). */
export interface TeamDeps {
  log: Logger;
  paths: Pick<Paths, 'dataDir'>;
  store: PgStore;
  bus: Pick<Bus, 'has' | 'publish'>;
  feed: Pick<Feed, 'listened' | 'publishTransient'>;
  runs: Pick<RunsRepo, 'header' | 'eventsBetween'>;
  memory: Pick<MemoryService, 'learn'>;
}

/** What it drives once they exist (`attach`). */
export interface TeamPeers {
  engine: Pick<Engine, 'host' | 'whenReady' | 'schedules' | 'pause' | 'resume' | 'cancel' | 'answer' | 'activationFigures'>;
  notifier: Pick<Notifier, 'adoptFrom' | 'adoptOrphans'>;
  /** The chat connections (Slack, Discord) configured: a team singleton. */
  chat: Service[];
}

/**
 * Team mode (README "Team mode"): this daemon as one member of a team sharing a PostgreSQL
 * database. It owns the DBOS side (host workflows, recovery of dead members, elected singletons,
 * calls between members) through team.ts, and tells the engine and the clients what the other
 * members do: their runs' events reach this daemon's watchers, a decision about a run hosted
 * elsewhere goes to its host, memory learns of runs that ended elsewhere.
 */
export class TeamService implements Service, TeamPort {
  readonly name = 'team';
  private team: Team | null = null;
  private offEvents: (() => Promise<void>) | null = null;
  readonly executorId: string;

  private peers: TeamPeers | null = null;
  private readonly store: PgStore;

  constructor(
    private readonly d: TeamDeps,
    private readonly opts: { url: string; masked: string; executorId: string },
  ) {
    this.store = d.store;
    this.executorId = opts.executorId;
  }

  /**
   * The services that need this member and that it drives back (the engine hosts the runs DBOS
   * hands it, the notifier adopts a dead member's deliveries, the chat connections are team
   * singletons): they are built after it (the engine and the notifier take it as their TeamPort),
   * so they are attached once built, before `start`.
   */
  attach(peers: TeamPeers): void {
    this.peers = peers;
  }

  private get deps(): TeamDeps & TeamPeers {
    if (!this.peers) throw new Error('team: start before attach');
    return { ...this.d, ...this.peers };
  }

  async start(): Promise<void> {
    const d = this.deps;
    this.offEvents = await this.store.listen(EVENTS_CHANNEL, (payload) => void this.onRemoteEvents(payload).catch((err) => d.log.warn({ err }, 'reading events of another member failed')));
    const team = await startTeam({
      url: this.opts.url,
      executorId: this.executorId,
      // daemons of one OpStream version recover each other's host workflows; another version's wait
      appVersion: `opstream-${PACKAGE_VERSION}`,
      home: d.paths.dataDir,
      host: hostname(),
      user: safeUser(),
      pid: process.pid,
      log: d.log.child({ service: 'team' }),
      hostBody: (runId) => d.engine.host(runId),
      // this daemon took a dead (or stopped) member over: what it had not delivered is ours now
      onTakeOver: (executor) => d.notifier.adoptFrom(executor),
    });
    this.team = team;
    team.serve((method, params, actor) => this.serveForwarded(method, params as Record<string, unknown>, String(actor)));
    team.onEvent((e) => d.log.info({ event: e }, 'team'));
    // singletons wait for the engine: the scheduler is the engine's
    void d.engine.whenReady().then(() => {
      if (this.stopped) return;
      // one scheduler for the team (a tick never starts two runs: its last fire time is committed
      // with the run it starts); its daemon also hands runs nobody hosts (migrated) to the team
      team.singleton('scheduler', {
        acquire: async () => {
          await d.engine.schedules.start();
          this.orphanSweep.start();
        },
        release: async () => {
          this.orphanSweep.stop();
          await d.engine.schedules.stop();
        },
      });
      // the notifications nobody delivers (migrated ones, a member taken over while none of its
      // version ran) are delivered by one elected daemon; each host delivers its own runs'
      team.singleton('notifier', { acquire: () => this.notifySweep.start(), release: () => this.notifySweep.stop() });
      // one chat connection per platform for the team: Slack's Socket Mode and Discord's gateway
      // would otherwise hand each command to whichever daemon's socket Slack or Discord picked
      const chat = d.chat;
      if (chat.length > 0) {
        team.singleton('chat', {
          acquire: async () => {
            for (const c of chat) await c.start();
          },
          release: async () => {
            for (const c of chat) await c.stop();
          },
        });
      }
    });
    d.log.info({ executor: this.executorId, database: this.opts.masked }, 'team mode: joined');
  }

  private stopped = false;

  /**
   * Runs nobody hosts (their owner row has no executor: `team migrate` put them there) get a host
   * workflow here; its body claims them. Every second while this daemon leads the scheduler.
   */
  private readonly orphanSweep = new WhileLeading(1000, async () => {
    const rows = await this.store.query<{ run_id: string }>(`SELECT run_id FROM "${this.store.schema}".run_owner WHERE executor IS NULL LIMIT 1000`);
    for (const { run_id } of rows) await this.team!.host(run_id);
    if (rows.length) this.deps.log.info({ runs: rows.length }, 'team: hosting runs nobody hosted (migrated)');
  }, (err) => this.deps.log.warn({ err }, 'team: sweeping unhosted runs failed'));

  /** Every 2 s while this daemon leads the `notifier` singleton. */
  private readonly notifySweep = new WhileLeading(2000, async () => {
    const live = new Set((await this.team!.members()).filter((m) => m.state === 'live' || m.state === 'leaving').map((m) => m.executor));
    await this.deps.notifier.adoptOrphans(live);
  }, (err) => this.deps.log.warn({ err }, 'team: sweeping undelivered notifications failed'));

  async stop(): Promise<void> {
    this.stopped = true;
    this.orphanSweep.stop();
    this.notifySweep.stop();
    await this.offEvents?.().catch(() => undefined);
    await this.team?.stop();
  }

  // ---------------------------------------------------------------- TeamPort

  async hostNew(runId: string): Promise<void> {
    if (!this.team) throw new WireError('unavailable', 'team mode is still starting; try again', { retryable: true });
    await this.team.host(runId);
  }

  async claim(runId: string): Promise<number | null> {
    const s = `"${this.store.schema}"`;
    // only while the run's DBOS host workflow is this executor's: a daemon that was thought dead
    // (asleep, cut off) and whose workflows DBOS gave to a survivor must not take the run back
    const rows = await this.store.query<{ epoch: string }>(
      `INSERT INTO ${s}.run_owner (run_id, executor, epoch)
         SELECT $1, $2, 1 WHERE EXISTS (SELECT 1 FROM dbos.workflow_status WHERE workflow_uuid = $3 AND executor_id = $2 AND status = 'PENDING')
       ON CONFLICT (run_id) DO UPDATE SET executor = EXCLUDED.executor, epoch = ${s}.run_owner.epoch + 1, updated_at = now()
       RETURNING epoch`,
      [runId, this.executorId, hostWorkflowId(runId)],
    );
    return rows[0] ? Number(rows[0].epoch) : null;
  }

  // ---------------------------------------------------------------- what other members do

  /** The ops' NOTIFY for a host's commit of run events: `<executor> <run> <first seq> <last seq> <status>`. */
  announce(runId: string, first: number, last: number, status: string): { channel: string; payload: string } {
    return { channel: EVENTS_CHANNEL, payload: `${this.executorId} ${runId} ${first} ${last} ${status}` };
  }

  /**
   * Events committed by another member: pushed to this daemon's watchers as if local. Read only
   * when someone here listens (a follower, a dashboard, the chat bridge): every member hears every
   * commit of the team, and reading each one back cost more than the commits themselves.
   */
  private async onRemoteEvents(payload: string): Promise<void> {
    const [executor, runId, first, last, status] = payload.split(' ');
    if (!runId || executor === this.executorId) return;
    const d = this.deps;
    const ended = status === 'succeeded' || status === 'failed' || status === 'cancelled' || status === 'ended';
    if (ended) await d.memory.learn(runId);
    if (!d.bus.has('runs') && !d.feed.listened) return;
    const header = await d.runs.header(runId);
    const rows = await d.runs.eventsBetween<Record<string, unknown>>(runId, first, last);
    for (const ev of rows) {
      const data = { ...ev, status: header?.status ?? 'running', workflow: header?.workflow ?? '' } as RunEventPush;
      d.bus.publish('runs', String(ev.type), data as never);
      d.feed.publishTransient({ topic: 'runs', event: String(ev.type), data });
    }
  }

  /**
   * A decision about a run this daemon does not host goes to the member that hosts it; its
   * answer (or error) comes back as if local. Undefined: nobody else hosts it (it ended, or it is
   * hosted here, or its host is being recovered and this daemon should answer from the store).
   */
  async forward(runId: string, op: ForwardedOp, args: Record<string, unknown>): Promise<unknown> {
    if (!this.team) return undefined;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const owner = await this.ownerOf(runId);
      if (!owner || owner === this.executorId) return undefined;
      const member = (await this.team.members()).find((m) => m.executor === owner);
      const alive = member !== undefined && member.state === 'live' && !member.stale;
      // a dead host of another version: only a daemon of that version takes its runs over
      if (!alive && member && member.version !== this.team.appVersion) {
        throw new WireError('unavailable', `run ${runId} is hosted by ${owner} (version ${member.version.replace(/^opstream-/, '')}), which is gone; only a daemon of that version can take it over: start one`, { retryable: true });
      }
      if (alive) {
        try {
          // a live host takes a request within milliseconds; one that does not in 1.5 s has died
          // (its death not yet noticed): nothing was done, ask again whoever hosts the run then
          return await this.team.call(owner, `${OP_PREFIX}${op}`, { ...args, id: runId }, String(args.actor ?? 'team'), 15_000, 1500);
        } catch (e) {
          if (!(e instanceof WireError && e.code === 'unavailable' && e.retryable) || Date.now() > deadline) throw e;
          continue;
        }
      }
      // its host died and a survivor is taking it over (within ~2 s): ask the new host
      if (Date.now() > deadline) throw new WireError('unavailable', `run ${runId} is hosted by ${owner}, which is gone, and no member has taken it over yet; try again`, { retryable: true });
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async ownerOf(runId: string): Promise<string | null> {
    const rows = await this.store.query<{ executor: string | null }>(`SELECT executor FROM "${this.store.schema}".run_owner WHERE run_id = $1`, [runId]);
    return rows[0]?.executor ?? null;
  }

  /**
   * `schedules list|pause|resume` go to the daemon that leads the team's scheduler (the one whose
   * scheduler is armed). Undefined: this daemon leads it (or nobody does yet): answer here.
   */
  async atScheduler(method: 'schedules.list' | 'schedules.pause' | 'schedules.resume', params: Record<string, unknown>, actor: string): Promise<unknown> {
    if (!this.team) return undefined;
    const leader = (await this.team.leaders()).scheduler ?? null;
    if (!leader || leader === this.executorId) return undefined;
    return this.team.call(leader, method, params, actor, 15_000);
  }

  /** A member asks this one, the run's host (or the scheduler's leader), to act: done here and only here (never forwarded again). */
  private async serveForwarded(method: string, p: Record<string, unknown>, actor: string): Promise<unknown> {
    const engine = this.deps.engine;
    const id = String(p.id);
    switch (method) {
      case 'schedules.list':
        return { schedules: engine.schedules.list() };
      case 'schedules.pause':
      case 'schedules.resume':
        return engine.schedules.setPaused(engine.schedules.idOf(String(p.workflow)), method === 'schedules.pause', actor);
      case `${OP_PREFIX}pause`:
        return engine.pause(id, actor, true);
      case `${OP_PREFIX}resume`:
        return engine.resume(id, actor, true);
      case `${OP_PREFIX}cancel`:
        return engine.cancel(id, actor, true);
      case `${OP_PREFIX}answer`:
        return engine.answer(id, actor, p.a as Parameters<typeof engine.answer>[2], (p.as ?? {}) as { approver?: boolean }, true);
      default:
        throw new WireError('invalid_params', `${method} is not forwarded between members`);
    }
  }

  // ---------------------------------------------------------------- status

  async status(): Promise<TeamStatus> {
    const t = this.team ? await this.team.status() : null;
    return {
      mode: 'team',
      database: this.opts.masked,
      executor: this.executorId,
      version: PACKAGE_VERSION,
      members: (t?.members ?? []).map((m) => ({
        executor: m.executor,
        host: m.host,
        user: m.user,
        pid: m.pid ?? null,
        version: m.version,
        state: m.state === 'live' && m.stale ? 'stale' : m.state,
        last_seen: m.lastSeen ?? null,
        self: m.executor === this.executorId,
      })),
      leaders: t?.leaders ?? {},
      hosting: this.deps.engine.activationFigures.runs,
      other_versions: t?.pendingOtherVersions ?? [],
      database_error: this.team?.databaseError() ?? null,
    };
  }
}

/**
 * Work repeated every `ms` while this daemon leads a singleton: one pass at a time, and none after
 * `stop` (a pass in flight when leadership goes does not schedule another).
 */
class WhileLeading {
  private timer: NodeJS.Timeout | null = null;
  /** Bumped by start and stop: a pass of an earlier term schedules nothing. */
  private term = 0;
  private on = false;

  constructor(
    private readonly ms: number,
    private readonly pass: () => Promise<void>,
    private readonly failed: (err: unknown) => void,
  ) {}

  start(): void {
    this.stop();
    this.on = true;
    this.run(++this.term);
  }

  stop(): void {
    this.on = false;
    this.term++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private run(term: number): void {
    void this.pass()
      .catch(this.failed)
      .finally(() => {
        if (this.on && term === this.term) this.timer = setTimeout(() => this.run(term), this.ms);
      });
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}
