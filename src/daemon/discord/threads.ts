import { DiscordAPIError, Routes, type REST } from 'discord.js';
import type { Logger } from 'pino';
import { findAnalysis } from '../../ops-server/analysis/find.js';
import type { RunJson, WatchItem } from '../../protocol/index.js';
import { worstCharted } from '../../ui/report.js';
import { seriesPng } from '../chat/chart.js';
import { EditCoalescer } from '../chat/coalesce.js';
import { RunThreadIndex } from '../chat/run-threads.js';
import { runCard } from '../chat/view.js';
import type { ChatServices } from '../chat/services.js';
import { cardMessage } from './render.js';
import type { MetaTable } from '../repos/meta-table.js';

/** Where a run shows in Discord: its card (a message in the channel, edited in place) and the thread under it. */
export interface RunThread {
  run: string;
  channel: string;
  message: string;
  thread: string;
  /** The completion was posted in the thread (not again after a restart). */
  ended?: boolean;
  /** The id of that completion message. */
  endMessage?: string;
}


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
  /** run <-> card and thread (chat/run-threads.ts). */
  private readonly index: RunThreadIndex<RunThread>;
  private readonly edits: EditCoalescer;
  private readonly creating = new Map<string, Promise<RunThread>>();
  private readonly finishing = new Map<string, Promise<string>>();
  /** Starts from Discord between opening their card and binding their run (see `hold`). */
  private readonly holds = new Set<Promise<void>>();
  private stopping = false;
  /** Event time -> edit answered, per edit, for the benchmark. */
  readonly editLatencies: number[] = [];
  private readonly pendingSince = new Map<string, number>();

  constructor(
    private readonly services: ChatServices,
    private readonly rest: () => REST,
    private readonly channel: string,
    intervalMs: number,
    private readonly log: Logger,
  ) {
    this.edits = new EditCoalescer(intervalMs, (run) => this.flush(run));
    this.index = new RunThreadIndex<RunThread>(services, () => services.repos.chat.discordThreads as MetaTable<RunThread>, (t) => t.run, (t) => t.thread);
  }

  async load(): Promise<void> {
    await this.index.load();
  }

  get(run: string): RunThread | undefined {
    return this.index.of(run)[0];
  }

  /** The run whose thread `channel` is, if any (a message there is about that run). */
  runOfThread(channel: string): string | undefined {
    return this.index.runOf(channel);
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

  /** Marks a start from Discord in progress until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    const p = new Promise<void>((r) => (release = r));
    this.holds.add(p);
    return () => {
      this.holds.delete(p);
      release();
    };
  }

  async bind(run: string, at: { message: string; thread: string }): Promise<void> {
    const t: RunThread = { run, channel: this.channel, ...at };
    await this.index.save(t);
    this.schedule(run);
  }

  /**
   * The card and thread of a run started elsewhere, opened on its first notification here (the
   * notifier's Discord channel); concurrent callers share one creation. Throws Discord's error, so
   * the delivery says whether to retry (a deleted channel is permanent).
   */
  async ensure(run: string, workflow: string): Promise<RunThread> {
    // a start from Discord binds its run to the card it opened right after the run is written:
    // wait for that, or its first notification would open a second card
    while (!this.index.has(run) && this.holds.size) await Promise.all([...this.holds]);
    const known = this.get(run);
    if (known) return known;
    const inflight = this.creating.get(run);
    if (inflight) return inflight;
    const p = (async () => {
      try {
        const at = await this.open(`${workflow} ${run}`);
        await this.bind(run, at);
        return this.get(run)!;
      } catch (e) {
        this.log.error({ run, channel: this.channel, error: describeError(e) }, isUnknownChannel(e) ? 'discord: the run channel is unknown to Discord (deleted, or the bot cannot see it); fix discord.channel' : 'discord: could not open a run thread');
        throw e;
      } finally {
        this.creating.delete(run);
      }
    })();
    this.creating.set(run, p);
    return p;
  }

  /** A message in the run's thread; its id. */
  async post(t: RunThread, body: Record<string, unknown>, files?: { name: string; data: Buffer; contentType: string }[]): Promise<string> {
    const m = (await this.rest().post(Routes.channelMessages(t.thread), { body: { allowed_mentions: { parse: [] }, ...body }, ...(files ? { files } : {}) })) as { id: string };
    return m.id;
  }

  /**
   * The end of a run in its thread, once: the feed (runs started here) and the notifier (a
   * completion or failure notification) may both ask; one post, and not again after a restart.
   */
  finish(t: RunThread): Promise<string> {
    if (t.ended) return Promise.resolve(t.endMessage ?? t.thread);
    let p = this.finishing.get(t.run);
    if (!p) {
      p = (async () => {
        const run = await this.services.engine.get(t.run);
        const id = await this.completion(t, run);
        t.ended = true;
        t.endMessage = id;
        await this.index.update([t]);
        return id;
      })().finally(() => this.finishing.delete(t.run));
      this.finishing.set(t.run, p);
    }
    return p;
  }

  /**
   * Run events of runs that have a thread: the card is edited, decisions and the end are told in
   * the thread. Approvals, input requests and other notifications come through the notifier's
   * Discord channel (channel.ts), durably, which also opens the thread of a run started elsewhere.
   */
  onFeed(item: WatchItem): void {
    if (item.topic !== 'runs' || this.stopping) return;
    const ev = item.data as { run_id: string; type: string };
    const t = this.get(ev.run_id);
    if (!t) return;
    if (!this.pendingSince.has(ev.run_id)) this.pendingSince.set(ev.run_id, Date.now());
    this.schedule(ev.run_id);
    void this.tell(t, item.data as unknown as Record<string, unknown>).catch((e: unknown) => this.log.warn({ run: t.run, error: describeError(e) }, 'discord: could not post in a run thread'));
  }

  private async tell(t: RunThread, ev: Record<string, unknown>): Promise<void> {
    const type = String(ev.type);
    if (type === 'approval.answered') {
      await this.post(t, { content: `${ev.decision === 'approved' ? 'Approved' : 'Rejected'} by ${String(ev.by)}${ev.comment ? ` (${String(ev.comment).slice(0, 300)})` : ''}.` });
    } else if (type === 'run.succeeded' || type === 'run.failed' || type === 'run.cancelled') {
      await this.finish(t);
    }
  }

  /** The end of a run (its summary, with the chart of the worst series as a PNG when the run analysed one); the message id. */
  private async completion(t: RunThread, run: RunJson): Promise<string> {
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
    return this.post(t, { content: lines.join('\n').slice(0, 2000), ...(files ? { attachments: [{ id: 0, filename: files[0].name, description: 'the worst series of the run' }] } : {}) }, files);
  }

  /** One edit in flight per run, at most one per `intervalMs`; the latest state goes next (chat/coalesce.ts). */
  schedule(run: string): void {
    if (!this.stopping) this.edits.schedule(run);
  }

  private async flush(run: string): Promise<null> {
    const t = this.get(run);
    if (!t || this.stopping) return null;
    try {
      const since = this.pendingSince.get(run);
      this.pendingSince.delete(run);
      const json = await this.services.engine.get(run);
      // discord.js's REST queues the edit per rate-limit bucket (a 429 is waited out there)
      await this.rest().patch(Routes.channelMessage(t.channel, t.message), { body: cardMessage(runCard(json), run) });
      if (since !== undefined) this.editLatencies.push(Date.now() - since);
    } catch (e) {
      this.log.warn({ run, error: describeError(e) }, 'discord: could not update a run card');
    }
    return null;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.edits.stop();
  }
}

/** An error in one line, never a URL (interaction webhook URLs carry their token). */
export function describeError(e: unknown): string {
  if (e instanceof DiscordAPIError) return `${e.status} ${e.message} (code ${e.code})`;
  return e instanceof Error ? e.message : String(e);
}
