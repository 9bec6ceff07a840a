import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { isWireError, type Notification, type RunJson, type WatchItem } from '../../protocol/index.js';
import type { ChatServices } from '../chat/services.js';
import { EditCoalescer } from '../chat/coalesce.js';
import { RunThreadIndex } from '../chat/run-threads.js';
import { approvalDecided, inputAnswered, runHeader, type ApprovalRef } from './blocks.js';
import { classify } from './web.js';
import { waitOutcome, type WaitOutcome } from '../chat/approvals.js';
import { chatIds } from '../repos/chat-state.js';
import type { MetaTable } from '../repos/meta-table.js';

/**
 * Run threads: one Slack thread per run and destination, whose top message (the start message)
 * is edited in place as the run goes on, plus the approval and input requests posted in them.
 *
 * Everything needed to edit a message later is stored (meta sublevel), so after a restart the
 * same messages are edited, and a button clicked on a message posted before it still works.
 *   slack_thread:<run>:<target>  -> ThreadRef       the start message of a run in one destination
 *   slack_ts:<channel>:<ts>      -> run id           thread replies find their run
 *   slack_wait:<run>:<seq>       -> WaitMessage      an approval/input request message
 */

export interface ThreadRef {
  run: string;
  /** As configured or chosen ('#ops-alerts', 'C0123', 'U0123' for a DM). */
  target: string;
  /** Slack channel id the message is in. */
  channel: string;
  ts: string;
  /** Slack user who started the run, if one did. */
  by: string | null;
  /** The header shows the run's end: no more edits. */
  final: boolean;
}

export interface WaitMessage {
  run: string;
  kind: 'approval' | 'input';
  step: string;
  seq: number;
  channel: string;
  ts: string;
  /** The notification it was posted for (its data renders the decided message). */
  notification: Pick<Notification, 'workflow' | 'run_id' | 'data' | 'text'>;
  open: boolean;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

export class RunThreads {
  /** run <-> start messages (chat/run-threads.ts). */
  private readonly index: RunThreadIndex<ThreadRef>;
  private readonly waits = new Map<string, WaitMessage[]>();
  private readonly edits: EditCoalescer;
  private stopping = false;
  /** Figures for the benchmark: chat.update calls made, and the ones Slack rate limited. */
  readonly figures = { updates: 0, rateLimited: 0 };

  constructor(
    private readonly services: ChatServices,
    private readonly web: WebClient,
    private readonly log: Logger,
    intervalMs: number,
  ) {
    this.edits = new EditCoalescer(intervalMs, (run) => this.flush(run));
    this.index = new RunThreadIndex<ThreadRef>(services, () => services.repos.chat.slackThreads as MetaTable<ThreadRef>, (t) => chatIds.slackThread(t.run, t.target), (t) => `${t.channel}:${t.ts}`, (a, b) => a.target === b.target);
  }

  async load(): Promise<void> {
    await this.index.load();
    for (const [, w] of (await this.services.repos.chat.slackWaits.entries()) as [string, WaitMessage][]) {
      if (!w.open) continue;
      const list = this.waits.get(w.run) ?? [];
      list.push(w);
      this.waits.set(w.run, list);
    }
  }

  /** The run whose thread this message (or reply parent) is, if any. */
  async runOf(channel: string, ts: string): Promise<string | undefined> {
    const hit = this.index.runOf(`${channel}:${ts}`);
    if (hit) return hit;
    return this.services.repos.chat.slackTs.get(chatIds.slackTs(channel, ts));
  }

  threadFor(run: string, target: string): ThreadRef | undefined {
    return this.index.of(run).find((t) => t.target === target);
  }

  threadsOf(run: string): ThreadRef[] {
    return this.index.of(run);
  }

  /**
   * Posts the run's start message in `target` and stores where it is, before anything is posted
   * in its thread. Throws the Web API error (the caller's delivery answers retry or failed).
   */
  async create(run: RunJson, target: string, by: string | null): Promise<ThreadRef> {
    const msg = runHeader(run, { by, headline: true, controls: true });
    const res = await this.web.chat.postMessage({ channel: target, text: msg.text, blocks: msg.blocks as never, unfurl_links: false });
    const t: ThreadRef = { run: run.id, target, channel: String(res.channel), ts: String(res.ts), by, final: TERMINAL.has(run.status) };
    await this.index.save(t, [this.services.repos.chat.slackTs.putOp(chatIds.slackTs(t.channel, t.ts), run.id)]);
    return t;
  }

  async recordWait(w: WaitMessage): Promise<void> {
    await this.services.store.commit([this.services.repos.chat.slackWaits.putOp(chatIds.slackWait(w.run, w.seq), w)]);
    const list = this.waits.get(w.run) ?? [];
    list.push(w);
    this.waits.set(w.run, list);
  }

  /** Open approval/input messages of a run (for the digest's buttons and for tests). */
  openWaits(run: string): WaitMessage[] {
    return this.waits.get(run) ?? [];
  }

  // ---------------------------------------------------------------- live updates

