import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PACKAGE_VERSION, type Params, type StatsJson, type WorkflowStats } from '../../protocol/index.js';
import type { Logger } from 'pino';
import type { Paths } from '../../config/paths.js';
import type { RunStatus } from '../../protocol/index.js';
import type { Bus } from '../bus.js';
import type { Service } from '../context.js';
import type { RunsRepo } from '../repos/runs.js';
import type { KvStore } from '../store/kv.js';
import type { RunEvent, RunRecord } from '../engine/types.js';
import type { RunHeader } from '../engine/step-rows.js';
import type { StatsRepo } from '../repos/stats.js';
import type { StoreOp } from '../store/store.js';
import type { CallRecord } from '../tools/types.js';
import { sinceCutoff } from '../audit.js';
import { countOf, merge, observe, quantile, type Hist } from './histogram.js';

/**
 * Analytics for `opstream stats` and the Prometheus endpoint, kept as hourly aggregates so a query
 * costs the same over 100 runs or 100,000 (it merges hours, never rescans runs).
 *
 * - Runs: when a run ends, its hour's bucket (per workflow: outcomes, a duration histogram, time
 *   waiting for people, tokens) is written in the SAME batch as the run's final event, so the
 *   figures are exactly as durable as the runs. Time waiting for people accumulates per active
 *   run (meta `stats:wait:<run>`, also in the batch that answered the wait).
 * - Tool calls and notification deliveries: hourly counters fed from the bus, saved every 30 s and
 *   at stop (a crash may lose the last seconds of these counters, never a run).
 * - Runs that ended before this index existed are counted once at start (`stats:v1` marks it done).
 */
/** The engine's counts of active runs (solo: in memory; team: the team's). */
export interface StatsRunCounts {
  runCounts(): Record<RunStatus, number>;
  teamCounts(): Promise<Record<RunStatus, number>>;
}

export interface StatsDeps {
  log: Logger;
  bus: Bus;
  paths: Pick<Paths, 'dbDir'>;
  startedAt: Date;
  /** Team mode: this member (its hours are kept apart from the others'); null solo. */
  team: { executorId: string } | null;
  store: Pick<KvStore, 'commit'>;
  stats: StatsRepo;
  runs: Pick<RunsRepo, 'all'>;
  /** How many notifications wait for delivery (`stats` shows the backlog). */
  notifier: { backlog(): Record<string, number> };
}

const HOUR_MS = 3_600_000;
const SAVE_EVERY_MS = 30_000;

interface RunAgg {
  runs: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Durations of succeeded runs (ms). */
  dur: Hist;
  dur_total: number;
  wait_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
  tool_calls: number;
}

interface ToolAgg {
  calls: number;
  errors: number;
  cached: number;
  lat: Hist;
}

/** One hour of tool and notification counters. */
interface LooseHour {
  tools: Record<string, ToolAgg>;
  sent: Record<string, number>;
  failed: Record<string, number>;
}

const hourKey = (ms: number): string => new Date(Math.floor(ms / HOUR_MS) * HOUR_MS).toISOString().slice(0, 13);
const hourStart = (key: string): number => Date.parse(`${key}:00:00.000Z`);

function emptyRun(): RunAgg {
  return { runs: 0, succeeded: 0, failed: 0, cancelled: 0, dur: {}, dur_total: 0, wait_ms: 0, prompt_tokens: 0, completion_tokens: 0, tool_calls: 0 };
}

function addRunAgg(into: RunAgg, from: RunAgg): void {
  into.runs += from.runs;
  into.succeeded += from.succeeded;
  into.failed += from.failed;
  into.cancelled += from.cancelled;
  merge(into.dur, from.dur);
  into.dur_total += from.dur_total;
  into.wait_ms += from.wait_ms;
  into.prompt_tokens += from.prompt_tokens;
  into.completion_tokens += from.completion_tokens;
  into.tool_calls += from.tool_calls;
}

const ratio = (a: number, b: number): number | null => (b > 0 ? Math.round((a / b) * 10_000) / 10_000 : null);

