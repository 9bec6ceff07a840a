import { DaemonClient, type ConnectOptions } from '../../client/client.js';
import { isWireError } from '../../protocol/wire-error.js';
import type { RunEventPush, RunJson, WatchItem } from '../../protocol/index.js';
import type { RunRecord } from '../../protocol/run-state.js';
import { DashboardModel } from './model.js';

export type ConnectionState =
  | { kind: 'connecting' }
  | { kind: 'connected'; pid: number; version: string }
  | { kind: 'reconnecting'; since: number; reason: string; attempt: number };

export interface FeedOptions {
  env?: NodeJS.ProcessEnv;
  /** Start the daemon for the first connection when none runs (like any CLI command). */
  autoStart?: boolean;
  /** Shortest time between two announced changes (ms). */
  frameMs?: number;
}

/**
 * Feeds a DashboardModel from the daemon: `runs.watch` (a snapshot of run states + cursor, then
 * pushed events, which the model applies with the shared reducer), the user's actions, and the reconnect after the
 * daemon went away: it retries with the last cursor it applied, so nothing is missed or repeated,
 * and says so (`notice`). It never polls the whole list.
 */
export class DashboardFeed {
  readonly model = new DashboardModel();
  state: ConnectionState = { kind: 'connecting' };
  /** The last thing worth telling the user (a reconnect, an action's result); with its time. */
  notice: { text: string; level: 'info' | 'error'; at: number } | null = null;
  private client: DaemonClient | null = null;
  private readonly listeners = new Set<() => void>();
  private closed = false;
  private connecting: Promise<void> | null = null;

  constructor(private readonly opts: FeedOptions = {}) {}

  /** Called after changes, at most `frameMs` apart (the UI re-renders then). */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private lastEmit = 0;
  private emitTimer: NodeJS.Timeout | null = null;

  /**
   * Changes are announced at most once a frame: at 200 events/s, re-rendering for each one would
   * spend the CPU on frames nobody sees. The first change after a quiet spell goes out at once.
   */
  private emit(): void {
    if (this.emitTimer) return;
    const frame = this.opts.frameMs ?? 33;
    const wait = Math.max(0, this.lastEmit + frame - performance.now());
    this.emitTimer = setTimeout(() => {
      this.emitTimer = null;
      this.lastEmit = performance.now();
      for (const fn of this.listeners) fn();
    }, wait);
  }

  say(text: string, level: 'info' | 'error' = 'info'): void {
    this.notice = { text, level, at: Date.now() };
    this.model.version++;
    this.emit();
  }

  async start(): Promise<void> {
    await this.connect(true);
  }

  private connect(first: boolean): Promise<void> {
    this.connecting ??= this.connectLoop(first).finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async connectLoop(first: boolean): Promise<void> {
    let attempt = 0;
    const since = Date.now();
    for (;;) {
      if (this.closed) return;
      try {
        const c = await DaemonClient.connect({ env: this.opts.env, client: 'tui', autoStart: first && (this.opts.autoStart ?? true), startTimeoutMs: 20_000 } satisfies ConnectOptions);
        await this.attach(c, first);
        return;
      } catch (e) {
        if (first && attempt === 0 && !this.isTransient(e)) throw e;
        attempt++;
        const reason = (e as Error).message;
        this.state = { kind: 'reconnecting', since, reason, attempt };
        this.model.version++;
        this.emit();
        await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** Math.min(attempt, 4))));
      }
    }
  }

  private isTransient(e: unknown): boolean {
    return /not running|cannot reach|closed|ECONNREFUSED|ENOENT/.test((e as Error)?.message ?? '');
  }

  private async attach(c: DaemonClient, first: boolean): Promise<void> {
    const m = this.model;
    const resumeFrom = first ? undefined : m.cursor;
    const before = m.cursor;
    let res;
    try {
      res = await c.watch({ cursor: resumeFrom, snapshot: first, states: true }, (item) => this.onItem(item), () => void this.lost(c, 'the daemon ended the watch'));
    } catch (e) {
      // the daemon's feed no longer reaches back to our cursor (or was reset): start afresh
      if (!first && isWireError(e) && (e.code === 'cursor_expired' || e.code === 'invalid_params')) {
        res = await c.watch({ snapshot: true, states: true }, (item) => this.onItem(item), () => void this.lost(c, 'the daemon ended the watch'));
        m.snapshot((res.states ?? []) as unknown as RunRecord[], res.cursor);
        this.say(`reconnected to the daemon (pid ${c.hello.pid}); its feed had moved on, so the list was read afresh`);
      } else {
        c.close();
        throw e;
      }
    }
    this.client = c;
    this.state = { kind: 'connected', pid: c.hello.pid, version: c.hello.version };
    if (first) m.snapshot((res.states ?? []) as unknown as RunRecord[], res.cursor);
    else if (!this.notice || !/afresh/.test(this.notice.text)) {
      this.say(`reconnected to the daemon (pid ${c.hello.pid}) from cursor ${resumeFrom}; ${Math.max(0, m.cursor - before)} missed update(s) applied`);
    }
    void c.closed.then(() => this.lost(c, 'the connection to the daemon closed'));
    this.emit();
  }

  private async lost(c: DaemonClient, reason: string): Promise<void> {
    if (this.client !== c || this.closed) return;
    this.client = null;
    c.close();
    this.state = { kind: 'reconnecting', since: Date.now(), reason, attempt: 0 };
    this.say(`${reason}; reconnecting from cursor ${this.model.cursor}…`, 'error');
    await this.connect(false);
  }

  private onItem(item: WatchItem): void {
    this.model.apply(item);
    this.emit();
  }

  /** Marks a run as the open one and reads its history (events and notifications). */
  async open(id: string | null): Promise<void> {
    const m = this.model;
    m.open = id;
    this.emit();
    if (!id || !this.client) return;
    const c = this.client;
    try {
      const run = m.stateOf(id);
      const after = Math.max(0, (run?.seq ?? 0) - 300);
      const [json, ev] = await Promise.all([c.request('runs.get', { id }), c.request('runs.events', { id, after, limit: 300 })]);
      m.setRun(json);
      m.setHistory(id, ev.events.map((e) => ({ ...e, status: json.status, workflow: json.workflow }) as RunEventPush), json.notifications ?? []);
    } catch (e) {
      this.say((e as Error).message, 'error');
    }
    this.emit();
  }

  /** Runs one action against the daemon; its outcome (or its error, as the daemon words it) is the notice. */
  async act(what: string, fn: (c: DaemonClient) => Promise<RunJson>): Promise<void> {
    const c = this.client;
    if (!c) return this.say(`not connected to the daemon; ${what} was not sent`, 'error');
    try {
      const run = await fn(c);
      this.model.setRun(run);
      this.say(`${what}: run ${run.id} is now ${run.status}${run.pause_requested ? ' (pausing at the next step)' : ''}`);
    } catch (e) {
      this.say(`${what} failed: ${(e as Error).message}`, 'error');
    }
  }

  get connected(): DaemonClient | null {
    return this.client;
  }

  close(): void {
    this.closed = true;
    if (this.emitTimer) clearTimeout(this.emitTimer);
    this.client?.close();
    this.client = null;
  }
}
