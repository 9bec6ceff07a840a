import { existsSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { loadConfig, type CompiledConfig } from '../config/load.js';
import { resolvePaths, type Paths } from '../config/paths.js';
import { exitedUnreaped } from '../config/pid-state.js';
import { PACKAGE_VERSION, type RunStatus } from '../protocol/index.js';
import { Bus } from './bus.js';
import type { DaemonContext, Service } from './context.js';
import { createLogger } from './logger.js';
import { securePaths } from './secure-dir.js';
import { SocketServer } from './server.js';
import { createServices } from './services.js';
import { createRepos } from './repos/index.js';
import { RetentionService } from './store/retention.js';
import { Store, StoreCorruptError, StoreLockedError } from './store/store.js';
import type { KvStore } from './store/kv.js';
import type { PgStore } from './store/pg-store.js';
import type { ChatServices } from './chat/services.js';
import { ToolService } from './tools/service.js';
import { Engine } from './engine/engine.js';
import { Feed } from './feed.js';
import { SecretMasker } from './llm/redact.js';
import { LlmGateway } from './llm/index.js';
import { MemoryService } from './memory/memory.js';
import { Notifier } from './notify/notifier.js';
import { StatsService } from './stats/service.js';
import { daemonLoadChecks, WorkflowCatalog } from './workflows/catalog.js';
import { shippedWorkflowsDir } from '../workflows/registry.js';

export interface RunningDaemon {
  ctx: DaemonContext;
  /** Resolves once the daemon has fully stopped (by `stop`, a signal or `daemon.shutdown`). */
  stopped: Promise<void>;
  stop(reason?: string): Promise<void>;
}

/** `notices`: permissions the start tightened (one line each), for the CLI's stderr; also logged. */
export type StartOutcome = { kind: 'started'; daemon: RunningDaemon; notices: string[] } | { kind: 'already-running'; pid: number | null };

export function readPid(paths: Paths): number | null {
  try {
    const pid = Number(readFileSync(paths.pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * Brings a daemon up for one OPSTREAM_HOME. Exclusivity comes from LevelDB's own lock: whoever
 * opens the store is the daemon, so any socket file found afterwards is stale and is replaced.
 * Throws ConfigError / SetupError with a message meant for the user.
 */
export async function startDaemon(env: NodeJS.ProcessEnv = process.env): Promise<StartOutcome> {
  const paths = resolvePaths(env);
  // before the config is read: a config, store or socket dir another user owns or can write is refused
  const notices = securePaths(paths);
  const config = loadConfig(paths, env);

  let store: Store;
  try {
    store = await Store.open(paths.dbDir, { verify: true });
  } catch (e) {
    if (e instanceof StoreLockedError) return { kind: 'already-running', pid: readPid(paths) };
    // the logs are checked before the lock is taken: a live daemon's store is not ours to judge
    if (e instanceof StoreCorruptError && pidAlive(readPid(paths))) return { kind: 'already-running', pid: readPid(paths) };
    throw e;
  }

  let log: Logger | undefined;
  try {
    log = await createLogger(paths.logDir, { level: config.log.level, maxBytes: config.log.maxBytes, files: config.log.files });
    for (const notice of notices) log.warn({ notice }, notice);
    writeFileAtomic(paths.pidFile, `${process.pid}\n`);
    if (existsSync(paths.socket)) {
      log.warn({ socket: paths.socket }, 'removing stale socket left by a previous daemon');
      unlinkSync(paths.socket);
    }
    const daemon = await assemble(paths, config, store, log);
    if (daemon.ctx.team) log.info({ executor: daemon.ctx.team.executorId, database: config.team?.masked }, 'team mode');
    log.info({ version: PACKAGE_VERSION, socket: paths.socket }, 'daemon started');
    return { kind: 'started', daemon, notices };
  } catch (e) {
    log?.error({ err: e }, 'daemon failed to start');
    await store.close().catch(() => undefined);
    throw e;
  }
}

/**
 * Team mode's store: the team's PostgreSQL (the local LevelDB stays open only as this home's
 * single-daemon lock). A database that cannot be reached is a clear start error.
 */
async function teamStore(paths: Paths, config: CompiledConfig, log: Logger): Promise<{ store: PgStore; executorId: string } | null> {
  if (!config.team) return null;
  const { PgStore } = await import('./store/pg-store.js');
  const { executorIdFor } = await import('./team/membership.js');
  const executorId = process.env.OPSTREAM_EXECUTOR_ID || executorIdFor(paths.dataDir);
  return { store: await PgStore.open(config.team.url, { executorId, log: log.child({ service: 'pg-store' }) }), executorId };
}

/**
 * The composition root: every service gets what it uses in its constructor, built in dependency
 * order. Three pairs need each other, and each cycle is broken by attaching the later one after
 * construction through a narrow interface (never the whole context):
 * - engine -> notifier/stats (their ops go into the engine's run commits) and notifier -> engine
 *   (a Teams card reads the run view): `notifier.attachRunView(engine)`;
 *   stats -> engine (active counts): `stats.attachEngine(engine)`;
 * - engine -> team (hosting, fences) and team -> engine/notifier/chat (DBOS hands it runs, it
 *   adopts deliveries, runs the chat singletons): `team.attach({ engine, notifier, chat })`.
 * The chat bridges (slack/, discord/ and their chat/ helpers) share one narrowed record,
 * ChatServices, built once the services they drive exist. Services never receive the
 * DaemonContext: it is the record the socket handlers and server.ts are given.
 */
async function assemble(paths: Paths, config: CompiledConfig, localStore: Store, log: Logger): Promise<RunningDaemon> {
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | null = null;

  const teamed = await teamStore(paths, config, log);
  const store: KvStore = teamed?.store ?? localStore;
  const repos = createRepos(store);
  const bus = new Bus();
  const startedAt = new Date();
  const workflows = new WorkflowCatalog({ shipped: shippedWorkflowsDir(), user: paths.workflowsDir }, log, 150, daemonLoadChecks(config));
  const feed = new Feed(store, repos);
  const llm = config.llm ? new LlmGateway(config.llm, log.child({ service: 'llm' }), new SecretMasker(config.secrets)) : null;
  const memory = new MemoryService({ log, config, llm, store, memory: repos.memory });
  const team = teamed && config.team
    ? new (await import('./team/service.js')).TeamService({ log, paths, store: teamed.store, bus, feed, runs: repos.runs, memory }, { url: config.team.url, masked: config.team.masked, executorId: teamed.executorId })
    : null;
  const tools = new ToolService({ log, bus, config, paths, store, cache: repos.cache, stats: repos.stats });
  const notifier = new Notifier({ log, bus, config, store, outbox: repos.outbox, runs: repos.runs, feed, team });
  const stats = new StatsService({ log, bus, paths, startedAt, team, store, stats: repos.stats, runs: repos.runs, notifier });
  const engine = new Engine({ log, bus, config, store, runs: repos.runs, schedules: repos.schedules, workflows, feed, notifier, memory, stats, tools, llm, team });
  notifier.attachRunView(engine);
  stats.attachEngine(engine);
  const retention = new RetentionService({ log, config, store, repos, engine, notifier, memory, feed });
  const runCounts = async (): Promise<Record<RunStatus, number>> => (team ? engine.teamCounts().catch((e: unknown) => (isRetryable(e) ? engine.runCounts() : Promise.reject(e))) : engine.runCounts());
  const chatServices: ChatServices = { config, bus, store, repos, engine, workflows, tools, llm, memory, notifier, feed, runCounts };
  const ctx: DaemonContext = {
    paths,
    config,
    store,
    repos,
    team,
    log,
    bus,
    startedAt,
    workflows,
    tools,
    engine,
    feed,
    llm,
    notifier,
    stats,
    memory,
    retention,
    // the chat SDKs (and what they pull in: undici, ws, discord.js) load only when configured: a
    // daemon without them is tens of MB smaller
    slack: config.slack ? new (await import('./slack/bridge.js')).SlackBridge(chatServices, config.slack, log.child({ service: 'slack' })) : null,
    discord: config.discord ? new (await import('./discord/bridge.js')).DiscordBridge(chatServices, config.discord, log.child({ service: 'discord' })) : null,
    // the engine's in-memory index (it is started before the socket accepts requests)
    // (team mode: the team's, from the database; while it cannot be reached, the runs hosted here,
    // from memory, so that `hello` and `daemon status` still answer)
    runCounts,
    requestShutdown: (reason) => {
      // after the reply that asked for it has been flushed
      setImmediate(() => void stop(reason));
    },
  };
  team?.attach({ engine, notifier, chat: [ctx.slack, ctx.discord].filter((x) => x !== null) });
  const services: Service[] = createServices(ctx);
  const server = new SocketServer(ctx);
  const started: Service[] = [];

  const stop = (reason = 'stop requested'): Promise<void> => {
    stopping ??= (async () => {
      log.info({ reason, store_unwritable: store.unwritable?.message }, 'daemon stopping');
      // every phase is bounded: `daemon stop` must return even when a service or the disk hangs
      // (what was acknowledged is already on disk; the rest resumes on the next start)
      await bounded(server.close(), 3000, () => log.error('closing the socket server timed out'));
      for (const s of [...started].reverse()) await bounded(s.stop(), 3000, () => log.error({ service: s.name }, 'stopping service timed out')).catch((err) => log.error({ err, service: s.name }, 'stopping service'));
      await bounded(store.close(), 2000, () => log.error('closing the store timed out')).catch((err) => log.error({ err }, 'closing store'));
      if (store !== localStore) await bounded(localStore.close(), 2000, () => log.error('closing the local store timed out')).catch((err) => log.error({ err }, 'closing local store'));
      rmSync(paths.socket, { force: true });
      if (readPid(paths) === process.pid) rmSync(paths.pidFile, { force: true });
      log.info('daemon stopped');
      log.flush?.();
      resolveStopped();
    })();
    return stopping;
  };

  try {
    for (const s of services) {
      await s.start();
      started.push(s);
    }
    await server.listen(paths.socket);
  } catch (e) {
    await stop('start failed');
    throw e;
  }
  return { ctx, stopped, stop };
}


/** A failure that says "try again" (the team database unreachable), not a bug. */
function isRetryable(e: unknown): boolean {
  return (e as { retryable?: unknown })?.retryable === true;
}

/** Waits for `p` at most `ms` (then calls `late`); its rejection passes through. */
async function bounded(p: Promise<unknown>, ms: number, late: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const out = await Promise.race([p.then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)))]).finally(() => clearTimeout(timer));
  if (!out) late();
}

function pidAlive(pid: number | null): boolean {
  if (!pid || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !exitedUnreaped(pid);
}

function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}