function workflowJson(workflow: string, a: RunAgg): WorkflowStats {
  const n = countOf(a.dur);
  return {
    workflow,
    runs: a.runs,
    succeeded: a.succeeded,
    failed: a.failed,
    cancelled: a.cancelled,
    success_rate: ratio(a.succeeded, a.succeeded + a.failed),
    duration_ms: { count: n, p50: quantile(a.dur, 0.5), p95: quantile(a.dur, 0.95), mean: n ? Math.round(a.dur_total / n) : null },
    people_wait_ms: Math.round(a.wait_ms),
    tokens: { prompt: a.prompt_tokens, completion: a.completion_tokens, total: a.prompt_tokens + a.completion_tokens },
    tool_calls: a.tool_calls,
  };
}

export class StatsService implements Service {
  readonly name = 'stats';
  /** hour -> workflow -> aggregate of runs that ended in that hour. */
  private readonly runHours = new Map<string, Record<string, RunAgg>>();
  private readonly loose = new Map<string, LooseHour>();
  /** Active runs -> time their people waits took so far. */
  private readonly waits = new Map<string, number>();
  private offs: (() => void)[] = [];
  private saveTimer: NodeJS.Timeout | null = null;
  private dirty = false;
  /** Set by the metrics server once it listens. */
  metricsUrl: string | null = null;
  private readonly repo: StatsRepo<Record<string, RunAgg>, Record<string, LooseHour>>;
  private engine: StatsRunCounts | null = null;

  constructor(private readonly d: StatsDeps) {
    this.repo = d.stats as StatsRepo<Record<string, RunAgg>, Record<string, LooseHour>>;
  }

  /**
   * The engine's counts of active runs, for `get`. Attached once the engine exists: the engine is
   * built after this service because every run commit carries this service's ops (`prepare`).
   */
  attachEngine(engine: StatsRunCounts): void {
    this.engine = engine;
  }

  /**
   * Team mode: each daemon keeps its own hours (`<key>@<executor>`: two daemons writing one hour's
   * whole bucket would overwrite each other) and `get` merges every member's.
   */
  private get mine(): string | null {
    return this.d.team?.executorId ?? null;
  }

  async start(): Promise<void> {
    const d = this.d;
    const repo = this.repo;
    for (const [hour, who, v] of await repo.runHours()) {
      if (who === (this.mine ?? '')) this.runHours.set(hour, v);
    }
    for (const [run, v] of await repo.waits()) this.waits.set(run, v);
    for (const [hour, v] of Object.entries((await repo.loose(this.mine)) ?? {})) this.loose.set(hour, v);
    // team mode: the runs in the store are the team's; counting them here would count them once per member
    if (!d.team && !(await repo.backfilled())) await this.backfill();
    this.offs.push(
      d.bus.subscribe('tools', undefined, (event, data) => {
        if (event === 'tool.call') this.onToolCall(data as CallRecord);
      }),
      d.bus.subscribe('notifications', undefined, (event, data) => {
        if (event === 'delivery') this.onDelivery(data as { channel: string; delivery: { state: string } });
      }),
    );
    this.saveTimer = setInterval(() => void this.save(), SAVE_EVERY_MS);
    this.saveTimer.unref();
  }

  async stop(): Promise<void> {
    for (const off of this.offs) off();
    this.offs = [];
    if (this.saveTimer) clearInterval(this.saveTimer);
    await this.save();
  }

  /** Runs that ended before this index existed: counted once (their people-wait time is unknown). */
  private async backfill(): Promise<void> {
    const t0 = Date.now();
    let n = 0;
    const touched = new Set<string>();
    for (const [, g] of await this.d.runs.all()) {
      const h = g.header;
      if (!h || !h.ended_at || !['succeeded', 'failed', 'cancelled'].includes(h.status)) continue;
      touched.add(this.addRun(h, 0));
      n++;
    }
    const ops: StoreOp[] = [...touched].map((hour) => this.repo.runHourOp(hour, null, this.runHours.get(hour)!));
    ops.push(this.repo.backfilledOp(n));
    await this.d.store.commit(ops);
    if (n) this.d.log.info({ runs: n, ms: Date.now() - t0 }, 'stats: counted runs that ended before the stats index existed');
  }

