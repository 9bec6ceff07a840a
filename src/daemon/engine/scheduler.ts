import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import later from '@breejs/later';
import type Bree from 'bree';
import { WireError } from '../../protocol/index.js';
import type { ScheduleJson } from '../../protocol/methods/runs.js';
import { coerceParams, findWorkflow, unknownWorkflow } from '../../workflows/params.js';
import type { LoadedWorkflow, WorkflowSet } from '../../workflows/registry.js';
import type { Logger } from 'pino';
import type { Bus } from '../bus.js';
import type { KvStore } from '../store/kv.js';
import type { WorkflowCatalog } from '../workflows/catalog.js';
import type { Engine } from './engine.js';
import type { SchedulesRepo } from '../repos/schedules.js';

later.date.localTime();

function tickJobPath(): string {
  const here = fileURLToPath(new URL('./worker/schedule-tick.js', import.meta.url));
  if (existsSync(here)) return here;
  return here.replace(/\/src\/daemon\/engine\//, '/dist/daemon/engine/');
}

interface ScheduleState {
  last_fire: string | null;
  paused: boolean;
  skipped?: number;
}

export interface Compiled {
  workflow: string;
  cron: string;
  hasSeconds: boolean;
  timezone: string | null;
  overlap: 'skip' | 'queue' | 'allow';
  catchUp: 'none' | 'latest' | 'all';
  maxCatchUp: number;
  params: Record<string, unknown>;
  enabled: boolean;
  job: string;
}

/** Whole-second cron time (later keeps the milliseconds of the date it starts from). */
function wholeSecond(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

function scheduleOf(c: Compiled): ReturnType<typeof later.schedule> {
  return later.schedule(later.parse.cron(c.cron, c.hasSeconds));
}

/** Milliseconds the zone is behind UTC at `at` (the sign of Date#getTimezoneOffset). */
function zoneOffsetMs(at: Date, timeZone: string): number {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(at).map((p) => [p.type, p.value]));
  const wall = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return wholeSecond(at).getTime() - wall;
}

/**
 * later computes cron times in the daemon's local time; Bree runs a job with a `timezone` by
 * shifting "now" into that zone and the result back (later.setTimeout). Our own computations
 * (fire time of a tick, next fire, missed times) shift the same way, or they disagree with Bree.
 */
function shiftMs(c: Compiled, at: Date): number {
  if (!c.timezone || c.timezone === 'local' || c.timezone === 'system') return 0;
  return at.getTimezoneOffset() * 60_000 - zoneOffsetMs(at, c.timezone);
}

/**
 * The cron time a tick belongs to: the latest one at or before the tick. The tick is taken when
 * Bree creates the worker, which on a busy machine is after the fire time (rounding to the nearest
 * second named the wrong time); the small slack covers a timer that fires a little early.
 */
export function fireTimeOf(c: Compiled, tickAt: number): Date | null {
  const shift = shiftMs(c, new Date(tickAt));
  const p = scheduleOf(c).prev(1, new Date(tickAt + 250 + shift)) as Date | 0;
  return p ? wholeSecond(new Date(p.getTime() - shift)) : null;
}

/** The first cron time strictly after `after`. */
export function nextFireAfter(c: Compiled, after: Date): Date | null {
  const shift = shiftMs(c, after);
  const n = scheduleOf(c).next(1, new Date(wholeSecond(after).getTime() + 1000 + shift)) as Date | 0;
  return n ? wholeSecond(new Date(n.getTime() - shift)) : null;
}

/**
 * Cron times in (since, until], oldest first, at most `max` of the most recent. Walks backwards
 * from `until`, so a seconds cron down for a month costs `max` steps, not millions.
 */
export function missedFires(c: Compiled, since: Date, until: Date, max: number): Date[] {
  if (until <= since) return [];
  const shift = shiftMs(c, until);
  const found = scheduleOf(c).prev(max, new Date(until.getTime() + shift), new Date(wholeSecond(since).getTime() + 1000 + shift)) as Date[] | Date | 0;
  const list = Array.isArray(found) ? found : found ? [found] : [];
  return list
    .map((d) => wholeSecond(new Date(d.getTime() - shift)))
    .filter((t) => t > since && t <= until)
    .sort((a, b) => a.getTime() - b.getTime());
}

/** A timezone name Intl (and so Bree) accepts. */
function validZone(tz: string | null): boolean {
  if (!tz || tz === 'local' || tz === 'system') return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function compile(w: LoadedWorkflow): Compiled | null {
  const s = w.workflow.schedule;
  if (s === undefined) return null;
  const o = typeof s === 'string' ? { cron: s, catch_up: 'latest' as const, max_catch_up: 10, overlap: 'skip' as const, params: {}, enabled: true, timezone: undefined } : s;
  const cron = o.cron.trim();
  return {
    workflow: w.workflow.id,
    cron,
    // six fields: the first is seconds
    hasSeconds: cron.split(/\s+/).length === 6,
    timezone: o.timezone ?? null,
    overlap: o.overlap,
    catchUp: o.catch_up,
    maxCatchUp: o.max_catch_up,
    params: o.params,
    enabled: o.enabled,
    job: `schedule-${w.workflow.id}`,
  };
}

/** What the scheduler uses besides the engine that starts its runs: the workflow set, its repository, the bus it reports on. */
export interface SchedulerDeps {
  log: Logger;
  bus: Bus;
  store: Pick<KvStore, 'commit'>;
  schedules: SchedulesRepo;
  workflows: Pick<WorkflowCatalog, 'current' | 'onReload'>;
}

/**
 * Schedules: each is a Bree cron job (`hasSeconds` for six-field crons) whose tick starts a run
 * under the overlap policy. The last fire time is stored with the run it started (one batch), so
 * after the daemon was down the catch-up policy knows what was missed.
 */
export class Scheduler {
  private readonly compiled = new Map<string, Compiled>();
  private readonly state = new Map<string, ScheduleState>();
  private unsubscribe: (() => void) | null = null;
  private chain: Promise<void> = Promise.resolve();
  private readonly schedules: SchedulesRepo<ScheduleState>;

  constructor(
    private readonly d: SchedulerDeps,
    private readonly engine: Engine,
    private readonly bree: Bree,
  ) {
    this.schedules = d.schedules as SchedulesRepo<ScheduleState>;
    bree.on('worker created', (name: string) => {
      if (!name.startsWith('schedule-')) return;
      // Bree creates the worker at the fire time; the worker's own clock is later by its boot time
      const createdAt = Date.now();
      bree.workers.get(name)?.on('message', (msg: { type?: string; workflow?: string; at?: number }) => {
        if (typeof msg !== 'object' || msg?.type !== 'tick' || !msg.workflow) return;
        const wf = msg.workflow;
        const at = Math.min(createdAt, msg.at ?? createdAt);
        this.serial(() => this.onTick(wf, at));
      });
    });
  }

  /** Fires are handled one at a time, so overlap checks see the runs earlier fires started. */
  private serial(fn: () => Promise<void>): void {
    this.exclusive(fn).catch((err) => this.d.log.error({ err }, 'schedule fire failed'));
  }

  /** Runs `fn` after every fire, reload and pause/resume before it; its result goes to the caller. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn);
    this.chain = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  /**
   * Adds and starts the schedule's Bree job. Pausing removes the job rather than stopping it:
   * the pool's Bree has `removeCompleted`, so a stopped job vanishes when its last tick ends and
   * could not be started again.
   */
  private async arm(c: Compiled): Promise<void> {
    await this.bree.add({ name: c.job, path: tickJobPath(), cron: c.cron, hasSeconds: c.hasSeconds, ...(c.timezone ? { timezone: c.timezone } : {}), worker: { workerData: { workflow: c.workflow } } });
    await this.bree.start(c.job);
  }

  private async disarm(c: Compiled): Promise<void> {
    await this.bree.remove(c.job).catch(() => undefined);
  }

  async start(): Promise<void> {
    for (const [wf, s] of await this.schedules.all()) this.state.set(wf, s);
    await this.sync(this.d.workflows.current(), true);
    this.unsubscribe = this.d.workflows.onReload((set) => this.serial(() => this.sync(set, false)));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    for (const c of this.compiled.values()) await this.disarm(c);
    this.compiled.clear();
    await this.chain;
  }

  /** (Re)arms Bree jobs for the set's schedules; at daemon start, applies catch-up first. */
  private async sync(set: WorkflowSet, atStart: boolean): Promise<void> {
    const want = new Map<string, Compiled>();
    for (const w of set.workflows.values()) {
      const c = compile(w);
      if (c && c.enabled) want.set(c.workflow, c);
    }
    for (const [wf, c] of this.compiled) {
      const n = want.get(wf);
      if (!n || n.cron !== c.cron || n.timezone !== c.timezone) {
        await this.disarm(c);
        this.compiled.delete(wf);
      }
    }
    for (const [wf, c] of want) {
      if (this.compiled.has(wf)) {
        this.compiled.set(wf, c);
        continue;
      }
      // Bree validates the cron text when the job is added (arm below); this catches one that never fires
      if (!validZone(c.timezone)) {
        this.d.log.error({ workflow: wf, timezone: c.timezone }, 'schedule rejected: unknown timezone');
        continue;
      }
      if (nextFireAfter(c, new Date()) === null) {
        this.d.log.error({ workflow: wf, cron: c.cron }, 'schedule rejected: the cron never fires');
        continue;
      }
      this.compiled.set(wf, c);
      let st = this.state.get(wf);
      if (!st) {
        // a new schedule starts from now: nothing before it was missed
        st = { last_fire: new Date().toISOString(), paused: false };
        this.state.set(wf, st);
        await this.d.store.commit([this.schedules.putOp(wf, st)]);
      } else if (atStart && !st.paused) await this.catchUp(c, st);
      else if (!st.paused) {
        // (re)enabled or re-timed by a reload: the time it was off or on another cron was not missed
        st.last_fire = new Date().toISOString();
        await this.d.store.commit([this.schedules.putOp(wf, st)]);
      }
      if (st.paused) continue;
      try {
        await this.arm(c);
      } catch (err) {
        this.compiled.delete(wf);
        await this.disarm(c);
        this.d.log.error({ err, workflow: wf, cron: c.cron }, 'schedule rejected');
      }
    }
  }

  private missed(c: Compiled, since: Date, until: Date): Date[] {
    return missedFires(c, since, until, c.maxCatchUp);
  }

  /**
   * A Bree tick. When fire times between the last one and this one never ticked (the machine
   * slept, or the daemon was stopped with SIGSTOP / starved), `catch_up: all` starts a run for
   * each of them (bounded) before this one; none and latest just fire this, the latest, time.
   */
  private async onTick(wf: string, tickAt: number): Promise<void> {
    const c = this.compiled.get(wf);
    const st = this.state.get(wf);
    const t = c ? fireTimeOf(c, tickAt) : null;
    if (!c || !st || !t || st.paused) return;
    if (c.catchUp === 'all' && st.last_fire) {
      const gap = this.missed(c, new Date(st.last_fire), new Date(t.getTime() - 1000)).slice(-c.maxCatchUp);
      if (gap.length > 0) this.d.log.info({ workflow: wf, missed: gap.length }, 'schedule missed fire times while the daemon was running (sleep?)');
      for (const at of gap) await this.fire(wf, at, true);
    }
    await this.fire(wf, t, false);
  }

  private async catchUp(c: Compiled, st: ScheduleState): Promise<void> {
    if (!st.last_fire) return;
    const missed = this.missed(c, new Date(st.last_fire), new Date());
    if (missed.length === 0) return;
    this.d.log.info({ workflow: c.workflow, missed: missed.length, policy: c.catchUp }, 'schedule missed fire times while the daemon was down');
    if (c.catchUp === 'none') {
      st.last_fire = missed[missed.length - 1].toISOString();
      await this.d.store.commit([this.schedules.putOp(c.workflow, st)]);
      return;
    }
    const fires = c.catchUp === 'latest' ? missed.slice(-1) : missed.slice(-c.maxCatchUp);
    for (const at of fires) await this.fire(c.workflow, at, true);
  }

  private async fire(wf: string, at: Date, catchUp: boolean): Promise<void> {
    const c = this.compiled.get(wf);
    const st = this.state.get(wf);
    const loaded = this.d.workflows.current().workflows.get(wf);
    if (!c || !st || st.paused || !loaded) return;
    if (st.last_fire && Date.parse(st.last_fire) >= at.getTime() && !catchUp) return;
    st.last_fire = at.toISOString();
    let stateOp = this.schedules.putOp(wf, { ...st });
    if (c.overlap === 'skip' && this.engine.activeRunsOf(wf).some((r) => r.trigger === 'schedule')) {
      st.skipped = (st.skipped ?? 0) + 1;
      stateOp = this.schedules.putOp(wf, { ...st });
      await this.d.store.commit([stateOp]);
      this.d.bus.publish('schedules', 'schedule.skipped', { workflow: wf, at: st.last_fire, reason: 'a scheduled run is still active (overlap: skip)' });
      return;
    }
    let params: Record<string, unknown>;
    try {
      params = coerceParams(loaded.workflow, c.params);
    } catch (err) {
      this.d.log.error({ err, workflow: wf }, 'scheduled run has bad params; not started');
      await this.d.store.commit([stateOp]);
      return;
    }
    const run = await this.engine.startRun({ workflow: loaded, params, trigger: 'schedule', actor: 'schedule', scheduledFor: st.last_fire, catchUp, extraOps: [stateOp] });
    this.d.bus.publish('schedules', 'schedule.fired', { workflow: wf, at: st.last_fire, run_id: run.id, catch_up: catchUp });
  }

  private json(c: Compiled): ScheduleJson {
    const st = this.state.get(c.workflow);
    let next: string | null = null;
    if (!st?.paused) {
      next = nextFireAfter(c, new Date())?.toISOString() ?? null;
    }
    return { workflow: c.workflow, cron: c.cron, timezone: c.timezone, overlap: c.overlap, catch_up: c.catchUp, paused: st?.paused ?? false, last_fire: st?.last_fire ?? null, next_fire: next };
  }

  /** `schedules pause|resume WORKFLOW`: the words people type (as for start) to the id a schedule is kept under. */
  idOf(word: string): string {
    const set = this.d.workflows.current();
    const found = findWorkflow(set, word);
    if (found) return found.workflow.id;
    if (this.list().some((s) => s.workflow === word)) return word;
    throw unknownWorkflow(set, word);
  }

  list(): ScheduleJson[] {
    return [...this.compiled.values()].sort((a, b) => a.workflow.localeCompare(b.workflow)).map((c) => this.json(c));
  }

  setPaused(wf: string, paused: boolean, actor: string): Promise<ScheduleJson> {
    return this.exclusive(() => this.doSetPaused(wf, paused, actor));
  }

  private async doSetPaused(wf: string, paused: boolean, actor: string): Promise<ScheduleJson> {
    const c = this.compiled.get(wf);
    if (!c) {
      const names = [...this.compiled.keys()];
      throw new WireError('not_found', `workflow ${wf} has no active schedule${names.length ? ` (scheduled: ${names.join(', ')})` : ''}`);
    }
    const st = this.state.get(wf) ?? { last_fire: null, paused: false };
    if (st.paused === paused) throw new WireError('invalid_state', `the schedule of ${wf} is already ${paused ? 'paused' : 'running'}`);
    // resuming does not catch up on the paused time: that was the point of pausing
    const next: ScheduleState = { ...st, paused, ...(paused ? {} : { last_fire: new Date().toISOString() }) };
    if (paused) await this.disarm(c);
    else await this.arm(c);
    try {
      await this.d.store.commit([this.schedules.putOp(wf, next)], { actor, action: paused ? 'schedules.pause' : 'schedules.resume', target: `schedule:${wf}` });
    } catch (err) {
      // not recorded: put the job back the way the store says it is
      if (paused) await this.arm(c).catch(() => undefined);
      else await this.disarm(c);
      throw err;
    }
    this.state.set(wf, next);
    return this.json(c);
  }
}
