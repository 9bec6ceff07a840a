import { DiscordAPIError, Routes, type REST } from 'discord.js';
import type { Logger } from 'pino';
import { findAnalysis } from '../../ops-server/analysis/find.js';
import type { RunJson, WatchItem } from '../../protocol/index.js';
import { worstCharted } from '../../ui/report.js';
import { seriesPng } from '../chat/chart.js';
import { runCard } from '../chat/view.js';
import type { DaemonContext } from '../context.js';
import { cardMessage } from './render.js';

/** Where a run shows in Discord: its card (a message in the channel, edited in place) and the thread under it. */
export interface RunThread {
  run: string;
  channel: string;
  message: string;
  thread: string;
  /** The completion was posted in the thread (not again after a restart). */
  ended?: boolean;
}

const key = (run: string): string => `discord_thread:${run}`;

/** Discord's "Unknown Channel": the configured channel was deleted or the bot cannot see it. */
export function isUnknownChannel(e: unknown): boolean {
  return e instanceof DiscordAPIError && (e.code === 10003 || e.status === 404);
}

/**
 * Run threads: a card per run in `discord.channel`, a public thread under it for what happens, the
 * card edited in place as the run moves. Edits are coalesced per run (one in flight, the latest state
 * sent next, at most one per `intervalMs`), and discord.js's REST queues them per rate-limit bucket,
 * so a chatty run never causes a storm of 429s.
 */
export class DiscordThreads {
  private readonly byRun = new Map<string, RunThread>();
  private readonly busy = new Map<string, { dirty: boolean; last: number }>();
  private readonly creating = new Map<string, Promise<RunThread | null>>();
  private stopping = false;
  /** Event time -> edit answered, per edit, for the benchmark. */
  readonly editLatencies: number[] = [];
  private readonly pendingSince = new Map<string, number>();
  private readonly lastEdit = new Map<string, number>();

