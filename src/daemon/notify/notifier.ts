import type { ChannelStatus, Notification, Result } from '../../protocol/index.js';
import type { Workflow } from '../../workflows/schema.js';
import type { Logger } from 'pino';
import type { CompiledConfig } from '../../config/load.js';
import type { RunJson } from '../../protocol/index.js';
import type { Bus } from '../bus.js';
import type { Service } from '../context.js';
import type { Feed } from '../feed.js';
import type { OutboxRepo } from '../repos/outbox.js';
import type { RunsRepo } from '../repos/runs.js';
import type { KvStore } from '../store/kv.js';
import type { WatchItem } from '../../protocol/index.js';
import type { StoreOp } from '../store/store.js';
import { notificationId, outboxOps } from '../repos/outbox.js';
import type { RunEvent, RunRecord } from '../engine/types.js';
import { DesktopChannel, desktopCommand, hasDesktopSession } from './channels/desktop.js';
import { TerminalChannel } from './channels/terminal.js';
import { WebhookChannel, type WebhookDeps } from './channels/webhook.js';
import { SecretMasker } from '../llm/redact.js';
import { serviceOf } from '../memory/summary.js';
import { draftsFor } from './policy.js';
import type { Channel, DeliveryResult, Draft } from './types.js';

/** A notification text is capped: a 1 MB notify text must not become 1 MB in every channel and frame. */
export const MAX_TEXT = 8 * 1024;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 5 * 60_000;
/** A channel that keeps answering "retry" for this long is given up on (the entry stays in the inbox). */
const GIVE_UP_MS = 24 * 3_600_000;
const TERMINAL_EVENTS = new Set(['run.succeeded', 'run.failed', 'run.cancelled']);

/**
 * The PagerDuty incident of a run's failure: per workflow and service, not per run, so that the
 * next successful run of the same workflow on the same service (the condition recovered) resolves
 * it, and repeated failures land in one incident.
 */
export function failureKey(run: { workflow: string; params: Record<string, unknown> }): string {
  return `opstream:${run.workflow}:${serviceOf(run.params, run.workflow)}`.slice(0, 255);
}

/** One delivery lane of one channel (most channels have one; Slack has one per Slack channel). */
interface Queue {
  channel: Channel;
  lane: string;
  ids: string[];
  running: boolean;
  wake: (() => void) | null;
  controller: AbortController | null;
}

export interface Prepared {
  entries: Notification[];
  ops: StoreOp[];
  feed: { cursor: number; item: WatchItem }[];
  /** Per draft with an explicit channel request (a notify step): the channels it was queued to. */
  routed: string[][];
}

/** A run as every screen shows it (the engine's `get`). */
export interface RunView {
  get(id: string): Promise<RunJson>;
}

/** What the notifier uses: its repository (and the active runs' ids), the feed its rows go through, the store's health. */
export interface NotifierDeps {
  log: Logger;
  bus: Bus;
  config: Pick<CompiledConfig, 'notify' | 'secrets'>;
  store: Pick<KvStore, 'commit' | 'unwritable' | 'onWritable'>;
  outbox: OutboxRepo;
  runs: Pick<RunsRepo, 'activeIds'>;
  feed: Pick<Feed, 'prepare' | 'commit'>;
  /** Team mode: this member (the pending index names who delivers); null solo. */
  team: { executorId: string } | null;
}

/**
 * The notifier: decides what to tell whom (policy.ts), writes each notification to the durable
 * outbox in the same batch as the run change that caused it, and delivers it through channels.
 *
 * Delivery contract: per channel lane, one attempt at a time, entries in the order they were
 * queued; an entry that must be retried backs off on its own and the others go on in order of
 * their readiness (unless the channel keeps them behind it: Channel.orderKey). A permanent failure
 * ends that entry on that channel at once, visibly. A channel's answer is recorded before the next
 * entry (at least once: a crash between a delivery and its record delivers again, with the same
 * idempotency key). A slow or broken channel holds up only itself. An entry is `sent` on a
 * channel only after that channel confirmed it.
 */
