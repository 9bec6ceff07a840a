import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { formatDuration } from '../../config/duration.js';
import { RunStatus, WireError } from '../../protocol/index.js';
import type { RunEventJson, RunJson } from '../../protocol/methods/runs.js';
import type { LoadedWorkflow } from '../../workflows/registry.js';
import type { Workflow } from '../../workflows/schema.js';
import type { Logger } from 'pino';
import type { CompiledConfig } from '../../config/load.js';
import type { Bus } from '../bus.js';
import type { Service } from '../context.js';
import type { Feed } from '../feed.js';
import type { LlmGateway } from '../llm/index.js';
import type { MemoryService } from '../memory/memory.js';
import type { Notifier } from '../notify/notifier.js';
import type { RunsRepo } from '../repos/runs.js';
import type { SchedulesRepo } from '../repos/schedules.js';
import type { StatsService } from '../stats/service.js';
import type { KvStore } from '../store/kv.js';
import type { ToolService } from '../tools/service.js';
import { serversOf, type WorkflowCatalog } from '../workflows/catalog.js';
import type { StoreOp } from '../store/store.js';
import { ActivationPool, type Activation } from './activations.js';
import { AgentHost } from './agent-host.js';
import { applyEvent, type AnyEvent } from '../../protocol/run-view.js';
import { WorkerEvent, type EventBody, type RunEventPush } from '../../protocol/events.js';
import { z } from 'zod';
import { DurationStats, headerJson, outlineFor, toRunJson } from './run-json.js';
import { Scheduler } from './scheduler.js';
import { draftSteps, type StepsDraft } from './steps-draft.js';
import { copyOf, headerOf, StepRows, type RunHeader, type StepRow } from './step-rows.js';
import { countFinished, emptySummary, eventRef, finishedTotal, runOps, timerKey, type ActiveCount, type RunsSummary, type TimerEntry } from '../repos/runs.js';
import { durationMs, retryAt, stepAt } from './step-paths.js';
import { Alarms } from './timers.js';
import type { Draft } from '../notify/types.js';
import type { CommitOptions, RunFence } from '../store/kv.js';
import { FIRST_EPOCH, type TeamPort } from '../team/port.js';
import { TERMINAL, type ErrorData, type ActivationData, type RunEvent, type RunRecord, type WorkerMessage } from './types.js';