  constructor(
    private readonly ctx: () => DaemonContext,
    private readonly rest: () => REST,
    private readonly channel: string,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  async load(): Promise<void> {
    for (const [, v] of await this.ctx().store.entries<RunThread>('meta', { gte: key(''), lt: `${key('')}\uffff` })) this.byRun.set(v.run, v);
  }

  get(run: string): RunThread | undefined {
    return this.byRun.get(run);
  }

  /**
   * The card and thread for a run about to start (`title`) or that needs people: posted before the run
   * starts when started from Discord, so an unknown channel refuses the start instead of leaving a
   * run nobody can follow there. Throws Discord's error (the caller says what it means).
   */
  async open(title: string): Promise<{ message: string; thread: string }> {
    const rest = this.rest();
    const msg = (await rest.post(Routes.channelMessages(this.channel), { body: { content: '', embeds: [{ title, description: 'Starting…', color: 0x3b82f6 }], allowed_mentions: { parse: [] } } })) as { id: string };
    const th = (await rest.post(Routes.threads(this.channel, msg.id), { body: { name: title.slice(0, 100), auto_archive_duration: 1440 } })) as { id: string };
    return { message: msg.id, thread: th.id };
  }

  async bind(run: string, at: { message: string; thread: string }): Promise<void> {
    const t: RunThread = { run, channel: this.channel, ...at };
    this.byRun.set(run, t);
    await this.ctx().store.commit([{ type: 'put', sub: 'meta', key: key(run), value: t }]);
    this.schedule(run);
  }

  /** Runs started elsewhere get a thread when they need people here (an approval). */
  private async adopt(run: string, workflow: string): Promise<RunThread | null> {
    const inflight = this.creating.get(run);
    if (inflight) return inflight;
    const p = (async () => {
      try {
        const at = await this.open(`${workflow} ${run}`);
        await this.bind(run, at);
        const t = this.byRun.get(run) ?? null;
        // the wait that brought it here happened before it had a thread: asked now
        const json = await this.ctx().engine.get(run);
        if (t && json.waiting_for?.kind === 'approval') await this.tell(t, { type: 'step.waiting', step: json.waiting_for.step, waiting_for: json.waiting_for });
        return t;
      } catch (e) {
        this.log.error({ run, channel: this.channel, error: describeError(e) }, isUnknownChannel(e) ? 'discord: the run channel is unknown to Discord (deleted, or the bot cannot see it); fix discord.channel' : 'discord: could not open a run thread');
        return null;
      } finally {
        this.creating.delete(run);
      }
    })();
    this.creating.set(run, p);
    return p;
  }

  onFeed(item: WatchItem): void {
    if (item.topic !== 'runs' || this.stopping) return;
    const ev = item.data as { run_id: string; type: string; workflow?: string; waiting_for?: { kind?: string } };
    const t = this.byRun.get(ev.run_id);
    if (t) {
      if (!this.pendingSince.has(ev.run_id)) this.pendingSince.set(ev.run_id, Date.now());
      this.schedule(ev.run_id);
      void this.tell(t, item.data as unknown as Record<string, unknown>).catch((e: unknown) => this.log.warn({ run: t.run, error: describeError(e) }, 'discord: could not post in a run thread'));
      return;
    }
    if (ev.type === 'step.waiting' && ev.waiting_for?.kind === 'approval') {
      void this.ctx()
        .engine.get(ev.run_id)
        .then((r) => this.adopt(r.id, r.workflow))
        .catch((err: unknown) => this.log.warn({ err: describeError(err) }, 'discord: could not adopt a run'));
    }
  }

  /**
   * What happens in a run, as replies in its thread: an approval asked for and how it was answered,
   * and the end (its summary, with the chart of the worst series as a PNG when the run analysed one).
   */
  private async tell(t: RunThread, ev: Record<string, unknown>): Promise<void> {
    const post = (body: Record<string, unknown>, files?: { name: string; data: Buffer; contentType: string }[]) =>
      this.rest().post(Routes.channelMessages(t.thread), { body: { allowed_mentions: { parse: [] }, ...body }, ...(files ? { files } : {}) });
    const type = String(ev.type);
    if (type === 'step.waiting' && (ev.waiting_for as { kind?: string } | undefined)?.kind === 'approval') {
      const w = ev.waiting_for as { prompt?: string };
      await post({ content: `Approval needed at ${String(ev.step)}: ${w.prompt ?? 'go ahead?'} (Approve or Reject on the card above, or \`/opstream approve run:${t.run}\`)` });
    } else if (type === 'approval.answered') {
      await post({ content: `${ev.decision === 'approved' ? 'Approved' : 'Rejected'} by ${String(ev.by)}${ev.comment ? ` (${String(ev.comment).slice(0, 300)})` : ''}.` });
    } else if ((type === 'run.succeeded' || type === 'run.failed' || type === 'run.cancelled') && !t.ended) {
      const run = await this.ctx().engine.get(t.run);
      await this.completion(t, run, post);
      t.ended = true;
      await this.ctx().store.commit([{ type: 'put', sub: 'meta', key: key(t.run), value: t }]);
    }
  }

  private async completion(t: RunThread, run: RunJson, post: (body: Record<string, unknown>, files?: { name: string; data: Buffer; contentType: string }[]) => Promise<unknown>): Promise<void> {
    const analysis = findAnalysis(run.steps)?.analysis ?? null;
    const lines = [`${run.workflow} ${run.id} ${run.outcome ?? run.status}.`];
    if (run.error) lines.push(`Error: ${run.error}`);
    if (analysis) {
      lines.push(analysis.summary.headline);
      for (const f of analysis.findings.slice(0, 5)) lines.push(`• [${f.severity}] ${f.title}`);
    }
    const worst = analysis ? worstCharted(analysis) : undefined;
    let files: { name: string; data: Buffer; contentType: string }[] | undefined;
    if (worst?.series) {
      try {
        files = [{ name: `${t.run}-chart.png`, data: await seriesPng(worst.series, `${worst.series.metric} of ${worst.series.label} (${worst.series.unit})`, { threshold: worst.threshold }), contentType: 'image/png' }];
      } catch (e) {
        this.log.warn({ run: t.run, error: describeError(e) }, 'discord: could not draw the chart');
      }
    }
    await post({ content: lines.join('\n').slice(0, 2000), ...(files ? { attachments: [{ id: 0, filename: files[0].name, description: 'the worst series of the run' }] } : {}) }, files);
  }

  /** One edit in flight per run; the latest state goes next. */
  schedule(run: string): void {
    const b = this.busy.get(run);
    if (b) {
      b.dirty = true;
      return;
    }
    const state = { dirty: false, last: 0 };
    this.busy.set(run, state);
    void this.flush(run, state);
  }

  private async flush(run: string, state: { dirty: boolean; last: number }): Promise<void> {
    try {
      for (;;) {
        state.dirty = false;
        const wait = (this.lastEdit.get(run) ?? 0) + this.intervalMs - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait).unref());
        if (this.stopping) return;
        const t = this.byRun.get(run);
        if (!t) return;
        const since = this.pendingSince.get(run);
        this.pendingSince.delete(run);
        const json = await this.ctx().engine.get(run);
        await this.rest().patch(Routes.channelMessage(t.channel, t.message), { body: cardMessage(runCard(json), run) });
        state.last = Date.now();
        this.lastEdit.set(run, state.last);
        if (since !== undefined) this.editLatencies.push(state.last - since);
        if (!state.dirty) return;
      }
    } catch (e) {
      this.log.warn({ run, error: describeError(e) }, 'discord: could not update a run card');
    } finally {
      this.busy.delete(run);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
  }
}

/** An error in one line, never a URL (interaction webhook URLs carry their token). */
export function describeError(e: unknown): string {
  if (e instanceof DiscordAPIError) return `${e.status} ${e.message} (code ${e.code})`;
  return e instanceof Error ? e.message : String(e);
}