  private addRun(run: Pick<RunHeader, 'workflow' | 'status' | 'started_at' | 'ended_at' | 'usage'>, waitMs: number): string {
    const hour = hourKey(Date.parse(run.ended_at!));
    let wfs = this.runHours.get(hour);
    if (!wfs) this.runHours.set(hour, (wfs = {}));
    const a = (wfs[run.workflow] ??= emptyRun());
    a.runs++;
    if (run.status === 'succeeded') a.succeeded++;
    else if (run.status === 'failed') a.failed++;
    else a.cancelled++;
    if (run.status === 'succeeded' && run.started_at) {
      const ms = Math.max(0, Date.parse(run.ended_at!) - Date.parse(run.started_at));
      observe(a.dur, ms);
      a.dur_total += ms;
    }
    a.wait_ms += waitMs;
    a.prompt_tokens += run.usage?.prompt_tokens ?? 0;
    a.completion_tokens += run.usage?.completion_tokens ?? 0;
    a.tool_calls += run.usage?.tool_calls ?? 0;
    return hour;
  }

  /**
   * Called by the engine for every commit of a run, after its events were applied: returns the ops
   * that go in the same batch (a people wait that ended; the hour's figures when the run ended).
   */
  prepare(run: RunRecord, evs: RunEvent[]): StoreOp[] {
    const ops: StoreOp[] = [];
    let waited = 0;
    for (const ev of evs) {
      if (ev.type !== 'approval.answered' && ev.type !== 'input.answered' && ev.type !== 'wait.timed_out') continue;
      const since = ev.step ? run.steps[ev.step]?.started_at : null;
      if (since) waited += Math.max(0, Date.parse(ev.at) - Date.parse(since));
    }
    const ended = run.status === 'succeeded' || run.status === 'failed' || run.status === 'cancelled';
    if (waited > 0 || (ended && this.waits.has(run.id))) {
      const total = (this.waits.get(run.id) ?? 0) + waited;
      if (ended) {
        this.waits.delete(run.id);
        ops.push(this.repo.waitOp(run.id, null));
      } else {
        this.waits.set(run.id, total);
        ops.push(this.repo.waitOp(run.id, total));
      }
      waited = total;
    }
    if (ended && run.ended_at && evs.some((e) => e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.cancelled')) {
      const hour = this.addRun(run, waited);
      // a copy: the in-memory bucket keeps changing while this batch waits for its fsync
      ops.push(this.repo.runHourOp(hour, this.mine, structuredClone(this.runHours.get(hour))!));
    }
    return ops;
  }

  private looseHour(at: number): LooseHour {
    const key = hourKey(at);
    let h = this.loose.get(key);
    if (!h) this.loose.set(key, (h = { tools: {}, sent: {}, failed: {} }));
    return h;
  }

  private onToolCall(r: CallRecord): void {
    const name = `${r.server}.${r.tool}`;
    const t = (this.looseHour(Date.parse(r.at) || Date.now()).tools[name] ??= { calls: 0, errors: 0, cached: 0, lat: {} });
    t.calls++;
    if (r.error || r.isError) t.errors++;
    if (r.cached) t.cached++;
    else observe(t.lat, r.durationMs);
    this.dirty = true;
  }

  private onDelivery(d: { channel: string; delivery: { state: string } }): void {
    const h = this.looseHour(Date.now());
    if (d.delivery.state === 'sent') h.sent[d.channel] = (h.sent[d.channel] ?? 0) + 1;
    else if (d.delivery.state === 'failed') h.failed[d.channel] = (h.failed[d.channel] ?? 0) + 1;
    else return;
    this.dirty = true;
  }

  private async save(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    await this.repo.saveLoose(this.mine, Object.fromEntries(this.loose)).catch((err) => this.d.log.warn({ err }, 'saving tool and notification stats failed'));
  }

  /** Team mode: every member's hours, as stored (this daemon's tool counters from memory: saved every 30 s). */
  private async teamHours(): Promise<{ runHours: [string, Record<string, RunAgg>][]; loose: [string, LooseHour][] }> {
    const runHours = (await this.repo.runHours()).map(([hour, , v]) => [hour, v] as [string, Record<string, RunAgg>]);
    const loose: [string, LooseHour][] = [...this.loose];
    for (const v of await this.repo.othersLoose(this.mine)) loose.push(...Object.entries(v));
    return { runHours, loose };
  }

  private engineCounts(): StatsRunCounts {
    if (!this.engine) throw new Error('stats: the engine was never attached');
    return this.engine;
  }

  /** `stats.get`: merges the hours in the window. */
  async get(p: Params<'stats.get'>, now = Date.now()): Promise<StatsJson> {
    const t0 = performance.now();
    const cutoff = sinceCutoff(p.since, now);
    const from = cutoff === null ? null : hourKey(cutoff);
    const inWindow = (hour: string): boolean => from === null || hour >= from;

    const { runHours, loose } = this.d.team ? await this.teamHours() : { runHours: this.runHours, loose: this.loose };
    const byWf = new Map<string, RunAgg>();
    for (const [hour, wfs] of runHours) {
      if (!inWindow(hour)) continue;
      for (const [wf, a] of Object.entries(wfs)) {
        if (p.workflow && wf !== p.workflow) continue;
        let into = byWf.get(wf);
        if (!into) byWf.set(wf, (into = emptyRun()));
        addRunAgg(into, a);
      }
    }
    const all = emptyRun();
    for (const a of byWf.values()) addRunAgg(all, a);

    const tools = new Map<string, ToolAgg>();
    const sent: Record<string, number> = {};
    const failed: Record<string, number> = {};
    for (const [hour, h] of loose) {
      if (!inWindow(hour)) continue;
      for (const [name, t] of Object.entries(h.tools)) {
        let into = tools.get(name);
        if (!into) tools.set(name, (into = { calls: 0, errors: 0, cached: 0, lat: {} }));
        into.calls += t.calls;
        into.errors += t.errors;
        into.cached += t.cached;
        merge(into.lat, t.lat);
      }
      for (const [c, n] of Object.entries(h.sent)) sent[c] = (sent[c] ?? 0) + n;
      for (const [c, n] of Object.entries(h.failed)) failed[c] = (failed[c] ?? 0) + n;
    }

    const mem = process.memoryUsage();
    const { workflow: _w, ...totals } = workflowJson('', all);
    return {
      window: { since: from === null ? null : new Date(hourStart(from)).toISOString(), until: new Date(now).toISOString(), workflow: p.workflow ?? null },
      runs: { ...totals, active: this.d.team ? await this.engineCounts().teamCounts() : this.engineCounts().runCounts() },
      workflows: [...byWf].map(([wf, a]) => workflowJson(wf, a)).sort((a, b) => b.runs - a.runs || a.workflow.localeCompare(b.workflow)),
      tools: [...tools]
        .map(([tool, t]) => ({
          tool,
          calls: t.calls,
          errors: t.errors,
          error_rate: ratio(t.errors, t.calls),
          p95_ms: quantile(t.lat, 0.95),
          cache_hits: t.cached,
          cache_hit_rate: ratio(t.cached, t.calls),
        }))
        .sort((a, b) => b.calls - a.calls || a.tool.localeCompare(b.tool)),
      notifications: { sent, failed },
      daemon: {
        pid: process.pid,
        version: PACKAGE_VERSION,
        uptime_ms: now - this.d.startedAt.getTime(),
        rss_bytes: mem.rss,
        heap_used_bytes: mem.heapUsed,
        store_bytes: await dirBytes(this.d.paths.dbDir),
        outbox_backlog: this.d.notifier.backlog(),
        metrics_url: this.metricsUrl,
      },
      took_ms: Math.round((performance.now() - t0) * 100) / 100,
    };
  }
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const s = await stat(join(dir, name)).catch(() => null);
    if (s?.isFile()) total += s.size;
  }
  return total;
}