/** The compiled job file Bree runs; from src/ (tests) we point at its dist/ twin. */
export function activationJobPath(): string {
  const here = fileURLToPath(new URL('./worker/activation.js', import.meta.url));
  if (existsSync(here)) return here;
  return here.replace(/\/src\/daemon\/engine\//, '/dist/daemon/engine/');
}

const WorkerEvents = z.array(WorkerEvent);

const ACTIVE: ReadonlySet<string> = new Set(['queued', 'running', 'waiting', 'paused']);

/**
 * What the engine uses, each narrowed to the calls it makes. The notifier, memory, stats and the
 * feed add their rows to the engine's run commits (one batch), so they are built before it; the
 * services that need the engine back (notifier, stats, team) get it attached after (main.ts).
 */
export interface EngineDeps {
  log: Logger;
  bus: Bus;
  config: Pick<CompiledConfig, 'llm'>;
  store: Pick<KvStore, 'commit' | 'unwritable' | 'onWritable'>;
  runs: RunsRepo;
  schedules: SchedulesRepo;
  workflows: Pick<WorkflowCatalog, 'current' | 'onReload'>;
  feed: Pick<Feed, 'prepare' | 'commit'>;
  notifier: Pick<Notifier, 'prepare' | 'committed' | 'abandon' | 'adopt' | 'list'>;
  memory: Pick<MemoryService, 'prepare' | 'seenBefore'>;
  stats: Pick<StatsService, 'prepare'>;
  tools: Pick<ToolService, 'call' | 'list' | 'get' | 'servers' | 'warm'>;
  llm: LlmGateway | null;
  /** Team mode: this daemon as a member (hosting, fences, forwarding); null solo. */
  team: TeamPort | null;
}

export interface StartRunOptions {
  workflow: LoadedWorkflow;
  params: Record<string, unknown>;
  trigger: string;
  actor: string;
  scheduledFor?: string;
  catchUp?: boolean;
  /** Ops committed in the same batch as the run's creation (e.g. a schedule's last fire time). */
  extraOps?: StoreOp[];
}

export interface EngineOptions {
  /** Activations at once, over all worker threads (default 256; OPSTREAM_MAX_ACTIVATIONS). */
  maxActivations?: number;
  /** Worker threads at most (default 8; OPSTREAM_WORKER_THREADS); each hosts up to ceil(max / threads) activations. */
  workerThreads?: number;
  workerMemoryMb?: number;
  /** An idle worker thread is retired after this long (default 30 s; OPSTREAM_WORKER_IDLE_MS). */
  workerIdleMs?: number;
  /** A worker thread is retired after this many activations (default 5000; OPSTREAM_WORKER_MAX_USES). */
  workerMaxUses?: number;
}

function firstLine(text: string): string {
  const line = text.split('\n')[0];
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

/** A positive number from the environment, or the default (a bad value is not worth refusing to start over). */
function positiveEnv(name: string, dflt: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

/**
 * The durable workflow engine. The main thread owns every run record: workers send events, which
 * are applied here and committed (event + record + timers + outbox, one fsynced batch) before the
 * worker is told to go on. Runs that wait hold only a record and a timer.
 */
export class Engine implements Service {
  readonly name = 'engine';
  /** Every non-terminal run. Terminal runs live only in the store. */
  private readonly runs = new Map<string, RunRecord>();
  private readonly counts = Object.fromEntries(RunStatus.options.map((s) => [s, 0])) as Record<RunStatus, number>;
  private readonly defs = new Map<string, Workflow>();
  /** Started, non-terminal runs per workflow (concurrency). */
  private readonly activeByWf = new Map<string, Set<string>>();
  /** Queued runs per workflow in arrival order. */
  private readonly queuedByWf = new Map<string, string[]>();
  private readonly timers = new Map<string, TimerEntry>();
  private readonly alarms: Alarms;
  private readonly answering = new Set<string>();
  /** Which store row holds which step of each live run. */
  private readonly rows = new StepRows();
  /** Live runs whose stored header still carries all steps (written before step rows): rewritten as rows on their next commit. */
  private readonly legacy = new Set<string>();
  /** Counts and durations of finished runs, persisted (meta runs:summary) with every run that ends. */
  private summary: RunsSummary = emptySummary();
  readonly stats = new DurationStats(this.summary.durations);
  private pool!: ActivationPool;
  private readonly agents: AgentHost;
  private scheduler!: Scheduler;
  private stopping = false;
  /**
   * Work a full disk interrupted, redone when the store can write again: timers whose firing could
   * not be recorded, and running runs whose activation was ended because its step could not be.
   */
  private readonly deferredAlarms = new Set<string>();
  /** The MCP servers each definition names (warmTools). */
  private readonly serversByDef = new WeakMap<Workflow, string[]>();
  private readonly stalled = new Set<string>();
  private offWritable: (() => void) | null = null;
  private readonly faults: boolean;
  /**
   * Team mode: the runs this daemon hosts, with the epoch that fences their commits, and how to
   * tell each one's DBOS host workflow that the run has ended here (or left: `lose`).
   */
  private readonly epochs = new Map<string, number>();
  private readonly hostEnds = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  /** Team mode: resolved once the engine can take runs (DBOS may recover host workflows sooner). */
  private ready!: () => void;
  private readonly readyP = new Promise<void>((r) => (this.ready = r));
  /** Figures for benchmarks. */
  readonly figures = { transitions: 0, activations: 0, recoveredAt: 0, recovered: 0, loaded: 0 };

  constructor(
    private readonly d: EngineDeps,
    private readonly opts: EngineOptions = {},
  ) {
    this.alarms = new Alarms((key) => void this.onAlarm(key));
    this.faults = process.env.OPSTREAM_ENGINE_FAULTS === '1';
    this.agents = new AgentHost(d, (run, events, audit) => this.commitRun(run, events, [], audit));
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    const d = this.d;
    const max = this.opts.maxActivations ?? positiveEnv('OPSTREAM_MAX_ACTIVATIONS', 256);
    const threads = this.opts.workerThreads ?? positiveEnv('OPSTREAM_WORKER_THREADS', 8);
    this.pool = new ActivationPool(activationJobPath(), max, {
      dataFor: (id, n) => this.activationData(id, n),
      onMessage: (act, msg) => void this.onWorkerMessage(act, msg).catch((err) => this.activationFailed(act, err, 'worker message failed')),
      onExit: (act) => void this.onActivationExit(act).catch((err) => this.activationFailed(act, err, 'activation exit handling failed')),
    }, d.log, this.opts.workerMemoryMb ?? 128, {
      idleMs: this.opts.workerIdleMs ?? positiveEnv('OPSTREAM_WORKER_IDLE_MS', 30_000),
      maxUses: this.opts.workerMaxUses ?? positiveEnv('OPSTREAM_WORKER_MAX_USES', 5000),
      threads,
      spread: Math.min(threads, Math.max(2, availableParallelism())),
      stopGraceMs: positiveEnv('OPSTREAM_WORKER_STOP_GRACE_MS', 2000),
    });
    // team mode: the runs this daemon hosts come to it through their DBOS host workflows (its own
    // after a restart, a dead member's when it recovers them), never by reading the active index,
    // which holds the whole team's runs
    if (d.team) await this.loadSummary();
    else await this.recover();
    this.offWritable = d.store.onWritable(() => this.resumeAfterStoreFailure());
    this.scheduler = new Scheduler(d, this, this.pool.scheduler);
    // team mode: the scheduler is a singleton the team service starts on the elected daemon
    if (!d.team) await this.scheduler.start();
    this.ready();
  }

  /** Whose finished-runs summary this daemon keeps: one per daemon in team mode (each counts the runs it ended). */
  private get summaryOwner(): string | null {
    return this.d.team?.executorId ?? null;
  }

  private async loadSummary(): Promise<void> {
    this.summary = (await this.d.runs.summary(this.summaryOwner)) ?? emptySummary();
    this.stats.use(this.summary.durations);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // host workflows still awaiting their runs stay PENDING in DBOS: the runs resume on the next
    // start of this daemon, or on a survivor if it does not come back
    this.offWritable?.();
    await this.scheduler?.stop();
    this.alarms.clearAll();
    // runs in flight stay `running` in the store and resume on the next start
    await this.pool?.close();
  }

  /**
   * The active runs' headers and step rows, read a thousand or so at a time (recovery: what a
   * chunk reads is garbage before the next is read, so it dies young; see RunsRepo.allPaged).
   */
  private async *activeRunsIn(ids: string[], finished: number): AsyncGenerator<readonly [string, RunHeader | undefined, [string, StepRow][]]> {
    const runs = this.d.runs;
    if (ids.length > 0 && finished <= ids.length * 3) {
      // most stored runs are active (thousands in flight after a crash, little history): one
      // sequential read of the runs is cheaper than a seek per run, and bounded by 4x the active ones
      const missing = new Set(ids);
      for await (const groups of runs.allPaged(2_000)) {
        for (const [id, g] of groups) if (missing.delete(id)) yield [id, g.header, g.rows] as const;
      }
      // indexed but not stored: recover() drops the index entries
      for (const id of missing) yield [id, undefined, []] as const;
      return;
    }
    // the active index, sorted: headers in one call per chunk, step rows through seeking iterators
    for (let i = 0; i < ids.length; i += 1_000) {
      const part = ids.slice(i, i + 1_000);
      const headers = await runs.headers(part);
      const stepRows = await runs.stepRowsOf(part);
      for (const [j, id] of part.entries()) yield [id, headers[j], stepRows[j]] as const;
    }
  }

  /**
   * Loads active runs, resumes running ones, re-arms timers and re-issues pending approvals. Reads
   * only what the active index names (plus the finished runs' summary): its cost does not grow with
   * the number of finished runs in the store.
   */
  private async recover(): Promise<void> {
    const t0 = Date.now();
    const store = this.d.store;
    const runs = this.d.runs;
    const ops: StoreOp[] = [];
    const toActivate: RunRecord[] = [];
    const queued: RunRecord[] = [];
    const at = new Date().toISOString();
    this.summary = (await runs.migrateIndex(this.d.log)) ?? (await runs.summary(null)) ?? emptySummary();
    this.stats.use(this.summary.durations);
    const ids = await runs.activeIds();
    const finished = finishedTotal(this.summary);
    for await (const [id, header, stepRows] of this.activeRunsIn(ids, finished)) {
      if (!header) {
        // cannot happen (the index is written with the run); a stray entry is dropped, not trusted
        ops.push(runOps.delActive(id));
        continue;
      }
      if (!ACTIVE.has(header.status)) {
        ops.push(...runOps.finished(header));
        continue;
      }
      this.figures.loaded++;
      this.counts[header.status] = (this.counts[header.status] ?? 0) + 1;
      const { run, legacy } = this.rows.load(header, stepRows, true);
      if (legacy) this.legacy.add(run.id);
      this.runs.set(run.id, run);
      if (run.started_at) this.addActive(run);
      if (run.status === 'queued') queued.push(run);
      else if (run.status === 'running') {
        const ev = { type: 'run.recovered', at, seq: ++run.seq, run_id: run.id, step: run.current_step ?? undefined } as RunEvent;
        ops.push(runOps.event(run.id, ev), runOps.header(this.legacy.has(run.id) ? run : headerOf(run)));
        toActivate.push(run);
      }
      // a run waiting for an approval or input needs nothing here: its request was written to the
      // outbox in the commit that made it wait, and the notifier delivers whatever is still pending
    }
    queued.sort((a, b) => a.created_at.localeCompare(b.created_at));
    for (const r of queued) this.queueList(r.workflow).push(r.id);
    await this.loadDefs([...this.runs.values()].map((r) => r.def_hash));
    // headers are stored without the outline (step-rows.ts headerOf): one shared per definition
    const defs = new Set<Workflow | undefined>();
    for (const run of this.runs.values()) {
      const def = this.defOf(run);
      run.outline ??= outlineFor(def);
      defs.add(def);
    }
    for (const def of defs) this.warmTools(def);
    if (ops.length) await store.commit(ops);
    for (const [key, t] of await runs.timers()) {
      const run = this.runs.get(t.run_id);
      if (!run) {
        await store.commit([runOps.delTimer(key)]);
        continue;
      }
      this.timers.set(key, t);
      this.alarms.set(key, Date.parse(t.at));
    }
    for (const run of toActivate) {
      if (run.pause_requested) await this.commitRun(run, [{ type: 'run.paused', reason: run.pause_reason ?? 'paused', step: run.current_step }]);
      else this.pool.request(run.id);
    }
    for (const wf of this.queuedByWf.keys()) await this.admitQueued(wf);
    this.figures.recovered = toActivate.length;
    this.figures.recoveredAt = Date.now() - t0;
    this.d.log.info({ active: this.runs.size, resumed: toActivate.length, timers: this.timers.size, ms: this.figures.recoveredAt }, 'engine recovered runs');
  }

  // ---------------------------------------------------------------- indexes

  /** Whether any run of this workflow id is active or finished and kept (a `--workflow` filter's fallback). */
  hasRunsOf(workflow: string): boolean {
    return (this.summary.by_workflow[workflow] ?? 0) > 0 || this.activeRunsOf(workflow).length > 0;
  }

  /** Active runs by status (in memory) and finished runs in the store (the summary). */
  runCounts(): Record<RunStatus, number> {
    return { ...this.counts, ...this.summary.finished };
  }

  /**
   * Retention removes finished runs: they leave the counts. Returns the op that stores the new
   * summary (for the same batch). Never called for an active run.
   */
  dropFinished(headers: Pick<RunHeader, 'workflow' | 'status' | 'started_at' | 'ended_at'>[]): StoreOp {
    for (const h of headers) countFinished(this.summary, h, -1);
    return this.summaryOp();
  }

  private summaryOp(): StoreOp {
    return runOps.summary(this.summaryOwner, structuredClone(this.summary));
  }

  /** Whether the run is active (in memory): retention must never touch it. */
  isActive(id: string): boolean {
    return this.runs.has(id);
  }

  private addActive(run: RunRecord): void {
    let s = this.activeByWf.get(run.workflow);
    if (!s) this.activeByWf.set(run.workflow, (s = new Set()));
    s.add(run.id);
  }

  private queueList(wf: string): string[] {
    let q = this.queuedByWf.get(wf);
    if (!q) this.queuedByWf.set(wf, (q = []));
    return q;
  }

  defOf(run: RunRecord): Workflow | undefined {
    return this.defs.get(run.def_hash);
  }

  /** Whether a run of this workflow (by schedule or not) is active. */
  activeRunsOf(workflow: string): RunRecord[] {
    return [...this.runs.values()].filter((r) => r.workflow === workflow);
  }

  // ---------------------------------------------------------------- team mode: hosting

  /** The fence of a hosted run's commit (team mode), or none; a creation commit inserts the owner row. */
  private fencesOf(runId: string, evs: RunEvent[], status: string): CommitOptions | undefined {
    const team = this.d.team;
    const epoch = this.epochs.get(runId);
    if (!team || epoch === undefined) return undefined;
    const fence: RunFence = { run: runId, executor: team.executorId, epoch, ...(evs.some((ev) => ev.type === 'run.created') ? { create: true } : {}) };
    return { fences: [fence], ...(evs.length ? { notify: [team.announce(runId, evs[0].seq, evs[evs.length - 1].seq, status)] } : {}) };
  }

  /** Whether a commit was refused because another daemon hosts the run now. */
  private fenceLost(e: unknown): boolean {
    return this.d.team !== null && (e as { code?: unknown })?.code === 'conflict' && (e as { data?: { fence?: unknown } })?.data?.fence !== undefined;
  }

  /** The run ended here (or was never created): its host workflow may finish. */
  private ended(runId: string): void {
    this.epochs.delete(runId);
    const end = this.hostEnds.get(runId);
    this.hostEnds.delete(runId);
    end?.resolve();
  }

  /**
   * Another daemon took the run over (this one was thought dead: a laptop that slept through its
   * lease): everything of it leaves this daemon at once, its activation included, and nothing of
   * it is written again. Its host workflow here is left unfinished; DBOS fences that one too.
   * `takenElsewhere` false: a take-over here failed half way (host() tries it again), so the
   * partly loaded run leaves the same way but is not reported as taken.
   */
  private lose(runId: string, why: string, takenElsewhere = true): void {
    this.epochs.delete(runId);
    this.hostEnds.delete(runId);
    const run = this.runs.get(runId);
    if (!run) return;
    if (takenElsewhere) this.d.log.warn({ run: runId, why }, 'run taken over by another daemon of the team; dropped here');
    this.pool.terminate(runId);
    this.pool.dequeue(runId);
    for (const key of [`${runId}:step`, `${runId}:run_timeout`]) {
      this.timers.delete(key);
      this.alarms.clear(key);
    }
    this.counts[run.status] -= 1;
    this.forget(run);
  }

  /** A run leaves this daemon's memory and indexes (it ended, or another daemon hosts it now). */
  private forget(run: RunRecord): void {
    this.runs.delete(run.id);
    this.rows.forget(run.id);
    this.activeByWf.get(run.workflow)?.delete(run.id);
    const q = this.queuedByWf.get(run.workflow);
    if (q) this.queuedByWf.set(run.workflow, q.filter((id) => id !== run.id));
  }

  /** Resolves once the engine takes runs (team mode's host workflows wait for it). */
  whenReady(): Promise<void> {
    return this.readyP;
  }

  /**
   * Team mode: the body of a run's DBOS host workflow. Takes the run into this daemon as a restart
   * would (a running run resumes with its step in flight again, a waiting one re-arms its timers, a
   * queued one waits for its turn) and resolves once the run has ended here. A run that does not
   * exist (its creation never committed) or has ended needs no host.
   */
  async host(runId: string): Promise<void> {
    await this.readyP;
    // stopping: the workflow stays pending, for this daemon's next start or a survivor
    if (this.stopping) return unfinished();
    const mine = this.hostEnds.get(runId);
    if (mine) return mine.promise;
    const team = this.d.team;
    if (!team) throw new Error('host() is for team mode');
    // A take-over that fails (the database slow or away, a commit refused) is tried again here, not
    // thrown: DBOS records a host workflow that throws as failed and never runs it again, which left
    // the run claimed by this daemon and hosted by nobody. Taken by another daemon meanwhile (this
    // one thought dead): left unfinished, as `lose` leaves a run; DBOS fences that workflow too.
    const loaded = deferred();
    this.takingOver.set(runId, loaded.promise);
    try {
      for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
        // thousands arrive at once when a member dies: taken a few at a time, the first resume at
        // once instead of all loading side by side and none resuming until every one has loaded
        const done = await this.loadSlot();
        try {
          // the slot is for loading only: the run's end may be hours away
          return (await this.takeOver(runId, team))?.end;
        } catch (e) {
          if (this.fenceLost(e) || this.stopping) return unfinished();
          this.d.log.warn({ run: runId, err: (e as Error).message, retry_ms: delay }, 'taking a run over failed; trying again');
        } finally {
          done();
        }
        await new Promise((r) => setTimeout(r, delay));
        if (this.stopping) return unfinished();
      }
    } finally {
      this.takingOver.delete(runId);
      loaded.resolve();
    }
  }

  /** Team mode: runs being taken over here, until they are loaded (or the attempt gave up). */
  private readonly takingOver = new Map<string, Promise<void>>();

  private loading = 0;
  private readonly loadWaiters: (() => void)[] = [];

  private async loadSlot(): Promise<() => void> {
    if (this.loading >= 16) await new Promise<void>((r) => this.loadWaiters.push(r));
    this.loading++;
    return () => {
      this.loading--;
      this.loadWaiters.shift()?.();
    };
  }

  /**
   * Claims and loads a run (host()): the promise of its end here (boxed: an async function would
   * otherwise wait for it), or null when it needs no host.
   */
  private async takeOver(runId: string, team: TeamPort): Promise<{ end: Promise<void> } | null> {
    const runs = this.d.runs;
    const before = await runs.header(runId);
    if (!before || !ACTIVE.has(before.status)) return null;
    const epoch = await team.claim(runId);
    if (epoch === null) throw new WireError('conflict', `run ${runId} is now hosted by another daemon`, { retryable: false, data: { fence: runId } });
    if (this.hostEnds.has(runId)) return { end: this.hostEnds.get(runId)!.promise };
    const end = deferred();
    this.hostEnds.set(runId, end);
    this.epochs.set(runId, epoch);
    try {
      // read after the claim: the last host's writes are all in (later ones are fenced out)
      const header = await runs.header(runId);
      if (!header || !ACTIVE.has(header.status)) {
        this.ended(runId);
        return null;
      }
      const stepRows = await runs.stepRows(runId);
      const { run, legacy } = this.rows.load(header, stepRows, true);
      if (legacy) this.legacy.add(run.id);
      await this.loadDefs([run.def_hash]);
      const def = this.defOf(run);
      run.outline ??= outlineFor(def);
      this.warmTools(def);
      this.runs.set(run.id, run);
      this.counts[run.status] = (this.counts[run.status] ?? 0) + 1;
      this.figures.loaded++;
      if (run.started_at) this.addActive(run);
      for (const [key, t] of await runs.timersOf(runId)) {
        this.timers.set(key, t);
        this.alarms.set(key, Date.parse(t.at));
      }
      this.d.log.info({ run: runId, status: run.status, epoch }, 'hosting run');
      // what its last host (or this daemon before a restart) had not delivered yet goes out from here
      this.d.notifier.adopt(runId);
      if (run.status === 'queued') {
        this.queueList(run.workflow).push(run.id);
        await this.admitQueued(run.workflow);
      } else if (run.status === 'running') {
        if (run.pause_requested) await this.commitRun(run, [{ type: 'run.paused', reason: run.pause_reason ?? 'paused', step: run.current_step }]);
        else {
          await this.commitRun(run, [{ type: 'run.recovered', step: run.current_step ?? undefined } as EventBody]);
          this.pool.request(run.id);
        }
      }
    } catch (e) {
      // not taken: dropped here, and host() tries again unless another daemon has the run now
      this.lose(runId, (e as Error).message, this.fenceLost(e));
      throw e;
    }
    return { end: end.promise };
  }

  // ---------------------------------------------------------------- the one write path

  /** Per run, the commit in progress: a run's commits apply one after another, each on the state the last one made durable. */
  private readonly commitChain = new Map<string, Promise<unknown>>();

  /**
   * Applies events to the run and commits them with the record, the timers the new state needs,
   * outbox entries and `extra` in ONE batch; publishes on the bus after it is durable. The events
   * are applied to a draft of the record: the live record (what `status` shows) changes only once
   * the batch is on disk, and a batch that fails leaves it, and every index, as it was.
   */
  private commitRun(run: RunRecord, events: EventBody[], extra: StoreOp[] = [], audit?: { actor: string; action: string }, notify?: Draft): Promise<RunEvent[]> {
    const prev = this.commitChain.get(run.id);
    // with nothing before it the commit starts synchronously, so admissions see its index changes at once
    const next = prev ? prev.then(undefined, () => undefined).then(() => this.commitRunNow(run, events, extra, audit, notify)) : this.commitRunNow(run, events, extra, audit, notify);
    this.commitChain.set(run.id, next);
    const done = (): void => {
      if (this.commitChain.get(run.id) === next) this.commitChain.delete(run.id);
    };
    next.then(done, done);
    return next;
  }

  /**
   * A copy of the record the reducer may change freely: it assigns top-level fields (waiting_for
   * and the rest are replaced, not edited; the outline, params and decisions are shared), adds to
   * `usage` (copied), and edits only the step states the events name, so those are copied deeply;
   * the steps are a copy-on-write view (steps-draft.ts). Cloning the whole record per commit cost
   * more than the rest of a step, and grew with the workflow.
   */
  private draftOf(run: RunRecord, events: EventBody[]): { draft: RunRecord; steps: StepsDraft } {
    const live = run.steps;
    const steps = draftSteps(live);
    // not a spread (step-rows.ts copyOf says why)
    const draft = copyOf(run);
    draft.usage = Object.assign({}, run.usage);
    draft.steps = steps.steps;
    for (const e of events) {
      const path = (e as { step?: unknown }).step;
      // a step's state is changed in place by the reducer: the draft gets its own copy
      if (typeof path === 'string' && Object.hasOwn(live, path) && draft.steps[path] === live[path]) draft.steps[path] = structuredClone(live[path]);
    }
    return { draft, steps };
  }

  private async commitRunNow(run: RunRecord, events: EventBody[], extra: StoreOp[], audit?: { actor: string; action: string }, notify?: Draft): Promise<RunEvent[]> {
    const live = run;
    const drafted = this.draftOf(live, events);
    run = drafted.draft;
    const undo: (() => void)[] = [];
    const at = new Date().toISOString();
    const before = run.status;
    const wasStarted = run.started_at !== null;
    const def = this.defOf(run);
    const evs: RunEvent[] = [];
    const stepOps: StoreOp[] = [];
    const rowsJournal = this.rows.journal(run.id);
    undo.push(() => this.rows.undo(run.id, rowsJournal));
    // a run stored before step rows existed: all its steps become rows now, in their order
    if (this.legacy.delete(run.id)) {
      undo.push(() => this.legacy.add(run.id));
      this.rows.write(run, Object.keys(run.steps), stepOps, rowsJournal);
    }
    const touched = new Set<string>();
    for (const e of events) {
      // Object.assign, not a spread: the events come from workers in many shapes, and a spread of
      // them was a third of this function's time in a recovery profile (step-rows.ts copyOf)
      const ev = Object.assign({}, e, { at, seq: ++run.seq, run_id: run.id }) as RunEvent;
      const path = typeof ev.step === 'string' ? ev.step : undefined;
      // these may delete other steps' states (a parent's new attempt, a repeat iteration)
      const mayDrop = ev.type === 'repeat.iteration' || (ev.type === 'step.started' && path !== undefined && path in run.steps);
      applyEvent(run, ev as AnyEvent);
      this.rows.observe(run, path, mayDrop, stepOps, rowsJournal);
      if (path !== undefined) touched.add(path);
      evs.push(ev);
    }
    if (!wasStarted && run.started_at && def?.timeout) {
      const ms = durationMs(def.timeout);
      if (ms !== null) run.timeout_at = new Date(Date.parse(run.started_at) + ms).toISOString();
    }
    // what to tell whom is the notifier's call; its entries go in this same batch
    const notes = this.d.notifier.prepare(run, def, evs, notify ? [notify] : []);
    if (notify?.step && notes.routed[0]) {
      // a notify step's output says where its notification was queued, never more
      const output = { delivered_to: notes.routed[0] };
      for (const ev of evs) if (ev.type === 'step.succeeded' && ev.step === notify.step) ev.output = output;
      const st = run.steps[notify.step];
      if (st) st.output = output;
    }
    const ops: StoreOp[] = evs.map((ev) => runOps.event(run.id, ev));
    this.rows.write(run, touched, stepOps, rowsJournal);
    ops.push(...stepOps, runOps.header(headerOf(run)));
    // the run indexes change in the same batch as the record (repos/runs.ts)
    if (evs.some((ev) => ev.type === 'run.created')) ops.push(...runOps.created(run));
    const timersBefore = [timerKey(run.id, 'step'), timerKey(run.id, 'run_timeout')].map((k) => [k, this.timers.get(k)] as const);
    undo.push(() => {
      for (const [k, t] of timersBefore) {
        if (t) this.timers.set(k, t);
        else this.timers.delete(k);
      }
    });
    const timerChanges = this.timerOps(run, ops);
    const feed = evs.map((ev) => {
      const f = this.d.feed.prepare({ topic: 'runs', event: ev.type, ref: eventRef(run.id, ev.seq), data: Object.assign({}, ev, { status: run.status, workflow: run.workflow }) as RunEventPush });
      ops.push(f.op);
      return { cursor: f.cursor, item: f.item };
    });
    ops.push(...notes.ops, ...this.d.stats.prepare(run, evs), ...extra);
    feed.push(...notes.feed);
    // in-memory indexes change before the await so concurrent admissions see them (undone if the batch fails)
    const after = run.status;
    if (before !== after) {
      this.counts[before] -= 1;
      this.counts[after] = (this.counts[after] ?? 0) + 1;
      undo.push(() => {
        this.counts[after] -= 1;
        this.counts[before] += 1;
      });
    }
    if (!wasStarted && run.started_at) {
      this.addActive(run);
      undo.push(() => this.activeByWf.get(run.workflow)?.delete(run.id));
    }
    const terminal = TERMINAL.has(after);
    let remembered: { apply(): void } | null = null;
    if (terminal && !TERMINAL.has(before)) {
      countFinished(this.summary, run, +1);
      undo.push(() => countFinished(this.summary, run, -1));
      ops.push(...runOps.finished(run), this.summaryOp());
      // what it found and what fixed it, for recall and `ask`, durable with the run's end (a
      // summary that cannot be made is logged, never the run's failure)
      try {
        const m = this.d.memory.prepare(run);
        ops.push(m.op);
        remembered = m;
      } catch (err) {
        this.d.log.warn({ err, run: run.id }, 'remembering the run failed');
      }
    }
    const draft = run;
    try {
      // durable: the live record becomes the draft (same object, so every holder sees it), before
      // the feed tells anyone (a Slack edit or a watcher reading the run then sees this state)
      await this.d.feed.commit(ops, feed, audit ? { actor: audit.actor, action: audit.action, target: `run:${run.id}` } : undefined, this.fencesOf(run.id, evs, run.status), () => {
        const to = live as unknown as Record<string, unknown>;
        const from = draft as unknown as Record<string, unknown>;
        for (const k of Object.keys(live)) if (k !== 'steps' && !(k in draft)) delete to[k];
        for (const k of Object.keys(draft)) if (k !== 'steps') to[k] = from[k];
        drafted.steps.apply();
      });
    } catch (e) {
      this.d.notifier.abandon(notes);
      for (const u of undo.reverse()) u();
      if (this.fenceLost(e)) this.lose(run.id, (e as Error).message);
      throw e;
    }
    run = live;
    if (terminal) {
      this.ended(run.id);
      this.forget(run);
    }
    this.figures.transitions += evs.length;
    for (const [key, t] of timerChanges) {
      if (t) this.alarms.set(key, Date.parse(t.at));
      else this.alarms.clear(key);
    }
    for (const ev of evs) this.d.bus.publish('runs', ev.type, Object.assign({}, ev, { status: run.status, workflow: run.workflow }));
    this.d.notifier.committed(notes);
    remembered?.apply();
    if (terminal) void this.admitQueued(run.workflow);
    return evs;
  }

  /** Timers follow the record: what the run waits for (with an `until`) and its run timeout. */
  private timerOps(run: RunRecord, ops: StoreOp[]): [string, TimerEntry | null][] {
    const changes: [string, TimerEntry | null][] = [];
    const active = !TERMINAL.has(run.status);
    const want = (key: string, t: TimerEntry | null): void => {
      const cur = this.timers.get(key);
      if (!t && !cur) return;
      if (t && cur && cur.at === t.at && cur.step === t.step) return;
      if (t) {
        this.timers.set(key, t);
        ops.push(runOps.timer(key, t));
      } else {
        this.timers.delete(key);
        ops.push(runOps.delTimer(key));
      }
      changes.push([key, t]);
    };
    const w = run.waiting_for;
    want(timerKey(run.id, 'step'), active && w?.until ? { run_id: run.id, kind: 'step', at: w.until, step: w.step } : null);
    want(timerKey(run.id, 'run_timeout'), active && run.timeout_at ? { run_id: run.id, kind: 'run_timeout', at: run.timeout_at } : null);
    return changes;
  }

  // ---------------------------------------------------------------- starting runs

  private newId(): string {
    for (;;) {
      const id = `r_${randomBytes(5).readUIntBE(0, 5).toString(36).padStart(8, '0').slice(-8)}`;
      if (!this.runs.has(id)) return id;
    }
  }

  private canAdmit(run: RunRecord, def: Workflow): boolean {
    const active = this.activeByWf.get(run.workflow)?.size ?? 0;
    if (def.concurrency !== undefined && active >= def.concurrency) return false;
    if (run.trigger === 'schedule' && typeof def.schedule === 'object' && def.schedule.overlap === 'queue') {
      for (const id of this.activeByWf.get(run.workflow) ?? []) if (this.runs.get(id)?.trigger === 'schedule') return false;
    }
    return true;
  }

  async startRun(o: StartRunOptions): Promise<RunRecord> {
    const def = o.workflow.workflow;
    const hash = createHash('sha256').update(JSON.stringify(def)).digest('hex').slice(0, 16);
    const ops: StoreOp[] = [...(o.extraOps ?? [])];
    const newDef = !this.defs.has(hash);
    if (newDef) {
      this.defs.set(hash, def);
      ops.push(runOps.def(hash, def));
    }
    const now = new Date().toISOString();
    const run: RunRecord = {
      id: this.newId(),
      workflow: def.id,
      def_hash: hash,
      status: 'queued',
      params: o.params,
      created_at: now,
      started_at: null,
      ended_at: null,
      current_step: null,
      waiting_for: null,
      steps: {},
      usage: { prompt_tokens: 0, completion_tokens: 0, tool_calls: 0 },
      error: null,
      trigger: o.trigger,
      actor: o.actor,
      seq: 0,
      pause_requested: false,
      pause_reason: null,
      budget_grants: 0,
      timeout_at: null,
      scheduled_for: o.scheduledFor ?? null,
      catch_up: o.catchUp ?? false,
      ...(this.d.team ? { started_on: this.d.team.executorId } : {}),
    };
    this.runs.set(run.id, run);
    this.counts.queued += 1;
    const admit = this.canAdmit(run, def);
    if (!admit) this.queueList(def.id).push(run.id);
    try {
      const team = this.d.team;
      if (team) {
        // hosted here from its first commit: the host workflow is recorded first (port.ts)
        this.epochs.set(run.id, FIRST_EPOCH);
        this.hostEnds.set(run.id, deferred());
        await team.hostNew(run.id);
      }
      await this.commitRun(run, [{ type: 'run.created', trigger: o.trigger, params: o.params, workflow: def.id, outline: outlineFor(def), history_ms: this.stats.mean(def.id) }, { type: admit ? 'run.started' : 'run.queued' }], ops, { actor: o.actor, action: 'runs.start' });
    } catch (e) {
      // not durable, so it never existed: no id was given out and nothing of it stays in memory
      this.ended(run.id);
      this.runs.delete(run.id);
      this.rows.forget(run.id);
      this.counts.queued -= 1;
      if (!admit) this.queuedByWf.set(def.id, this.queueList(def.id).filter((id) => id !== run.id));
      if (newDef) this.defs.delete(hash);
      throw e;
    }
    this.warmTools(def);
    if (admit) this.pool.request(run.id);
    return run;
  }

  /** MCP servers start when first needed: those a run's workflow names start with the run. */
  private warmTools(def: Workflow | undefined): void {
    if (!def) return;
    let servers = this.serversByDef.get(def);
    if (!servers) {
      try {
        servers = serversOf(def);
      } catch (err) {
        // only a head start: a definition it cannot read (stored by another version) starts its
        // servers at their first call, as any server does
        this.d.log.warn({ err, workflow: def.id }, 'could not read which MCP servers a workflow uses');
        servers = [];
      }
      this.serversByDef.set(def, servers);
    }
    if (servers.length > 0) this.d.tools.warm(servers);
  }

  private async admitQueued(workflow: string): Promise<void> {
    const q = this.queuedByWf.get(workflow);
    if (!q) return;
    while (q.length > 0) {
      const run = this.runs.get(q[0]);
      if (!run || run.status !== 'queued') {
        q.shift();
        continue;
      }
      const def = this.defOf(run);
      if (!def || !this.canAdmit(run, def)) return;
      q.shift();
      try {
        await this.commitRun(run, [{ type: 'run.started' }]);
      } catch (e) {
        q.unshift(run.id); // still queued on disk: admitted when the store can write (or at the next end)
        throw e;
      }
      this.pool.request(run.id);
    }
  }

  // ---------------------------------------------------------------- activations

  private activationData(runId: string, activation: number): ActivationData | null {
    const run = this.runs.get(runId);
    if (!run || run.status !== 'running') return null;
    const def = this.defOf(run);
    if (!def) {
      void this.commitRun(run, [{ type: 'run.failed', step: run.current_step, error: 'the workflow definition of this run is missing from the store' }]);
      return null;
    }
    this.figures.activations++;
    const act = this.pool.active.get(runId);
    if (act) act.startSeq = run.seq;
    return { runId, activation, run: { id: run.id, workflow: run.workflow, params: run.params, steps: run.steps }, def, faults: this.faults, llm: { configured: this.d.llm !== null, model: this.d.llm?.model ?? null } };
  }

  /**
   * A worker's request could not be handled. When the store refused the write, the step's result
   * is not on disk, so the worker must not go on: its activation ends and the run stays at its last
   * recorded step, to be activated again (the step in flight runs again) once the store can write.
   */
  private activationFailed(act: Activation, err: unknown, what: string): void {
    if (this.storeRefused(err)) {
      this.stalled.add(act.runId);
      this.pool.terminate(act.runId);
      this.d.log.warn({ run: act.runId, err: (err as Error).message }, 'run parked: the store cannot write');
      if (!this.d.store.unwritable) this.resumeAfterStoreFailure();
      return;
    }
    this.d.log.error({ err, run: act.runId }, what);
  }

  private reply(act: Activation, id: number, value: unknown): void {
    this.pool.post(act, { type: 'reply', id, ok: true, value });
  }

  private replyError(act: Activation, id: number, message: string, code?: string, retryable?: boolean): void {
    this.pool.post(act, { type: 'reply', id, ok: false, error: { message, code, retryable } });
  }

  private async onWorkerMessage(act: Activation, msg: WorkerMessage): Promise<void> {
    if (msg.type === 'end') return;
    const run = this.runs.get(act.runId);
    if (!run || act.killed || this.stopping) {
      this.replyError(act, msg.id, 'the run is no longer active', 'stopped');
      return;
    }
    if (msg.type === 'transition') {
      // the worker boundary: what a worker asks to record is checked before it touches the run
      const parsed = WorkerEvents.safeParse(msg.events);
      if (!parsed.success) {
        this.d.log.error({ run: run.id, issues: parsed.error.issues.slice(0, 3) }, 'worker sent events that are not run events (engine bug)');
        return this.replyError(act, msg.id, `not a run event: ${parsed.error.issues[0]?.message ?? 'invalid'}`, 'invalid_event', false);
      }
      return this.onTransition(act, run, { ...msg, events: parsed.data });
    }
    if (msg.type === 'tool') return this.onTool(act, run, msg);
    // agent steps: model turns and tool calls, each committed before the worker hears back
    const def = this.defOf(run)!;
    try {
      if (msg.type === 'agent.tools') return this.reply(act, msg.id, await this.agents.tools(run, def, msg));
      if (msg.type === 'agent.recall') return this.reply(act, msg.id, { text: await this.d.memory.seenBefore(run, msg.prompt) });
      if (msg.type === 'llm') return this.reply(act, msg.id, await this.agents.llm(run, def, msg));
      if (msg.type === 'agent.call') return this.reply(act, msg.id, await this.agents.call(run, def, msg));
    } catch (e) {
      const err = e as ErrorData;
      if (typeof err?.message === 'string' && typeof err.retryable === 'boolean') return this.replyError(act, msg.id, err.message, err.code, err.retryable);
      this.d.log.error({ err: e, run: run.id }, 'agent request failed');
      return this.replyError(act, msg.id, `agent request failed: ${(e as Error).message}`, 'internal', true);
    }
  }

  private async onTransition(act: Activation, run: RunRecord, msg: Extract<WorkerMessage, { type: 'transition' }>): Promise<void> {
    const def = this.defOf(run)!;
    const events: EventBody[] = [...msg.events];
    let audit: { actor: string; action: string } | undefined;
    for (const e of msg.events) {
      if (e.type === 'step.started') {
        act.inflight.push(e.step);
        const step = stepAt(def, e.step);
        const ms = step && step.tool !== undefined || step?.agent !== undefined || step?.notify !== undefined || step?.parallel !== undefined ? durationMs(step?.timeout) : null;
        if (ms !== null && ms !== undefined) {
          clearTimeout(act.stepTimers.get(e.step));
          act.stepTimers.set(e.step, setTimeout(() => this.pool.fail(act, `step ${e.step} timed out after ${formatDuration(ms)}`, e.step), ms));
        }
      } else if ('step' in e && e.step) {
        act.inflight = act.inflight.filter((p) => p !== e.step);
        clearTimeout(act.stepTimers.get(e.step));
        act.stepTimers.delete(e.step);
      }
      if (e.type === 'step.waiting' && e.waiting_for.kind === 'approval' && e.waiting_for.resolve && def.auto_resolve) {
        // policy grants it; the audit entry says so
        events.push({ type: 'approval.answered', step: e.step, decision: 'approved', by: 'policy:auto_resolve', policy: true });
        audit = { actor: 'policy:auto_resolve', action: 'runs.approve' };
      }
    }
    const n = msg.notify;
    const draft: Draft | undefined = n
      ? { kind: 'notify', level: n.level, title: `${run.workflow} ${run.id}: ${firstLine(n.text)}`, text: n.text, step: n.step, channel: n.channel ?? null }
      : undefined;
    await this.commitRun(run, events, [], audit, draft);
    const directive = run.status === 'running' && !run.pause_requested ? 'continue' : 'stop';
    const delivered_to = n ? (run.steps[n.step]?.output as { delivered_to?: string[] } | undefined)?.delivered_to : undefined;
    this.reply(act, msg.id, { directive, delivered_to });
  }

  private async onTool(act: Activation, run: RunRecord, msg: Extract<WorkerMessage, { type: 'tool' }>): Promise<void> {
    const def = this.defOf(run)!;
    const limit = def.budget?.tool_calls;
    if (limit !== undefined && run.usage.tool_calls >= limit * (1 + run.budget_grants)) {
      await this.commitRun(run, [{ type: 'run.pause_requested', reason: `budget exceeded: ${run.usage.tool_calls} of ${limit * (1 + run.budget_grants)} tool calls used` }]);
      return this.replyError(act, msg.id, 'budget exceeded', 'stopped');
    }
    run.usage.tool_calls += 1;
    const r = await this.d.tools.call({ tool: msg.tool, args: msg.args, timeoutMs: msg.timeoutMs, cacheTtlMs: msg.cacheTtlMs, idempotencyKey: msg.key, origin: { run: run.id, workflow: run.workflow, trigger: run.trigger, actor: run.actor, def } });
    if (r.error) return this.replyError(act, msg.id, r.error.message, r.error.code, r.error.retryable);
    this.reply(act, msg.id, { isError: r.isError, retryable: r.retryable, structured: r.structured ?? undefined, text: r.text });
  }

  private async onActivationExit(act: Activation): Promise<void> {
    if (this.stopping) return;
    const run = this.runs.get(act.runId);
    if (!run) return;
    if (this.stalled.has(run.id)) return; // parked until the store can write
    // ended on purpose (cancel, run timeout): whoever ended it records what follows; its end can
    // arrive before that record is durable, while the run still reads 'running'
    if (act.killed) return;
    if (act.failure && !act.killed) {
      // a crash, an out-of-memory worker or a step timeout fails the step in flight (with retry)
      const path = act.failure.path ?? act.inflight[act.inflight.length - 1];
      const def = this.defOf(run);
      if (path && run.steps[path]?.status === 'running') {
        const attempt = run.steps[path].attempts || 1;
        await this.commitRun(run, [{ type: 'step.failed', step: path, attempt, error: act.failure.message, retry_at: retryAt(def && stepAt(def, path), attempt, Date.now()) }]);
      } else if (run.status === 'running') {
        await this.commitRun(run, [{ type: 'run.failed', step: run.current_step, error: act.failure.message }]);
        return;
      }
    }
    if (run.status !== 'running') return;
    if (run.pause_requested) {
      await this.commitRun(run, [{ type: 'run.paused', reason: run.pause_reason ?? 'paused', step: run.current_step }]);
      return;
    }
    if (!act.failure && !act.again && run.seq === act.startSeq) {
      await this.commitRun(run, [{ type: 'run.failed', step: run.current_step, error: 'the run made no progress in its activation (engine bug); stopped to avoid a loop' }]);
      return;
    }
    this.pool.request(run.id);
  }

  /** Whether `e` is the store refusing writes (a full disk): the work is parked, not failed. */
  private storeRefused(e: unknown): boolean {
    return (e as { code?: unknown })?.code === 'store_unwritable';
  }

  /** The store writes again: fire the parked timers and give the stalled runs a new activation. */
  private resumeAfterStoreFailure(): void {
    if (this.stopping) return;
    const alarms = [...this.deferredAlarms];
    const runs = [...this.stalled];
    this.deferredAlarms.clear();
    this.stalled.clear();
    this.d.log.info({ timers: alarms.length, runs: runs.length }, 'the store can write again; resuming parked work');
    for (const key of alarms) void this.onAlarm(key);
    for (const id of runs) {
      const run = this.runs.get(id);
      if (run?.status === 'running') this.pool.request(id);
    }
    for (const wf of this.queuedByWf.keys()) void this.admitQueued(wf).catch((err) => this.d.log.warn({ err, workflow: wf }, 'admitting queued runs failed'));
  }

  // ---------------------------------------------------------------- timers

  private async onAlarm(key: string): Promise<void> {
    const t = this.timers.get(key);
    if (!t) return;
    const run = this.runs.get(t.run_id);
    if (!run) return;
    try {
      if (t.kind === 'run_timeout') {
        this.pool.terminate(run.id);
        const def = this.defOf(run);
        await this.commitRun(run, [{ type: 'run.failed', step: run.current_step, error: `timed out after ${def?.timeout ?? '?'}${run.current_step ? ` in step ${run.current_step}` : ''}` }]);
        return;
      }
      const w = run.waiting_for;
      if (!w || w.until !== t.at) return;
      if (w.kind === 'timer' || w.kind === 'retry' || w.kind === 'llm') {
        await this.commitRun(run, [{ type: 'timer.fired', step: w.step, kind: w.kind }]);
      } else if (w.kind === 'approval') {
        const how = w.on_timeout ?? 'reject';
        if (how === 'fail') await this.commitRun(run, [{ type: 'wait.timed_out', step: w.step, error: `no decision before ${w.until}` }]);
        else await this.commitRun(run, [{ type: 'approval.answered', step: w.step, decision: how === 'approve' ? 'approved' : 'rejected', by: 'timeout', fail_on_reject: how === 'reject', ...(w.args_hash ? { args_hash: w.args_hash } : {}) }], [], { actor: 'policy:timeout', action: how === 'approve' ? 'runs.approve' : 'runs.reject' });
      } else if (w.kind === 'input') {
        await this.commitRun(run, [{ type: 'wait.timed_out', step: w.step, error: `no answer before ${w.until}` }]);
      }
      if (run.status === 'running') this.pool.request(run.id);
    } catch (err) {
      if (this.storeRefused(err) && this.d.store.unwritable) {
        // nothing of it was recorded; it fires again once the store can write
        this.deferredAlarms.add(key);
        this.d.log.warn({ key, run: t.run_id, err: (err as Error).message }, 'timer parked: the store cannot write');
        return;
      }
      this.d.log.error({ err, key }, 'timer handling failed');
    }
  }

  // ---------------------------------------------------------------- requests

  /** A run whose creation is not yet durable (seq 0 until its first batch commits) is not shown. */
  private shown(run: RunRecord | undefined): run is RunRecord {
    return run !== undefined && run.seq > 0;
  }

  private async lookup(id: string): Promise<RunRecord> {
    const live = this.runs.get(id);
    if (this.shown(live)) return live;
    const header = await this.d.runs.header(id);
    if (!header) throw new WireError('not_found', `no run ${id}; \`opstream list --all\` shows runs`);
    const rows = await this.d.runs.stepRows(id);
    // team mode: a run another member started may use a definition this daemon has not seen
    if (this.d.team) await this.loadDefs([header.def_hash]);
    return this.rows.load(header, rows, false).run;
  }

  /** Definitions by hash that are not in memory yet, from the store (team mode: other members' runs). */
  private async loadDefs(hashes: (string | undefined)[]): Promise<void> {
    const missing = [...new Set(hashes.filter((h): h is string => h !== undefined && !this.defs.has(h)))];
    if (!missing.length) return;
    const defs = await this.d.runs.defs(missing);
    missing.forEach((h, i) => {
      if (defs[i]) this.defs.set(h, defs[i]!);
    });
  }

  private activeRun(id: string, run: RunRecord, what: string): RunRecord {
    if (TERMINAL.has(run.status) || !this.runs.has(id)) throw new WireError('invalid_state', `cannot ${what} run ${id}: it is ${run.status}`);
    return run;
  }

  async get(id: string): Promise<RunJson> {
    const run = await this.lookup(id);
    // the run first, its notifications after: the list is then at least as new as the state shown
    const json = this.json(run);
    // team mode, the database away: a run hosted here is still shown (from memory), without its notifications
    const items = await this.d.notifier.list({ run: id, limit: 1000 }).then(
      (r) => r.items,
      (e: unknown) => {
        if (this.d.team && this.runs.has(id) && (e as { retryable?: boolean })?.retryable) return [];
        throw e;
      },
    );
    return { ...json, notifications: items };
  }

  /**
   * Team mode: every active run of the team, from the shared active index: the ones hosted here
   * from memory, the others as their hosts last committed them.
   */
  private async teamActive(): Promise<RunRecord[]> {
    const runs = this.d.runs;
    const ids = await runs.activeIds();
    const remote = ids.filter((id) => !this.runs.has(id));
    const headers = await runs.headers(remote);
    const rows = await runs.stepRowsOf(remote);
    await this.loadDefs(headers.map((h) => h?.def_hash));
    const byId = new Map<string, RunRecord>();
    remote.forEach((id, i) => {
      const h = headers[i];
      if (h && ACTIVE.has(h.status)) byId.set(id, this.rows.load(h, rows[i], false).run);
    });
    const out: RunRecord[] = [];
    for (const id of ids) {
      const live = this.runs.get(id);
      if (live && this.shown(live)) out.push(live);
      else if (byId.has(id)) out.push(byId.get(id)!);
    }
    return out;
  }

  private teamCountsCache: { at: number; counts: Promise<Record<RunStatus, number>> } | null = null;

  /**
   * Team mode: counts of the team's runs by status (every member's finished runs, the active
   * index). Every client's hello asks: one read serves all who ask within a second.
   */
  teamCounts(): Promise<Record<RunStatus, number>> {
    const now = Date.now();
    if (!this.teamCountsCache || now - this.teamCountsCache.at > 1000) {
      const counts = this.readTeamCounts();
      this.teamCountsCache = { at: now, counts };
      counts.catch(() => (this.teamCountsCache = null));
    }
    return this.teamCountsCache.counts;
  }

  private async readTeamCounts(): Promise<Record<RunStatus, number>> {
    const counts = Object.fromEntries(RunStatus.options.map((s) => [s, 0])) as Record<RunStatus, number>;
    for (const s of await this.teamSummaries()) {
      for (const [k, n] of Object.entries(s.finished)) counts[k as RunStatus] = (counts[k as RunStatus] ?? 0) + n;
    }
    for (const c of await this.teamActiveCounts()) counts[c.status] = (counts[c.status] ?? 0) + c.n;
    return counts;
  }

  /** Team mode: every member's summary of the runs it ended (engine's summaryOwner). */
  private teamSummaries(): Promise<RunsSummary[]> {
    return this.d.runs.summaries();
  }

  /**
   * Team mode: the team's active runs by status and workflow, counted by the database (the runs
   * hosted here too: what their host committed, as every other member sees them).
   */
  private async teamActiveCounts(): Promise<ActiveCount[]> {
    return (await this.d.runs.activeCounts()).filter((c) => ACTIVE.has(c.status));
  }

  /**
   * Active runs as JSON (the `runs.watch` snapshot). Solo: synchronous, so no event can commit
   * between the snapshot and the watch that follows it. Team mode: the team's, read from the store.
   */
  activeJson(): RunJson[] | Promise<RunJson[]> {
    const json = (runs: RunRecord[]): RunJson[] => runs.sort((a, b) => b.created_at.localeCompare(a.created_at)).map((r) => this.json(r));
    return this.d.team ? this.teamActive().then(json) : json([...this.runs.values()].filter((r) => this.shown(r)));
  }

  /** Active runs as reducible states (the dashboard applies pushed events to them with the shared reducer); as `activeJson`. */
  activeStates(): RunRecord[] | Promise<RunRecord[]> {
    const states = (runs: RunRecord[]): RunRecord[] => runs.map((r) => (r.outline ? r : { ...r, outline: outlineFor(this.defOf(r)) }));
    return this.d.team ? this.teamActive().then(states) : states([...this.runs.values()].filter((r) => this.shown(r)));
  }

  json(run: RunRecord): RunJson {
    return toRunJson(run, this.defOf(run));
  }

  /**
   * Active runs come from memory. `all` pages through the `created` index newest first, `limit` at a
   * time from `cursor` (the `next` of the page before): each page reads its index entries and the
   * run headers of finished runs on it, never step rows or events (a finished run lists with no
   * steps; `status ID` has them). Runs created while a client pages land before its first page, so
   * no run is skipped or repeated.
   */
  async list(o: { all: boolean; workflow?: string; limit: number; cursor?: string }): Promise<{ runs: RunJson[]; total: number; next: string | null }> {
    if (!o.all) {
      let runs = this.d.team ? await this.teamActive() : [...this.runs.values()].filter((r) => this.shown(r));
      if (o.workflow) runs = runs.filter((r) => r.workflow === o.workflow);
      runs.sort((a, b) => b.created_at.localeCompare(a.created_at));
      return { runs: runs.slice(0, o.limit).map((r) => this.json(r)), total: runs.length, next: null };
    }
    const runs = this.d.runs;
    const out: RunJson[] = [];
    let lt = o.cursor;
    let more = true;
    page: while (more) {
      // one row past the page says whether there is more; a workflow filter reads in steps of 500
      const size = o.workflow ? 500 : o.limit - out.length + 1;
      const rows = await runs.createdPage(lt, size);
      more = rows.length === size;
      const ids: string[] = [];
      for (const row of rows) {
        if (out.length + ids.length === o.limit) {
          more = true;
          break;
        }
        lt = row.cursor;
        if (!o.workflow || row.workflow === o.workflow) ids.push(row.id);
      }
      // live runs from memory, the others' headers in one read
      const lives = ids.map((id) => this.runs.get(id));
      const stored = await runs.headers(ids.filter((_, i) => !lives[i]));
      let j = 0;
      for (const live of lives) {
        const header = live ? undefined : stored[j++];
        if (live) out.push(this.json(live));
        else if (header) out.push(headerJson({ ...header, steps: {} } as RunRecord, this.defs.get(header.def_hash)));
      }
      if (out.length === o.limit) break page;
    }
    const next = more && lt !== undefined ? lt : null;
    if (this.d.team) {
      // the team's: every member's summary of the runs it ended, and the active index
      const finished = (await this.teamSummaries()).reduce((n, s) => n + (o.workflow ? (s.by_workflow[o.workflow] ?? 0) : finishedTotal(s)), 0);
      const active = (await this.teamActiveCounts()).reduce((n, c) => n + (!o.workflow || c.workflow === o.workflow ? c.n : 0), 0);
      return { runs: out, total: finished + active, next };
    }
    const finished = o.workflow ? (this.summary.by_workflow[o.workflow] ?? 0) : finishedTotal(this.summary);
    const active = o.workflow ? this.activeRunsOf(o.workflow).length : this.runs.size;
    return { runs: out, total: finished + active, next };
  }

  async events(id: string, after: number, limit: number): Promise<{ events: RunEventJson[]; status: RunStatus; events_removed_at?: string }> {
    const run = await this.lookup(id);
    const events = await this.d.runs.events<RunEventJson>(id, after, limit);
    const removed = (run as RunRecord & { events_removed_at?: string }).events_removed_at;
    return { events, status: run.status, ...(removed ? { events_removed_at: removed } : {}) };
  }

  /**
   * Team mode: a decision about a run another member hosts is made there (the host serialises
   * decisions, so the first wins exactly once, whichever member or chat it came through); its
   * answer comes back as if local. Undefined: decide here (solo, hosted here, ended, or unknown).
   */
  private async atHost(id: string, op: ForwardedOp, args: Record<string, unknown>, here: boolean): Promise<RunJson | undefined> {
    // a run this daemon is taking over is claimed (its owner row names us) before it is loaded: a
    // decision arriving in between waits for the load (10 s at most: the database may be away)
    // instead of finding no such active run
    const loading = this.takingOver.get(id);
    if (loading) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([loading, new Promise((r) => (timer = setTimeout(r, 10_000)))]);
      clearTimeout(timer);
    }
    if (here || !this.d.team || this.runs.has(id)) return undefined;
    return (await this.d.team.forward(id, op, args)) as RunJson | undefined;
  }

  async pause(id: string, actor: string, here = false): Promise<RunJson> {
    const fwd = await this.atHost(id, 'pause', { actor }, here);
    if (fwd) return fwd;
    const run = this.activeRun(id, await this.lookup(id), 'pause');
    if (run.status === 'paused') throw new WireError('invalid_state', `run ${id} is already paused`);
    if (run.pause_requested) throw new WireError('invalid_state', `run ${id} is already pausing (at the next step boundary)`);
    const audit = { actor, action: 'runs.pause' };
    const reason = `paused by ${actor}`;
    if (run.status === 'running' && this.pool.active.has(id)) {
      await this.commitRun(run, [{ type: 'run.pause_requested', reason }], [], audit);
    } else {
      this.pool.dequeue(id);
      if (run.status === 'queued') this.queuedByWf.set(run.workflow, this.queueList(run.workflow).filter((x) => x !== id));
      await this.commitRun(run, [{ type: 'run.pause_requested', reason }, { type: 'run.paused', reason, step: run.current_step }], [], audit);
    }
    return this.json(run);
  }

  async resume(id: string, actor: string, here = false): Promise<RunJson> {
    const fwd = await this.atHost(id, 'resume', { actor }, here);
    if (fwd) return fwd;
    const run = this.activeRun(id, await this.lookup(id), 'resume');
    const audit = { actor, action: 'runs.resume' };
    if (run.status === 'running' && run.pause_requested) {
      await this.commitRun(run, [{ type: 'run.resumed', to: 'running', by: actor }], [], audit);
      return this.json(run);
    }
    if (run.status !== 'paused') throw new WireError('invalid_state', `run ${id} is not paused (it is ${run.status})`);
    const budget = (run.pause_reason ?? '').startsWith('budget');
    if (!run.started_at) {
      const def = this.defOf(run)!;
      const admit = this.canAdmit(run, def);
      if (!admit) this.queueList(run.workflow).push(run.id);
      await this.commitRun(run, [{ type: 'run.resumed', to: 'queued', by: actor }, ...(admit ? [{ type: 'run.started' as const }] : [])], [], audit);
      if (admit) this.pool.request(id);
      return this.json(run);
    }
    const to = run.waiting_for ? 'waiting' : 'running';
    await this.commitRun(run, [{ type: 'run.resumed', to, by: actor, ...(budget ? { budget_grant: true } : {}) }], [], audit);
    if (to === 'running') this.pool.request(id);
    return this.json(run);
  }

  async cancel(id: string, actor: string, here = false): Promise<RunJson> {
    const fwd = await this.atHost(id, 'cancel', { actor }, here);
    if (fwd) return fwd;
    const run = this.activeRun(id, await this.lookup(id), 'cancel');
    this.pool.terminate(id);
    await this.commitRun(run, [{ type: 'run.cancelled', step: run.current_step, by: actor }], [], { actor, action: 'runs.cancel' });
    return this.json(run);
  }

  /**
   * The engine knows people only by actor (`cli:alice`, `slack:U1`, `discord:111`): an approval's
   * `approvers` naming the actor (or its user part) may answer. `as.approver`: the front door (the chat
   * layer, which knows roles) vouches that the caller is one of the approvers by role.
   */
  async answer(
    id: string,
    actor: string,
    a: { kind: 'approval'; decision: 'approved' | 'rejected'; comment?: string; shown?: { step?: string; args_hash?: string } } | { kind: 'input'; text: string },
    as: { approver?: boolean } = {},
    here = false,
  ): Promise<RunJson> {
    const fwd = await this.atHost(id, 'answer', { actor, a, as }, here);
    if (fwd) return fwd;
    const run = await this.lookup(id);
    const w = this.runs.has(id) ? run.waiting_for : null;
    const what = a.kind === 'approval' ? 'an approval' : 'input';
    if (!w || w.kind !== a.kind) {
      const now = TERMINAL.has(run.status) ? run.status : w ? `waiting for ${w.kind === 'timer' || w.kind === 'retry' ? 'a timer' : w.kind}` : run.status;
      throw new WireError('invalid_state', `run ${id} is not waiting for ${what} (it is ${now}); nothing was recorded`);
    }
    if (this.answering.has(id)) throw new WireError('invalid_state', `run ${id} is already being answered; nothing was recorded`);
    if (a.kind === 'approval' && a.shown) this.checkShown(run, w, a.shown);
    if (a.kind === 'approval' && w.approvers?.length) {
      const user = actor.split(':').slice(1).join(':');
      if (!w.approvers.includes(actor) && !w.approvers.includes(user) && as.approver !== true) throw new WireError('invalid_state', `${actor} may not answer this approval (approvers: ${w.approvers.join(', ')}); nothing was recorded`);
    }
    this.answering.add(id);
    try {
      const def = this.defOf(run);
      const step = def ? stepAt(def, w.step) : undefined;
      if (a.kind === 'approval') {
        await this.commitRun(run, [{ type: 'approval.answered', step: w.step, decision: a.decision, by: actor, comment: a.comment, fail_on_reject: step?.on_error !== 'continue', ...(w.args_hash ? { args_hash: w.args_hash } : {}) }], [], { actor, action: a.decision === 'approved' ? 'runs.approve' : 'runs.reject' });
      } else {
        await this.commitRun(run, [{ type: 'input.answered', step: w.step, text: a.text, by: actor }], [], { actor, action: 'runs.respond' });
      }
    } finally {
      this.answering.delete(id);
    }
    if (run.status === 'running') this.pool.request(id);
    return this.json(run);
  }

  /**
   * The decision names what the person saw (a step, by id or by its label, and a gated call's argument
   * hash): if the run now waits for something else, it is refused, so nothing lands on a question
   * nobody was shown. Not retryable: the same request would answer the wrong question later too.
   */
  private checkShown(run: RunRecord, w: NonNullable<RunRecord['waiting_for']>, shown: { step?: string; args_hash?: string }): void {
    const label = shown.step !== undefined && shown.step !== w.step ? (this.json(run).progress.waiting?.label ?? null) : null;
    const stepOk = shown.step === undefined || shown.step === w.step || shown.step === label;
    const hashOk = shown.args_hash === undefined || shown.args_hash === w.args_hash;
    if (stepOk && hashOk) return;
    const was = `${shown.step !== undefined ? ` at ${shown.step}` : ''}${shown.args_hash !== undefined ? ` with argument hash ${shown.args_hash}` : ''}`;
    const now = `approval at ${label ?? w.step}${label && label !== w.step ? ` (${w.step})` : ''}${w.args_hash ? ` with argument hash ${w.args_hash}` : ''}`;
    throw new WireError('conflict', `run ${run.id} no longer waits for approval${was} (it now waits for ${now}); nothing was recorded`, { retryable: false });
  }

  /** For `status` without an id and for benchmarks. */
  get activationFigures(): { active: number; waiting: number; timers: number; runs: number } {
    return { active: this.pool.size, waiting: this.pool.waiting, timers: this.alarms.size, runs: this.runs.size };
  }

  /** Worker threads: alive, idle, started since the daemon started, activations handed to a running worker. */
  get workerFigures(): { live: number; idle: number; started: number; reused: number; retired: number } {
    if (!this.pool) return { live: 0, idle: 0, started: 0, reused: 0, retired: 0 };
    return { ...this.pool.workers, ...this.pool.figures };
  }

  get schedules(): Scheduler {
    return this.scheduler;
  }
}

/** What one member asks the host of a run to do (TeamPort.forward). */
export type ForwardedOp = 'pause' | 'resume' | 'cancel' | 'answer';

/** A host workflow's body left unfinished: its DBOS workflow stays pending (or fenced, if another daemon has the run). */
function unfinished(): Promise<void> {
  return new Promise<void>(() => undefined);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