export class Notifier implements Service {
  readonly name = 'notifier';
  private readonly channels = new Map<string, Channel>();
  /** By channel name + lane. */
  private readonly queues = new Map<string, Queue>();
  /** Entries with at least one pending channel, shared by every channel's loop (one object per id). */
  private readonly live = new Map<string, Notification>();
  /**
   * Entries whose batch is being written. The engine's in-memory run is ahead of the store by that
   * much, so `status` (run from memory) lists them too rather than a run waiting with no question.
   */
  private readonly preparing = new Map<string, Notification>();
  /** PagerDuty hooks -> incident keys (run ids, failureKey) they triggered and not yet resolved. */
  private readonly pdOpen = new Map<string, Set<string>>();
  private readonly wants = new WeakMap<Workflow, ReadonlySet<string>>();
  private seq = 0;
  private stopping = false;
  private readonly loops = new Set<Promise<void>>();
  private readonly recording = new Set<Promise<unknown>>();
  readonly figures = { delivered: 0, retried: 0, failed: 0 };

  private runView: RunView | null = null;

  constructor(private readonly d: NotifierDeps) {}

  /**
   * How a Teams card reads the run it is about. Attached once the engine exists: the engine is
   * built after the notifier, whose ops go into the engine's run commits (`prepare`).
   */
  attachRunView(view: RunView): void {
    this.runView = view;
  }

  /** Adds a channel (Slack registers itself here); entries routed to it before are not re-routed. */
  register(channel: Channel): void {
    this.channels.set(channel.name, channel);
  }