  /** Every durable run event: edit the run's start message (coalesced) and settle answered requests. */
  onFeed(item: WatchItem): void {
    if (item.topic !== 'runs' || this.stopping) return;
    const ev = item.data;
    if (this.index.has(ev.run_id)) this.schedule(ev.run_id);
    const waits = this.waits.get(ev.run_id);
    if (!waits?.length) return;
    const step = typeof ev.step === 'string' ? ev.step : undefined;
    const e = ev as unknown as { decision?: string; by?: string; comment?: string; text?: string; at: string };
    if (ev.type === 'approval.answered' || ev.type === 'input.answered' || ev.type === 'wait.timed_out') {
      for (const w of waits.filter((x) => x.open && x.step === step && x.seq < ev.seq)) {
        const how = ev.type === 'approval.answered'
          ? { decision: e.decision ?? 'approved', by: e.by ?? '?', at: e.at, comment: e.comment ?? null }
          : ev.type === 'input.answered'
            ? { decision: 'answered', by: e.by ?? '?', at: e.at, comment: e.text ?? null }
            : { decision: 'expired', by: 'timeout', at: e.at, comment: 'no answer in time' };
        void this.settleWait(w, how);
      }
    } else if (TERMINAL.has(ev.type.replace('run.', ''))) {
      for (const w of waits.filter((x) => x.open)) void this.settleWait(w, { decision: 'closed', by: 'run', at: ev.at, comment: `the run ${ev.status}` });
    }
  }

  /** Edits an approval/input request to show how it ended; stored as settled once Slack took the edit. */
  async settleWait(w: WaitMessage, how: { decision: string; by: string; at: string; comment: string | null }): Promise<void> {
    if (!w.open) return;
    w.open = false;
    const ref: ApprovalRef = { r: w.run, s: w.step, q: w.seq };
    const msg = w.kind === 'approval'
      ? approvalDecided(w.notification, ref, how)
      : inputAnswered(w.notification, how.decision === 'answered' ? { by: how.by, at: how.at, text: how.comment } : { by: how.by, at: how.at, closed: how.decision === 'expired' ? 'Expired' : `Closed (${how.comment ?? ''})` });
    try {
      await this.web.chat.update({ channel: w.channel, ts: w.ts, text: msg.text, blocks: msg.blocks as never });
      await this.services.store.commit([this.services.repos.chat.slackWaits.putOp(chatIds.slackWait(w.run, w.seq), w)]);
      const rest = (this.waits.get(w.run) ?? []).filter((x) => x !== w);
      if (rest.length) this.waits.set(w.run, rest);
      else this.waits.delete(w.run);
    } catch (e) {
      // left open: the next restart's reconcile (or a later event) edits it again
      w.open = true;
      const f = classify(e, 'chat.update');
      this.log.warn({ run: w.run, step: w.step, error: f.error }, 'slack: could not mark a request as answered');
    }
  }

  /** Edits the start message(s) of `run` now or as soon as `intervalMs` allows; only the latest state is sent (chat/coalesce.ts). */
  schedule(run: string): void {
    if (!this.stopping) this.edits.schedule(run);
  }

  /** One edit of each start message of `run` that is not final; how long to wait when Slack asked to. */
  private async flush(run: string): Promise<{ retryAfterMs: number } | null> {
    const threads = this.index.of(run).filter((t) => !t.final);
    if (threads.length === 0) return null;
    let again: { retryAfterMs: number } | null = null;
    try {
      const json = await this.services.engine.get(run);
      const final = TERMINAL.has(json.status);
      for (const t of threads) {
        const msg = runHeader(json, { by: t.by, headline: true, controls: true });
        try {
          await this.web.chat.update({ channel: t.channel, ts: t.ts, text: msg.text, blocks: msg.blocks as never });
          this.figures.updates++;
          if (final) {
            t.final = true;
            await this.index.update([t]);
          }
        } catch (e) {
          const f = classify(e, 'chat.update');
          if (f.kind === 'retry') {
            if (f.afterMs) this.figures.rateLimited++;
            again = { retryAfterMs: f.afterMs ?? 2000 };
          } else {
            this.log.warn({ run, channel: t.channel, error: f.error }, 'slack: cannot edit the run\'s start message; no more edits to it');
            t.final = true;
          }
        }
      }
    } catch (e) {
      if (isWireError(e) && e.code === 'not_found') {
        // removed by retention: its start message keeps its last state
        for (const t of threads) t.final = true;
        await this.index.update(threads).catch(() => undefined);
      } else this.log.warn({ err: e, run }, 'slack: could not read the run to edit its thread');
    }
    return again;
  }

  /**
   * After a start: start messages of runs that moved on while the daemon was down are brought up
   * to date, and requests answered meanwhile (by the CLI, a timeout) show it.
   */
  async reconcile(): Promise<void> {
    for (const [run, threads] of this.index.runs()) if (threads.some((t) => !t.final)) this.schedule(run);
    const engine = this.services.engine;
    for (const [run, waits] of [...this.waits]) {
      let json: RunJson;
      try {
        json = await engine.get(run);
      } catch {
        continue;
      }
      for (const w of waits) {
        const decided = await this.answerOf(run, w.step, w.seq);
        const stillWaiting = json.waiting_for?.step === w.step && json.waiting_for.kind === w.kind && !TERMINAL.has(json.status);
        if (decided) await this.settleWait(w, decided);
        else if (!stillWaiting) await this.settleWait(w, { decision: 'closed', by: 'run', at: json.ended_at ?? new Date().toISOString(), comment: `no longer waiting (the run is ${json.status})` });
      }
    }
  }

  /** How the wait opened at `seq` for `step` ended (chat/approvals.ts); null while still open. */
  answerOf(run: string, step: string, seq: number): Promise<WaitOutcome | null> {
    return waitOutcome(this.services, run, step, seq);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.edits.stop();
  }
}
