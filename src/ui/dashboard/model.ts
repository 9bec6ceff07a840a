import type { Notification, RunEventPush, RunJson, WatchItem } from '../../protocol/index.js';

/**
 * The dashboard's picture of the daemon, kept up to date from `runs.watch` items without asking the
 * daemon again: each pushed run event is applied to the run it belongs to (status, current step,
 * what it waits for, step states), the way the engine's reducer applies it to the record. Figures
 * the events do not carry (progress and ETA, tokens, step outputs) come from `runs.get` reads,
 * which the feed asks for only when they change meaning (a new run, another top-level step, an
 * open run's new results). Plain TypeScript, no React: the components read it, tests drive it.
 */
export interface RunView extends RunJson {
  /** When `progress` was read from the daemon (the UI moves elapsed time on from there). */
  read_at: number;
  /** Set from a pushed event until the next read fills in the rest. */
  partial?: boolean;
}

export interface LogLine {
  kind: 'event' | 'notification';
  at: string;
  event?: RunEventPush;
  notification?: Notification;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
/**
 * List order: runs that need a person first, then paused ones, then the rest of the active runs,
 * then finished ones; newest first within each. A run going back and forth between running and
 * waiting for its next timer keeps its place.
 */
function rank(r: RunJson): number {
  if (r.status === 'waiting' && (r.waiting_for?.kind === 'approval' || r.waiting_for?.kind === 'input')) return 0;
  if (r.status === 'paused') return 1;
  return TERMINAL.has(r.status) ? 3 : 2;
}
/** A run's log as kept in memory; an opened run reads its whole recent history again. */
const LOG_KEEP = 300;
const LOG_KEEP_CLOSED = 20;
/** Finished runs stay listed (dimmed) so one can see how they ended; at most this many. */
const FINISHED_KEEP = 100;

const isTop = (path: string): boolean => !path.includes('.') && !path.includes('[');
const topOf = (path: string): string => path.split(/[.[]/)[0];

export class DashboardModel {
  readonly runs = new Map<string, RunView>();
  private readonly logs = new Map<string, LogLine[]>();
  private readonly notes = new Map<string, Notification[]>();
  /** The last feed cursor applied (resume point after a reconnect). */
  cursor = 0;
  /** Bumped on every change; the UI re-renders when it moves. */
  version = 0;
  /** Open run (its log is kept long, its outputs are read). */
  open: string | null = null;
  /** Runs whose daemon reading is stale (the feed reads them again). */
  readonly stale = new Set<string>();
  /** Arrival time of the oldest change not yet on screen (for the lag figure). */
  pendingSince: number | null = null;
  lastNotification: Notification | null = null;

  private changed(): void {
    this.version++;
    this.pendingSince ??= performance.now();
  }

  /** Replaces everything with a `runs.watch` snapshot (first connect, or after the cursor expired). */
  snapshot(runs: RunJson[], cursor: number, now = Date.now()): void {
    const finished = [...this.runs.values()].filter((r) => TERMINAL.has(r.status));
    this.runs.clear();
    for (const r of runs) this.runs.set(r.id, { ...r, read_at: now });
    for (const r of finished) if (!this.runs.has(r.id)) this.runs.set(r.id, r);
    this.cursor = cursor;
    this.changed();
  }

  /** A `runs.get` reading: the daemon's whole view of the run, unless events already moved past it. */
  setRun(json: RunJson, now = Date.now()): void {
    const cur = this.runs.get(json.id);
    if (cur && (cur.seq ?? 0) > (json.seq ?? 0)) {
      // events newer than this reading were applied: keep them, take the figures only events lack
      Object.assign(cur, { progress: json.progress, usage: json.usage, params: json.params, created_at: json.created_at, read_at: now, partial: false });
    } else {
      this.runs.set(json.id, { ...json, read_at: now });
      if (json.notifications) this.notes.set(json.id, json.notifications.slice(-20));
    }
    this.changed();
  }

  apply(item: WatchItem): void {
    if (item.cursor <= this.cursor) return;
    this.cursor = item.cursor;
    if (item.topic === 'runs') this.applyRun(item.data);
    else if (item.event === 'notification') this.applyNotification(item.data as unknown as Notification);
    else this.applyDelivery(item.data as { id: string; run_id: string | null; channel: string; delivery: Notification['channels'][string] });
  }

  private applyRun(e: RunEventPush): void {
    let r = this.runs.get(e.run_id);
    if (!r) {
      // a run that started after the snapshot: what the event says now, the rest once read
      const x = e as RunEventPush & { params?: Record<string, unknown> };
      r = {
        id: e.run_id,
        workflow: e.workflow,
        status: e.status,
        params: x.params ?? {},
        created_at: e.at,
        started_at: null,
        ended_at: null,
        current_step: null,
        waiting_for: null,
        steps: [],
        progress: { fraction: null, eta: null },
        usage: { prompt_tokens: 0, completion_tokens: 0, tool_calls: 0 },
        error: null,
        seq: 0,
        read_at: Date.now(),
        partial: true,
      };
      this.runs.set(r.id, r);
      this.stale.add(r.id);
    }
    if (e.seq <= (r.seq ?? 0)) return; // the snapshot or a reading already had it
    r.seq = e.seq;
    r.status = e.status;
    const x = e as RunEventPush & Record<string, unknown>;
    const path = e.step;
    const step = (p: string): RunJson['steps'][number] => {
      let s = r.steps.find((st) => st.id === p);
      if (!s) r.steps.push((s = { id: p, status: 'running', attempts: 0, started_at: null, ended_at: null, output: null, error: null }));
      return s;
    };
    switch (e.type) {
      case 'run.started':
        r.started_at ??= e.at;
        break;
      case 'step.started': {
        const s = step(path!);
        Object.assign(s, { status: 'running', attempts: Number(x.attempt ?? s.attempts + 1), started_at: s.started_at && x.rerun ? s.started_at : e.at, ended_at: null, error: null });
        const top = topOf(path!);
        if (r.current_step !== top) this.stale.add(r.id); // new stage: progress and ETA change
        r.current_step = top;
        break;
      }
      case 'step.succeeded':
        Object.assign(step(path!), { status: 'succeeded', ended_at: e.at, error: null, output: this.open === r.id ? x.output : null });
        if (isTop(path!)) this.stale.add(r.id);
        break;
      case 'step.skipped':
        Object.assign(step(path!), { status: 'skipped', ended_at: e.at });
        break;
      case 'step.failed':
        Object.assign(step(path!), { status: x.retry_at ? 'retrying' : 'failed', ended_at: e.at, error: String(x.error ?? '') });
        if (x.retry_at) r.waiting_for = { kind: 'retry', step: path!, until: String(x.retry_at) };
        break;
      case 'step.waiting':
        step(path!).status = 'waiting';
        r.waiting_for = (x.waiting_for as RunJson['waiting_for']) ?? null;
        break;
      case 'repeat.iteration': {
        const w = r.progress.watch;
        if (w) {
          w.checks = Number(x.index) + 1;
          w.next_check = (x.next_at as string | null) ?? null;
          const out = x.output as Record<string, { slo?: { met?: boolean } } | null> | null;
          if (out && Object.values(out).some((v) => v?.slo?.met === false)) w.breaches++;
        }
        if (this.open === r.id) this.stale.add(r.id);
        break;
      }
      case 'timer.fired':
      case 'approval.answered':
      case 'input.answered':
      case 'wait.timed_out':
        r.waiting_for = null;
        if (path && e.type !== 'timer.fired') {
          const failed = e.type === 'wait.timed_out' || (e.type === 'approval.answered' && x.decision === 'rejected' && x.fail_on_reject);
          Object.assign(step(path), { status: failed ? 'failed' : 'succeeded', ended_at: e.at });
        }
        break;
      case 'run.pause_requested':
        r.pause_requested = true;
        r.pause_reason = (x.reason as string) ?? null;
        break;
      case 'run.paused':
        r.pause_requested = false;
        break;
      case 'run.resumed':
        r.pause_requested = false;
        r.pause_reason = null;
        break;
      case 'run.succeeded':
      case 'run.failed':
      case 'run.cancelled':
        r.ended_at = e.at;
        r.waiting_for = null;
        r.pause_requested = false;
        r.error = e.type === 'run.failed' ? String(x.error ?? '') : null;
        r.progress = { fraction: e.type === 'run.succeeded' ? 1 : null, eta: null };
        // what was in flight did not finish (as the daemon's run JSON says)
        for (const s of r.steps) if (!['succeeded', 'failed', 'skipped'].includes(s.status)) s.status = e.type === 'run.cancelled' ? 'cancelled' : 'failed';
        this.trimFinished();
        break;
      default:
        break;
    }
    this.pushLog(r.id, { kind: 'event', at: e.at, event: e });
    this.changed();
  }

  private applyNotification(n: Notification): void {
    this.lastNotification = n;
    if (n.run_id) {
      const list = this.notes.get(n.run_id) ?? [];
      if (!list.some((m) => m.id === n.id)) list.push(n);
      this.notes.set(n.run_id, list.slice(-20));
      this.pushLog(n.run_id, { kind: 'notification', at: n.at, notification: n });
    }
    this.changed();
  }

  private applyDelivery(d: { id: string; run_id: string | null; channel: string; delivery: Notification['channels'][string] }): void {
    const n = d.run_id ? this.notes.get(d.run_id)?.find((m) => m.id === d.id) : undefined;
    if (!n) return;
    n.channels = { ...n.channels, [d.channel]: d.delivery };
    this.changed();
  }

  private pushLog(id: string, line: LogLine): void {
    let log = this.logs.get(id);
    if (!log) this.logs.set(id, (log = []));
    log.push(line);
    const keep = this.open === id ? LOG_KEEP : LOG_KEEP_CLOSED;
    if (log.length > keep) log.splice(0, log.length - keep);
  }

  private trimFinished(): void {
    const finished = [...this.runs.values()].filter((r) => TERMINAL.has(r.status));
    if (finished.length <= FINISHED_KEEP) return;
    finished.sort((a, b) => (a.ended_at ?? '').localeCompare(b.ended_at ?? ''));
    for (const r of finished.slice(0, finished.length - FINISHED_KEEP)) {
      this.runs.delete(r.id);
      this.logs.delete(r.id);
      this.notes.delete(r.id);
    }
  }

  /** An opened run's history as read from the daemon, merged with what arrived meanwhile. */
  setHistory(id: string, events: RunEventPush[], notifications: Notification[]): void {
    const lines: LogLine[] = [...events.map((e): LogLine => ({ kind: 'event', at: e.at, event: e })), ...notifications.map((n): LogLine => ({ kind: 'notification', at: n.at, notification: n }))];
    const seen = new Set(lines.map((l) => (l.event ? `e${l.event.seq}` : `n${l.notification!.id}`)));
    for (const l of this.logs.get(id) ?? []) if (!seen.has(l.event ? `e${l.event.seq}` : `n${l.notification!.id}`)) lines.push(l);
    lines.sort((a, b) => a.at.localeCompare(b.at) || (a.event?.seq ?? 0) - (b.event?.seq ?? 0));
    this.logs.set(id, lines.slice(-LOG_KEEP));
    this.notes.set(id, notifications.slice(-20));
    this.changed();
  }

  logOf(id: string): readonly LogLine[] {
    return this.logs.get(id) ?? [];
  }

  notificationsOf(id: string): readonly Notification[] {
    return this.notes.get(id) ?? [];
  }

  /** Runs as listed (see rank). */
  list(filter = ''): RunView[] {
    const f = filter.toLowerCase();
    const all = [...this.runs.values()].filter(
      (r) => !f || r.id.includes(f) || r.workflow.toLowerCase().includes(f) || r.status.includes(f) || (r.current_step ?? '').toLowerCase().includes(f),
    );
    // ISO times and ids compare as plain strings (localeCompare would cost a frame with 1,000 runs)
    const cmp = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
    return all.sort((a, b) => rank(a) - rank(b) || cmp(b.created_at, a.created_at) || cmp(a.id, b.id));
  }

  counts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const r of this.runs.values()) c[r.status] = (c[r.status] ?? 0) + 1;
    return c;
  }
}
