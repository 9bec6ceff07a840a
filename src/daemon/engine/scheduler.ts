import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import later from '@breejs/later';
import type Bree from 'bree';
import { WireError } from '../../protocol/index.js';
import type { ScheduleJson } from '../../protocol/methods/runs.js';
import { coerceParams } from '../../workflows/params.js';
import type { LoadedWorkflow, WorkflowSet } from '../../workflows/registry.js';
import type { DaemonContext } from '../context.js';
import type { Engine } from './engine.js';

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

interface Compiled {
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

  constructor(
    private readonly ctx: DaemonContext,
    private readonly engine: Engine,
    private readonly bree: Bree,
  ) {
    bree.on('worker created', (name: string) => {
      if (!name.startsWith('schedule-')) return;
      bree.workers.get(name)?.on('message', (msg: { type?: string; workflow?: string; at?: number }) => {
        if (typeof msg === 'object' && msg?.type === 'tick' && msg.workflow) this.serial(() => this.fire(msg.workflow!, new Date(Math.round((msg.at ?? Date.now()) / 1000) * 1000), false));
      });
    });
  }

  /** Fires are handled one at a time, so overlap checks see the runs earlier fires started. */
  private serial(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch((err) => this.ctx.log.error({ err }, 'schedule fire failed'));
  }

