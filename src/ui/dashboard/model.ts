import type { Notification, RunEventPush, RunJson, WatchItem } from '../../protocol/index.js';
import type { RunRecord } from '../../protocol/run-state.js';
import { applyEvent, emptyRun, projectRun, type AnyEvent } from '../../protocol/run-view.js';

/**
 * The dashboard's picture of the daemon, kept up to date from `runs.watch` items without asking the
 * daemon again: it holds each run's state as the daemon sent it (the snapshot's `states`) and
 * applies every pushed event with the same reducer the engine runs (protocol/run-view.ts), then
 * shows the same projection `opstream status` prints. It never works a figure out on its own.
 * Plain TypeScript, no React: the components read it, tests drive it.
 */
export interface RunView extends RunJson {
  /** The time the view was projected for (the UI moves time-based progress on from there). */
  read_at: number;
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
function rank(r: Pick<RunRecord, 'status' | 'waiting_for'>): number {
  if (r.status === 'waiting' && (r.waiting_for?.kind === 'approval' || r.waiting_for?.kind === 'input')) return 0;
  if (r.status === 'paused') return 1;
  return TERMINAL.has(r.status) ? 3 : 2;
}
/** A run's log as kept in memory; an opened run reads its whole recent history again. */
const LOG_KEEP = 300;
const LOG_KEEP_CLOSED = 20;
/** Finished runs stay listed (dimmed) so one can see how they ended; at most this many. */
const FINISHED_KEEP = 100;

/** Views of the states, projected when first asked for after a change. */
export class RunViews {
  private readonly cache = new Map<string, RunView>();
  constructor(readonly states: Map<string, RunRecord>) {}
  get(id: string, now = Date.now()): RunView | undefined {
    let v = this.cache.get(id);
    if (v) return v;
    const st = this.states.get(id);
    if (!st) return undefined;
    v = { ...projectRun(st, { now }), read_at: now };
    this.cache.set(id, v);
    return v;
  }
  has(id: string): boolean {
    return this.states.has(id);
  }
  keys(): IterableIterator<string> {
    return this.states.keys();
  }
  *values(now = Date.now()): IterableIterator<RunView> {
    for (const id of this.states.keys()) yield this.get(id, now)!;
  }
  get size(): number {
    return this.states.size;
  }
  /** The run changed: its view is projected again when next asked for. */
  touch(id: string): void {
    this.cache.delete(id);
  }
  clear(): void {
    this.cache.clear();
  }
}

export class DashboardModel {
  private readonly states = new Map<string, RunRecord>();
  readonly runs = new RunViews(this.states);
  private readonly logs = new Map<string, LogLine[]>();
  private readonly notes = new Map<string, Notification[]>();
  /** The last feed cursor applied (resume point after a reconnect). */
  cursor = 0;
  /** Bumped on every change; the UI re-renders when it moves. */
  version = 0;
  /** Open run (its log is kept long). */
  open: string | null = null;
  /** Arrival time of the oldest change not yet on screen (for the lag figure). */
  pendingSince: number | null = null;
  lastNotification: Notification | null = null;

  private changed(): void {
    this.version++;
    this.pendingSince ??= performance.now();
  }

  /** Replaces everything with a `runs.watch` snapshot of states (first connect, or after the cursor expired). */
  snapshot(states: RunRecord[], cursor: number): void {
    const finished = [...this.states.values()].filter((r) => TERMINAL.has(r.status));
    this.states.clear();
    this.runs.clear();
    for (const r of states) this.states.set(r.id, r);
    for (const r of finished) if (!this.states.has(r.id)) this.states.set(r.id, r);
    this.cursor = cursor;
    this.changed();
  }

  /** A run as the daemon answered an action or a read: only its notifications are taken (events carry the rest). */
  setRun(json: RunJson): void {
    if (json.notifications) this.notes.set(json.id, json.notifications.slice(-20));
    this.changed();
  }

  /** The state of a run as kept (tests and the shared-stream check compare it with the daemon's). */
  stateOf(id: string): RunRecord | undefined {
    return this.states.get(id);
  }

  apply(item: WatchItem): void {
    if (item.cursor <= this.cursor) return;
    this.cursor = item.cursor;
    if (item.topic === 'runs') this.applyRun(item.data);
    else if (item.event === 'notification') this.applyNotification(item.data as unknown as Notification);
    else this.applyDelivery(item.data as { id: string; run_id: string | null; channel: string; delivery: Notification['channels'][string] });
  }

  /** Applies one run event with the shared reducer (what the engine did to its record). */
  applyRun(e: RunEventPush): void {
    let r = this.states.get(e.run_id);
    if (!r) {
      // a run that started after the snapshot: its run.created carries params and outline
      r = emptyRun(e.run_id, e.workflow, e.at, e.type === 'run.created' ? (e.params ?? {}) : {});
      this.states.set(r.id, r);
    }
    if (e.seq <= r.seq) return; // the snapshot already had it
    applyEvent(r, e as AnyEvent);
    r.seq = e.seq;
    r.status = e.status;
    this.runs.touch(r.id);
    if (TERMINAL.has(r.status)) this.trimFinished();
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
    const finished = [...this.states.values()].filter((r) => TERMINAL.has(r.status));
    if (finished.length <= FINISHED_KEEP) return;
    finished.sort((a, b) => (a.ended_at ?? '').localeCompare(b.ended_at ?? ''));
    for (const r of finished.slice(0, finished.length - FINISHED_KEEP)) {
      this.states.delete(r.id);
      this.runs.touch(r.id);
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

  /** Runs as listed (see rank): sorted on their states, projected as views. */
  list(filter = '', now = Date.now()): RunView[] {
    const f = filter.toLowerCase();
    const all = [...this.states.values()].filter(
      (r) => !f || r.id.includes(f) || r.workflow.toLowerCase().includes(f) || r.status.includes(f) || (r.current_step ?? '').toLowerCase().includes(f),
    );
    // ISO times and ids compare as plain strings (localeCompare would cost a frame with 1,000 runs)
    const cmp = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
    all.sort((a, b) => rank(a) - rank(b) || cmp(b.created_at, a.created_at) || cmp(a.id, b.id));
    return all.map((r) => this.runs.get(r.id, now)!);
  }

  counts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const r of this.states.values()) c[r.status] = (c[r.status] ?? 0) + 1;
    return c;
  }
}