  /** The lane queue an entry goes to on `channel` (created on first use). */
  private queueFor(channel: Channel, entry: Notification): Queue {
    const lane = channel.laneOf?.(entry) ?? '';
    const key = `${channel.name}\u0000${lane}`;
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = { channel, lane, ids: [], running: false, wake: null, controller: null }));
    return q;
  }

  channelNames(): string[] {
    return [...this.channels.keys()];
  }

  async start(): Promise<void> {
    const d = this.d;
    const cfg = d.config.notify;
    this.register(new TerminalChannel(d.bus));
    const cmd = desktopCommand(process.env);
    if (cfg.desktop === 'on' || (cfg.desktop === 'auto' && hasDesktopSession(process.env) && cmd)) this.register(new DesktopChannel(cmd));
    const masker = new SecretMasker(d.config.secrets);
    // Teams cards show the run as every screen does; read when the card is sent
    const deps: WebhookDeps = { runView: (id) => (this.runView ? this.runView.get(id) : Promise.reject(new Error('notifier: no run view attached'))), mask: (t) => masker.text(t).text };
    for (const hook of cfg.webhooks) {
      this.register(new WebhookChannel(hook, deps));
      if (hook.format === 'pagerduty') this.pdOpen.set(hook.name, new Set());
    }
    for (const [hook, key] of await d.outbox.pdOpen()) this.pdOpen.get(hook)?.add(key);
    // everything not yet confirmed, in order, per channel: the pending index names them, so a
    // start reads the undelivered entries only, not every notification kept
    await d.outbox.indexPending();
    let pending = 0;
    // team mode: the pending index is the team's; each host delivers its runs' notifications
    // (`adopt` as it takes a run), never another live member's
    const ids = d.team ? [] : (await d.outbox.pending()).map(([id]) => id);
    for (const id of ids) {
      const entry = await d.outbox.get(id);
      if (!entry) {
        await d.store.commit([outboxOps.notPending(id)]);
        continue;
      }
      let any = false;
      for (const [name, st] of Object.entries(entry.channels)) {
        if (st.state !== 'pending') continue;
        const channel = this.channels.get(name);
        if (!channel) {
          // a channel that is no longer configured: say so rather than keep it pending forever
          st.state = 'failed';
          st.last_error = `channel ${name} is not configured any more`;
          await d.store.commit([outboxOps.put(entry), ...this.pendingOps(entry)]);
          continue;
        }
        this.queueFor(channel, entry).ids.push(entry.id);
        any = true;
      }
      if (any) {
        this.live.set(entry.id, entry);
        pending++;
      }
    }
    for (const q of this.queues.values()) this.kick(q);
    d.log.info({ channels: this.channelNames(), pending }, 'notifier started');
  }

  /** The entry leaves the pending index once no channel is pending (ops for the batch that records it). */
  private pendingOps(entry: Notification): StoreOp[] {
    return Object.values(entry.channels).some((c) => c.state === 'pending') ? [] : [outboxOps.notPending(entry.id)];
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const q of this.queues.values()) {
      q.controller?.abort();
      q.wake?.();
    }
    await Promise.allSettled([...this.loops]);
    await Promise.allSettled([...this.recording]);
    for (const c of this.channels.values()) await c.close?.().catch(() => undefined);
  }

  // ---------------------------------------------------------------- writing

  private wantsOf(def: Workflow | undefined): ReadonlySet<string> {
    if (!def) return new Set();
    let w = this.wants.get(def);
    if (!w) this.wants.set(def, (w = new Set(def.notifications ?? [])));
    return w;
  }

  /**
   * Called by the engine while it builds a run's commit: the notifications these events call for
   * (plus `extra`, a notify step's), routed, as ops for the same batch. Nothing is delivered until
   * `committed` is called with the result, after the batch is durable.
   */
  prepare(run: RunRecord, def: Workflow | undefined, evs: RunEvent[], extra: Draft[] = []): Prepared {
    const drafts: Draft[] = [];
    for (const ev of evs) drafts.push(...draftsFor(run, def, ev, this.wantsOf(def)));
    drafts.push(...extra);
    const out: Prepared = { entries: [], ops: [], feed: [], routed: [] };
    const ended = evs.some((e) => TERMINAL_EVENTS.has(e.type));
    const resolved = new Set<string>();
    for (const d of drafts) {
      const channels = this.route(d, run, resolved);
      if (d.kind === 'notify') out.routed.push(channels);
      this.addEntry(out, d, run, channels);
    }
    if (ended && run.status !== 'failed') this.resolveIncidents(out, run, resolved);
    out.ops.push(...this.drainOps());
    return out;
  }

  /** A notification not tied to a run event (e.g. `opstream notify test`), committed on its own. */
  async send(d: Draft, run: { id: string; workflow: string; actor?: string } | null = null): Promise<Notification> {
    const out: Prepared = { entries: [], ops: [], feed: [], routed: [] };
    const channels = this.route(d, null, new Set(), run ? { id: run.id, workflow: run.workflow, actor: run.actor ?? '' } : null);
    this.addEntry(out, d, run, channels);
    out.ops.push(...this.drainOps());
    await this.commitPrepared(out);
    return out.entries[0];
  }

  async commitPrepared(p: Prepared): Promise<void> {
    try {
      await this.d.feed.commit(p.ops, p.feed);
    } catch (e) {
      this.abandon(p);
      throw e;
    }
    this.committed(p);
  }

  private addEntry(out: Prepared, d: Draft, run: { id: string; workflow: string } | null, channels: string[]): void {
    const at = new Date().toISOString();
    const id = notificationId(Date.now(), ++this.seq, run?.id ?? null);
    const text = d.text.length > MAX_TEXT ? `${d.text.slice(0, MAX_TEXT)}\n[… ${d.text.length - MAX_TEXT} more characters cut; the full text is in the run's events]` : d.text;
    const entry: Notification = {
      id,
      at,
      run_id: run?.id ?? null,
      workflow: run?.workflow ?? null,
      step: d.step ?? null,
      kind: d.kind,
      level: d.level,
      title: d.title.length > 300 ? `${d.title.slice(0, 300)}…` : d.title,
      text,
      channels: Object.fromEntries(channels.map((c) => [c, { state: 'pending', attempts: 0, sent_at: null, receipt: null, last_error: null, next_at: null }])),
      data: d.data ?? {},
    };
    out.entries.push(entry);
    this.preparing.set(id, entry);
    out.ops.push(outboxOps.put(entry));
    // team mode: the pending index names the daemon delivering it (adoptFrom, when it dies)
    if (channels.length) out.ops.push(outboxOps.pending(id, this.d.team?.executorId ?? 1));
    if (run) out.ops.push(outboxOps.ofRun(run.id, id));
    const f = this.d.feed.prepare({ topic: 'notifications', event: 'notification', ref: id, data: entry });
    out.ops.push(f.op);
    out.feed.push({ cursor: f.cursor, item: f.item });
  }

  /**
   * A run that ended without failing: its own incidents still open are resolved (it finished its
   * checks; a person cancelling it is handling it), and a succeeded run also resolves the incident
   * of an earlier FAILED run of the same workflow and service. A failed run resolves nothing: the
   * failure is the condition, and the page must stay until something recovers.
   */
  private resolveIncidents(out: Prepared, run: RunRecord, resolved: Set<string>): void {
    const keys = [run.id, ...(run.status === 'succeeded' ? [failureKey(run)] : [])];
    for (const key of keys) {
      const hooks = [...this.pdOpen].filter(([hook, open]) => open.has(key) && !resolved.has(`${hook}\u0000${key}`)).map(([hook]) => hook);
      if (!hooks.length) continue;
      for (const hook of hooks) {
        this.pdOpen.get(hook)!.delete(key);
        out.ops.push(outboxOps.pdClosed(hook, key));
      }
      const text = key === run.id ? `The run ${run.status}; its incident is resolved.` : `${run.workflow} on ${serviceOf(run.params, run.workflow)} succeeded again (run ${run.id}); the incident of its earlier failure is resolved.`;
      this.addEntry(out, { kind: 'completion', level: 'info', title: `${run.workflow} ${run.id} ${run.status}`, text, data: { pagerduty: 'resolve', pagerduty_key: key } }, run, hooks);
    }
  }

  /**
   * Which channels get a notification. The inbox (terminal) always does. A notify step's `channel`
   * names one target (terminal, desktop, a webhook, or a destination a channel claims through
   * `accept`, such as a Slack channel; `critical` is claimed where a channel knows it and also
   * takes the default route); anything else (a Slack channel while Slack is not set up)
   * falls back to the default route: the desktop, every webhook whose `levels` take this level and
   * every channel whose `accept` takes it. Approvals and input requests count as critical.
   */
  private route(d: Draft, run: RunRecord | null, resolved: Set<string>, ref: { id: string; workflow: string; actor: string } | null = null): string[] {
    const out = ['terminal'];
    const level = d.kind === 'approval' || d.kind === 'input' ? 'critical' : d.level;
    const explicit = d.channel && d.channel !== 'default' ? d.channel : null;
    const who = run ? { id: run.id, workflow: run.workflow, actor: run.actor } : ref;
    // an answer in a conversation goes only where the conversation is (the channel that claims it)
    if (d.kind === 'reply') return [...this.channels.values()].filter((c) => c.accept?.(d, who, explicit)).map((c) => c.name);
    if (explicit === 'terminal') return out;
    if (explicit && this.channels.has(explicit)) {
      out.push(explicit);
      if (this.pdOpen.has(explicit)) this.pagerDuty(d, run, explicit, level, resolved, true);
      return out;
    }
    let claimed: string[] = [];
    if (explicit) {
      claimed = [...this.channels.values()].filter((c) => c.accept?.(d, who, explicit)).map((c) => c.name);
      // `critical` names a role, not one place: the channels that know a critical destination
      // (Slack's critical channel) take it there, and the default route (desktop, webhooks,
      // PagerDuty) gets it as well
      if (claimed.length && explicit !== 'critical') return [...out, ...claimed];
    }
    if (this.channels.has('desktop')) out.push('desktop');
    for (const hook of this.d.config.notify.webhooks) {
      if (!this.channels.has(hook.name)) continue;
      if (hook.format === 'pagerduty') {
        if (this.pagerDuty(d, run, hook.name, level, resolved, hook.levels?.includes(level) ?? level === 'critical')) out.push(hook.name);
      } else if (!hook.levels || hook.levels.includes(level)) out.push(hook.name);
    }
    for (const c of this.channels.values()) if (claimed.includes(c.name) || c.accept?.(d, who, null)) out.push(c.name);
    return out;
  }

  /**
   * PagerDuty: a critical one triggers an incident (a run's failure under failureKey, anything
   * else under the run id) and opens it; a recovery check of the same run (an info notify step)
   * resolves the run's incident. The failure itself never resolves anything.
   */
  private pagerDuty(d: Draft, run: RunRecord | null, hook: string, level: string, resolved: Set<string>, takes: boolean): boolean {
    const open = this.pdOpen.get(hook)!;
    if (takes && level === 'critical') {
      const key = run ? (d.kind === 'error' ? failureKey(run) : run.id) : null;
      d.data = { ...d.data, pagerduty: 'trigger', ...(key ? { pagerduty_key: key } : {}) };
      if (key && !open.has(key)) {
        open.add(key);
        this.pendingPdOps.push(outboxOps.pdOpen(hook, key));
      }
      return true;
    }
    if (run && d.kind === 'notify' && d.level === 'info' && open.has(run.id)) {
      d.data = { ...d.data, pagerduty: 'resolve', pagerduty_key: run.id };
      open.delete(run.id);
      resolved.add(`${hook}\u0000${run.id}`);
      this.pendingPdOps.push(outboxOps.pdClosed(hook, run.id));
      return true;
    }
    return false;
  }

  private pendingPdOps: StoreOp[] = [];

  /** Takes the PagerDuty bookkeeping ops that routing produced (they go in the same batch). */
  drainOps(): StoreOp[] {
    const ops = this.pendingPdOps;
    this.pendingPdOps = [];
    return ops;
  }

  /** After the batch holding `p` is durable: hand the entries to their channels. */
  committed(p: Prepared): void {
    for (const e of p.entries) {
      this.preparing.delete(e.id);
      this.live.set(e.id, e);
      for (const name of Object.keys(e.channels)) {
        const channel = this.channels.get(name);
        if (!channel) continue;
        const q = this.queueFor(channel, e);
        q.ids.push(e.id);
        this.kick(q);
      }
    }
  }

  private adopting: Set<string> | null = null;

  /**
   * Team mode: runs this daemon took over from a member that died. Their notifications that member
   * had not delivered yet are delivered from here (its own queues died with it); runs taken over
   * together are looked up in one read of the pending index.
   */
  adopt(runId: string): void {
    if (this.adopting) {
      this.adopting.add(runId);
      return;
    }
    const runs = (this.adopting = new Set([runId]));
    setImmediate(() => {
      this.adopting = null;
      void this.takePending(() => true, () => (e) => e.run_id !== null && runs.has(e.run_id)).then(
        (n) => n && this.d.log.info({ notifications: n, runs: runs.size }, 'delivering notifications of runs taken over'),
        (err) => this.d.log.warn({ err, runs: runs.size }, 'resuming notifications of runs taken over failed'),
      );
    });
  }

  /**
   * Team mode: a member died and this daemon took it over. What it was delivering for runs that no
   * longer have a host (they ended there, or notifications of no run) is delivered from here; what
   * belongs to its unfinished runs goes with each run to whichever member hosts it now (`adopt`).
   */
  async adoptFrom(executor: string): Promise<void> {
    await this.adoptWhere((by) => by === executor, executor);
  }

  /**
   * Team mode, on the daemon elected to lead the `notifier` singleton: pending notifications no
   * live member delivers (copied from a solo home by `team migrate`, or left by a member that was
   * taken over while none of its version ran) are delivered from here.
   */
  async adoptOrphans(live: ReadonlySet<string>): Promise<void> {
    await this.adoptWhere((by) => typeof by !== 'string' || !live.has(by), 'no live member');
  }

  /** What `orphaned` names, but for unfinished runs: those go with the run to its host (`adopt`). */
  private async adoptWhere(orphaned: (by: unknown) => boolean, from: string): Promise<void> {
    const n = await this.takePending(orphaned, async () => {
      const active = new Set(await this.d.runs.activeIds());
      return (e) => !(e.run_id && active.has(e.run_id));
    });
    if (n) this.d.log.info({ notifications: n, from }, 'delivering notifications no live member delivers');
  }

  /**
   * Team mode: takes over the pending notifications whose deliverer (the pending index's value)
   * `by` picks and whose entry the filter `keeper` makes (only when there are any) keeps: the index
   * names this daemon from then on (if it dies too, the next survivor takes them), and they join
   * this daemon's queues. How many were taken.
   */
  private async takePending(by: (executor: unknown) => boolean, keeper: () => ((e: Notification) => boolean) | Promise<(e: Notification) => boolean>): Promise<number> {
    const outbox = this.d.outbox;
    const ids = (await outbox.pending()).filter(([id, v]) => by(v) && !this.live.has(id) && !this.preparing.has(id)).map(([id]) => id);
    if (!ids.length) return 0;
    const keep = await keeper();
    const entries = (await outbox.getMany(ids)).filter((e): e is Notification => e !== undefined && keep(e));
    if (!entries.length) return 0;
    await this.d.store.commit(entries.map((e) => outboxOps.pending(e.id, this.d.team?.executorId ?? 1)));
    let n = 0;
    for (const entry of entries) {
      if (this.live.has(entry.id)) continue;
      let any = false;
      for (const [name, st] of Object.entries(entry.channels)) {
        const channel = this.channels.get(name);
        if (st.state !== 'pending' || !channel) continue;
        this.queueFor(channel, entry).ids.push(entry.id);
        any = true;
      }
      if (any) {
        this.live.set(entry.id, entry);
        n++;
      }
    }
    for (const q of this.queues.values()) if (q.ids.length) this.kick(q);
    return n;
  }

  /** The batch holding `p` failed: its entries never existed. */
  abandon(p: Prepared): void {
    for (const e of p.entries) this.preparing.delete(e.id);
  }

  // ---------------------------------------------------------------- delivering

  private kick(q: Queue): void {
    if (q.running) {
      q.wake?.();
      return;
    }
    if (this.stopping || q.ids.length === 0) return;
    const loop = this.loop(q).catch((err) => this.d.log.error({ err, channel: q.channel.name, lane: q.lane }, 'notification channel loop failed'));
    this.loops.add(loop);
    void loop.finally(() => this.loops.delete(loop));
  }

  /**
   * The entry this lane delivers next: the first one in queue order that is due and not held up by
   * an earlier entry of its order key (see Channel.orderKey). Without one due: how long until the
   * soonest becomes due. Entries no longer pending leave the queue here.
   */
  private next(q: Queue): { entry: Notification; st: Notification['channels'][string] } | { waitMs: number } | null {
    const now = Date.now();
    const held = new Set<string>();
    let soonest = Infinity;
    for (let i = 0; i < q.ids.length; i++) {
      const entry = this.live.get(q.ids[i]);
      const st = entry?.channels[q.channel.name];
      if (!entry || !st || st.state !== 'pending') {
        // shift() at the head is O(1) in V8 (a drain of thousands takes entries from there)
        if (i === 0) q.ids.shift();
        else q.ids.splice(i, 1);
        i--;
        continue;
      }
      const key = q.channel.orderKey?.(entry) ?? '';
      if (held.has(key)) continue;
      held.add(key);
      const due = st.next_at ? Date.parse(st.next_at) : 0;
      if (due <= now) return { entry, st };
      soonest = Math.min(soonest, due);
    }
    return soonest === Infinity ? null : { waitMs: soonest - now };
  }

  private async loop(q: Queue): Promise<void> {
    q.running = true;
    try {
      while (!this.stopping) {
        const pick = this.next(q);
        if (!pick) break;
        if ('waitMs' in pick) {
          await this.sleep(q, pick.waitMs);
          continue;
        }
        const { entry, st } = pick;
        const result = await this.attempt(q, entry);
        if (this.stopping && result.kind === 'retry') break;
        // The state changes now. For a channel whose receivers drop repeats by idempotency key, its
        // commit is not awaited before the next delivery (commits keep their order and share an
        // fsync): a crash before it is durable delivers that entry again, with the same key. A
        // channel without such a key (Slack, the desktop) waits for the record, so a crash repeats
        // at most the one entry in flight.
        const recorded = this.record(entry, q.channel, result).catch((err) => this.d.log.error({ err, notification: entry.id }, 'recording a delivery failed'));
        this.recording.add(recorded);
        void recorded.finally(() => this.recording.delete(recorded));
        if (!q.channel.idempotent) await recorded;
        if (st.state !== 'pending') {
          if (q.ids[0] === entry.id) q.ids.shift();
          else {
            const at = q.ids.indexOf(entry.id);
            if (at >= 0) q.ids.splice(at, 1);
          }
          if (!Object.values(entry.channels).some((c) => c.state === 'pending')) this.live.delete(entry.id);
        }
      }
    } finally {
      q.running = false;
      q.wake = null;
    }
    if (!this.stopping && q.ids.length > 0) this.kick(q);
  }

  private sleep(q: Queue, ms: number): Promise<void> {
    return new Promise((resolve) => {
      // setTimeout fires at once past 2^31 ms; a longer wait just looks again then
      const t = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
      function done(): void {
        clearTimeout(t);
        q.wake = null;
        resolve();
      }
      // a new entry may be ready while the others wait out their backoff; stop ends the wait too
      q.wake = done;
    });
  }

  private async attempt(q: Queue, entry: Notification): Promise<DeliveryResult> {
    const controller = new AbortController();
    q.controller = controller;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<DeliveryResult>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve({ kind: 'retry', error: `no answer within ${Math.round(q.channel.timeoutMs / 100) / 10}s` });
      }, q.channel.timeoutMs);
    });
    try {
      return await Promise.race([q.channel.deliver(entry, controller.signal), timeout]);
    } catch (e) {
      return { kind: 'retry', error: `channel error: ${(e as Error).message}` };
    } finally {
      clearTimeout(timer);
      q.controller = null;
    }
  }

  private async record(entry: Notification, channel: Channel, result: DeliveryResult): Promise<void> {
    const st = entry.channels[channel.name];
    const now = Date.now();
    st.attempts += 1;
    if (result.kind === 'delivered') {
      Object.assign(st, { state: 'sent', sent_at: new Date(now).toISOString(), receipt: result.receipt, next_at: null });
      this.figures.delivered++;
    } else {
      st.last_error = result.error;
      const tooMany = channel.maxAttempts !== undefined && st.attempts >= channel.maxAttempts;
      const tooLong = now - Date.parse(entry.at) > GIVE_UP_MS;
      if (result.kind === 'failed' || tooMany || tooLong) {
        st.state = 'failed';
        st.next_at = null;
        if (result.kind === 'retry') st.last_error = `${result.error} (gave up after ${st.attempts} attempt${st.attempts === 1 ? '' : 's'})`;
        this.figures.failed++;
        this.d.log.warn({ notification: entry.id, channel: channel.name, run: entry.run_id, error: st.last_error }, 'notification delivery failed');
      } else {
        const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (st.attempts - 1));
        st.next_at = new Date(now + Math.max(backoff, result.afterMs ?? 0)).toISOString();
        this.figures.retried++;
        this.d.log.info({ notification: entry.id, channel: channel.name, error: result.error, next_at: st.next_at }, 'notification delivery will be retried');
      }
    }
    const data = { id: entry.id, run_id: entry.run_id, channel: channel.name, delivery: { ...st } };
    // a full disk does not lose the record of a delivery: it is written once the store can write
    // again (a stop before that delivers the entry again after the restart, with the same key)
    for (;;) {
      const f = this.d.feed.prepare({ topic: 'notifications', event: 'delivery', data });
      try {
        await this.d.feed.commit([outboxOps.put(entry), ...this.pendingOps(entry), f.op], [f]);
        break;
      } catch (e) {
        if ((e as { code?: unknown }).code !== 'store_unwritable' || this.stopping) throw e;
        await this.untilWritable();
        if (this.stopping) throw e;
      }
    }
    this.d.bus.publish('notifications', 'delivery', data);
  }

  /** Resolves when the store can write again, or when the notifier stops. */
  private untilWritable(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.d.store.unwritable) return resolve();
      const off = this.d.store.onWritable(done);
      const poll = setInterval(() => this.stopping && done(), 200);
      function done(): void {
        off();
        clearInterval(poll);
        resolve();
      }
    });
  }

  // ---------------------------------------------------------------- reading

  async list(p: { run?: string; before?: string; limit: number }): Promise<Result<'notifications.list'>> {
    const outbox = this.d.outbox;
    if (p.run) {
      const items: Notification[] = [];
      for (const id of await outbox.idsOfRun(p.run, p.limit, p.before)) {
        const e = this.live.get(id) ?? (await outbox.get(id));
        if (e) items.push(e);
      }
      const ids = new Set(items.map((e) => e.id));
      for (const e of this.preparing.values()) if (e.run_id === p.run && !ids.has(e.id)) items.unshift(e);
      return { items: items.reverse() };
    }
    const rows = await outbox.newest(p.limit, p.before);
    return { items: rows.map((e) => this.live.get(e.id) ?? e).reverse() };
  }

  /**
   * `opstream notify status`: per channel, what is pending or being retried (from the live queues)
   * and, over the newest `window` notifications, how many were sent or failed and the newest
   * problem with its reason. A bounded read: the outbox may hold a month of notifications.
   */
  async status(window: number): Promise<Result<'notifications.status'>> {
    const rows = await this.d.outbox.newest(window);
    const byId = new Map(rows.map((e) => [e.id, this.live.get(e.id) ?? e]));
    for (const e of this.live.values()) byId.set(e.id, e);
    const out = new Map<string, ChannelStatus>();
    const of = (name: string): ChannelStatus => {
      let c = out.get(name);
      if (!c) {
        const d = this.channels.get(name)?.describe?.() ?? { kind: name === 'slack' ? 'slack' : 'unknown', target: null };
        out.set(name, (c = { name, kind: d.kind, target: d.target, pending: 0, retrying: 0, next_at: null, sent: 0, failed: 0, last_sent_at: null, last_problem: null }));
      }
      return c;
    };
    for (const name of this.channels.keys()) of(name);
    // newest first, so the first problem seen per channel is its newest
    for (const e of [...byId.values()].sort((a, b) => b.id.localeCompare(a.id))) {
      for (const [name, st] of Object.entries(e.channels)) {
        const c = of(name);
        if (st.state === 'sent') {
          c.sent++;
          if (st.sent_at && (!c.last_sent_at || st.sent_at > c.last_sent_at)) c.last_sent_at = st.sent_at;
          continue;
        }
        if (st.state === 'failed') c.failed++;
        else {
          c.pending++;
          if (st.attempts > 0) c.retrying++;
          if (st.next_at && (!c.next_at || st.next_at < c.next_at)) c.next_at = st.next_at;
        }
        if (!c.last_problem && st.last_error) c.last_problem = { id: e.id, at: e.at, state: st.state, attempts: st.attempts, error: st.last_error };
      }
    }
    return { window, channels: [...out.values()] };
  }

  /** Backlog per channel, for status and stats. */
  backlog(): Record<string, number> {
    const out: Record<string, number> = Object.fromEntries([...this.channels.keys()].map((n) => [n, 0]));
    for (const q of this.queues.values()) out[q.channel.name] += q.ids.length;
    return out;
  }

  // ---------------------------------------------------------------- retention

  /** Retention removed these entries (store/retention.ts): they are not delivered any more. */
  forget(ids: Iterable<string>): void {
    for (const id of ids) this.live.delete(id);
  }
}