  async start(): Promise<void> {
    for (const [wf, s] of await this.ctx.store.entries<ScheduleState>('schedules')) this.state.set(wf, s);
    await this.sync(this.ctx.workflows.current(), true);
    this.unsubscribe = this.ctx.workflows.onReload((set) => this.serial(() => this.sync(set, false)));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    for (const c of this.compiled.values()) await this.bree.remove(c.job).catch(() => undefined);
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
        await this.bree.remove(c.job).catch(() => undefined);
        this.compiled.delete(wf);
      }
    }
    for (const [wf, c] of want) {
      if (this.compiled.has(wf)) {
        this.compiled.set(wf, c);
        continue;
      }
      try {
        later.parse.cron(c.cron, c.hasSeconds);
        await this.bree.add({ name: c.job, path: tickJobPath(), cron: c.cron, hasSeconds: c.hasSeconds, ...(c.timezone ? { timezone: c.timezone } : {}), worker: { workerData: { workflow: wf } } });
      } catch (err) {
        this.ctx.log.error({ err, workflow: wf, cron: c.cron }, 'schedule rejected');
        continue;
      }
      this.compiled.set(wf, c);
      let st = this.state.get(wf);
      if (!st) {
        // a new schedule starts from now: nothing before it was missed
        st = { last_fire: new Date().toISOString(), paused: false };
        this.state.set(wf, st);
        await this.ctx.store.commit([{ type: 'put', sub: 'schedules', key: wf, value: st }]);
      } else if (atStart && !st.paused) await this.catchUp(c, st);
      if (!st.paused) await this.bree.start(c.job);
    }
  }

  private missed(c: Compiled, since: Date, until: Date): Date[] {
    const sched = later.schedule(later.parse.cron(c.cron, c.hasSeconds));
    const out: Date[] = [];
    let from = new Date(since.getTime() + 1000);
    // bounded walk: at most max_catch_up + 1 recent times are kept
    for (let guard = 0; guard < 100_000 && from <= until; guard++) {
      const next = sched.next(200, from, until) as Date[] | Date | 0;
      const list = Array.isArray(next) ? next : next ? [next] : [];
      if (list.length === 0) break;
      for (const d of list) {
        const t = new Date(Math.floor(d.getTime() / 1000) * 1000);
        if (t > since && t <= until) out.push(t);
        if (out.length > c.maxCatchUp + 1) out.shift();
      }
      if (list.length < 200) break;
      from = new Date(list[list.length - 1].getTime() + 1000);
    }
    return out;
  }

  private async catchUp(c: Compiled, st: ScheduleState): Promise<void> {
    if (!st.last_fire) return;
    const missed = this.missed(c, new Date(st.last_fire), new Date());
    if (missed.length === 0) return;
    this.ctx.log.info({ workflow: c.workflow, missed: missed.length, policy: c.catchUp }, 'schedule missed fire times while the daemon was down');
    if (c.catchUp === 'none') {
      st.last_fire = missed[missed.length - 1].toISOString();
      await this.ctx.store.commit([{ type: 'put', sub: 'schedules', key: c.workflow, value: st }]);
      return;
    }
    const fires = c.catchUp === 'latest' ? missed.slice(-1) : missed.slice(-c.maxCatchUp);
    for (const at of fires) await this.fire(c.workflow, at, true);
  }

  private async fire(wf: string, at: Date, catchUp: boolean): Promise<void> {
    const c = this.compiled.get(wf);
    const st = this.state.get(wf);
    const loaded = this.ctx.workflows.current().workflows.get(wf);
    if (!c || !st || st.paused || !loaded) return;
    if (st.last_fire && Date.parse(st.last_fire) >= at.getTime() && !catchUp) return;
    st.last_fire = at.toISOString();
    const stateOp = { type: 'put' as const, sub: 'schedules' as const, key: wf, value: { ...st } };
    if (c.overlap === 'skip' && this.engine.activeRunsOf(wf).some((r) => r.trigger === 'schedule')) {
      st.skipped = (st.skipped ?? 0) + 1;
      stateOp.value = { ...st };
      await this.ctx.store.commit([stateOp]);
      this.ctx.bus.publish('schedules', 'schedule.skipped', { workflow: wf, at: st.last_fire, reason: 'a scheduled run is still active (overlap: skip)' });
      return;
    }
    let params: Record<string, unknown>;
    try {
      params = coerceParams(loaded.workflow, c.params);
    } catch (err) {
      this.ctx.log.error({ err, workflow: wf }, 'scheduled run has bad params; not started');
      await this.ctx.store.commit([stateOp]);
      return;
    }
    const run = await this.engine.startRun({ workflow: loaded, params, trigger: 'schedule', actor: 'schedule', scheduledFor: st.last_fire, catchUp, extraOps: [stateOp] });
    this.ctx.bus.publish('schedules', 'schedule.fired', { workflow: wf, at: st.last_fire, run_id: run.id, catch_up: catchUp });
  }

  private json(c: Compiled): ScheduleJson {
    const st = this.state.get(c.workflow);
    let next: string | null = null;
    if (!st?.paused) {
      const n = later.schedule(later.parse.cron(c.cron, c.hasSeconds)).next(1, new Date()) as Date | 0;
      next = n ? new Date(Math.floor(n.getTime() / 1000) * 1000 + (n.getMilliseconds() ? 1000 : 0)).toISOString() : null;
    }
    return { workflow: c.workflow, cron: c.cron, timezone: c.timezone, overlap: c.overlap, catch_up: c.catchUp, paused: st?.paused ?? false, last_fire: st?.last_fire ?? null, next_fire: next };
  }

  list(): ScheduleJson[] {
    return [...this.compiled.values()].sort((a, b) => a.workflow.localeCompare(b.workflow)).map((c) => this.json(c));
  }

  async setPaused(wf: string, paused: boolean, actor: string): Promise<ScheduleJson> {
    const c = this.compiled.get(wf);
    if (!c) {
      const names = [...this.compiled.keys()];
      throw new WireError('not_found', `workflow ${wf} has no active schedule${names.length ? ` (scheduled: ${names.join(', ')})` : ''}`);
    }
    const st = this.state.get(wf) ?? { last_fire: null, paused: false };
    if (st.paused === paused) throw new WireError('invalid_state', `the schedule of ${wf} is already ${paused ? 'paused' : 'running'}`);
    st.paused = paused;
    // resuming does not catch up on the paused time: that was the point of pausing
    if (!paused) st.last_fire = new Date().toISOString();
    this.state.set(wf, st);
    await this.ctx.store.commit([{ type: 'put', sub: 'schedules', key: wf, value: st }], { actor, action: paused ? 'schedules.pause' : 'schedules.resume', target: `schedule:${wf}` });
    if (paused) await this.bree.stop(c.job);
    else await this.bree.start(c.job);
    return this.json(c);
  }
}
