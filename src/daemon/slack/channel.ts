import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { CompiledSlack } from '../../config/load.js';
import { findAnalysis } from '../../ops-server/analysis/find.js';
import type { AnalyzeOutput } from '../../ops-server/analysis/schema.js';
import type { Notification, RunJson } from '../../protocol/index.js';
import { worstCharted } from '../../ui/report.js';
import type { ChatServices } from '../chat/services.js';
import type { Channel, DeliveryResult, Draft } from '../notify/types.js';
import { approvalDecided, approvalMessage, batchMessage, completionMessage, inputAnswered, inputMessage, noteMessage, plainMessage, type ApprovalRef, type SlackMessage } from './blocks.js';
import { seriesPng } from './chart.js';
import type { PrefsStore } from './prefs.js';
import { FrequencyLimit, quietState, quietText, type QuietHours } from '../chat/quiet.js';
import { digestView, HeldBatches, openApprovals, quietHeading } from '../chat/digest.js';
import type { RunThreads, ThreadRef } from './threads.js';
import { fatalText } from './tokens.js';
import { classify, type CallFailure } from './web.js';
import { chatIds } from '../repos/chat-state.js';
import type { MetaTable } from '../repos/meta-table.js';

/**
 * Where a notification goes inside Slack, decided once when it is written (kept in the entry as
 * `data.slack`, so the inbox shows it and a restart does not re-decide it):
 * - `target`: a configured channel ('#ops-alerts'), a channel id, or a user id for a DM;
 * - `lane`: `now:<target>`, `held:<target>` (quiet hours: one digest when they end) or
 *   `routine:<target>` (max_frequency: merged). Each lane is its own delivery queue in the
 *   notifier, so one rate-limited channel never holds up another.
 */
export interface SlackRoute {
  target: string;
  lane: string;
  /** The Slack user who started the run, if one did. */
  by: string | null;
  dm: boolean;
}

export interface ChannelDeps {
  services: ChatServices;
  cfg: CompiledSlack;
  web: WebClient;
  threads: RunThreads;
  prefs: PrefsStore;
  log: Logger;
  /** Why the bridge cannot deliver at all (refused token), or null. */
  fatal(): string | null;
  onFatal(message: string): void;
}

const ROUTINE = new Set(['milestone', 'notify']);
/** Retry pace while the bridge is stopped (a fixed config needs a daemon restart anyway). */
const FATAL_RETRY_MS = 5 * 60_000;

class CallError extends Error {
  constructor(readonly failure: CallFailure) {
    super(failure.error);
  }
}

/** Progress of a delivery that takes several calls (completion + chart), so a retry does not repeat a post. */
interface Sent {
  channel: string;
  ts: string;
  chart: 'pending' | 'done' | 'none';
}

/**
 * The notifier's Slack channel. Routing and Slack's rules live here, the dispatcher stays generic:
 * run notifications go into the run's thread (its start message is posted first), approvals and
 * input requests come with buttons, completions with a findings table and a chart; quiet hours hold
 * what is not critical for one digest; routine updates are merged past `max_frequency`; posts to
 * one Slack channel are spaced by `post_interval`; a 429 answers `retry` after its Retry-After.
 */
export class SlackChannel implements Channel {
  readonly name = 'slack';
  readonly timeoutMs: number;
  private readonly nextPost = new Map<string, number>();
  /** held:/routine: lanes -> the entries queued in them, for the one digest / merged message (chat/digest.ts). */
  private readonly batches: HeldBatches;
  private readonly freq: FrequencyLimit;
  private readonly creating = new Map<string, Promise<ThreadRef>>();

  constructor(private readonly d: ChannelDeps) {
    this.timeoutMs = 3 * d.cfg.timeoutMs + 5 * d.cfg.postIntervalMs + 30_000;
    this.freq = new FrequencyLimit(d.cfg.maxFrequency);
    this.batches = new HeldBatches(d.services, 'slack');
  }

  // ---------------------------------------------------------------- routing (when written)

  accept(draft: Draft, run: { id: string; workflow: string; actor: string } | null, explicit: string | null): boolean {
    if (this.d.fatal()) return false;
    const by = run?.actor.startsWith('slack:') ? run.actor.slice('slack:'.length) : null;
    if (draft.kind === 'reply') {
      // an answer to someone who just asked: where they asked, now (quiet hours are for what nobody asked for)
      const r = draft.data?.reply as { channel?: string } | undefined;
      if (!r?.channel) return false;
      draft.data = { ...draft.data, slack: { target: r.channel, lane: `now:${r.channel}`, by, dm: /^D/.test(r.channel) } satisfies SlackRoute };
      return true;
    }
    const dest = this.destination(draft, by, explicit);
    if (!dest) return false;
    if (dest.dm && !this.d.prefs.wantsKind(dest.target, draft.kind)) return false;
    let target = dest.target;
    const critical = draft.level === 'critical' && draft.kind !== 'approval' && draft.kind !== 'input';
    const asks = draft.kind === 'approval' || draft.kind === 'input';
    const q = quietState(this.quietFor(dest.target, dest.dm));
    let mode = 'now';
    if (draft.kind === 'test' || critical) mode = 'now';
    else if (q.quiet) {
      // an urgent approval breaks through quiet hours, to where the people on call are
      if (asks && draft.data?.urgent === true) {
        target = this.d.cfg.channels?.critical ?? target;
      } else mode = 'held';
    } else if (ROUTINE.has(draft.kind) && draft.level === 'info' && this.d.cfg.maxFrequency) mode = 'routine';
    const route: SlackRoute = { target, lane: `${mode}:${target}`, by, dm: /^[UW]/.test(target) };
    draft.data = { ...draft.data, slack: route };
    return true;
  }

  /** The configured channel, a named one, or a DM, for this draft. */
  private destination(d: Draft, by: string | null, explicit: string | null): { target: string; dm: boolean } | null {
    const ch = this.d.cfg.channels ?? {};
    const dm = (u: string): { target: string; dm: boolean } => ({ target: u, dm: true });
    if (explicit) {
      if (explicit === 'dm') return by ? dm(by) : ch.default ? { target: ch.default, dm: false } : null;
      if (ch[explicit]) return { target: ch[explicit], dm: false };
      if (/^#[a-z0-9_.-]+$/i.test(explicit) || /^[CG][A-Z0-9]{6,}$/.test(explicit)) return { target: explicit, dm: false };
      if (/^@?[UW][A-Z0-9]{2,}$/.test(explicit)) return dm(explicit.replace(/^@/, ''));
      return null;
    }
    const critical = d.level === 'critical' && d.kind !== 'approval' && d.kind !== 'input';
    if (critical && ch.critical) return { target: ch.critical, dm: false };
    // an urgent approval (an incident's remediation) is asked where its alert went
    if (d.kind === 'approval' && d.data?.urgent === true && ch.critical) return { target: ch.critical, dm: false };
    if (by && this.d.prefs.get(by).deliver === 'dm') return dm(by);
    if (ch.default) return { target: ch.default, dm: false };
    return by ? dm(by) : null;
  }

  private quietFor(target: string, dm: boolean): QuietHours | null {
    return (dm ? this.d.prefs.quiet(target) : null) ?? this.d.cfg.quiet;
  }

  laneOf(entry: Notification): string {
    const route = entry.data.slack as SlackRoute | undefined;
    const lane = route?.lane ?? 'now:?';
    if (!lane.startsWith('now:')) this.batches.add(lane, entry);
    return lane;
  }

  // ---------------------------------------------------------------- delivering

  async deliver(entry: Notification, signal: AbortSignal): Promise<DeliveryResult> {
    const fatal = this.d.fatal();
    if (fatal) return { kind: 'retry', error: `the Slack bridge is stopped: ${fatal}`, afterMs: FATAL_RETRY_MS };
    const route = entry.data.slack as SlackRoute | undefined;
    if (!route) return { kind: 'failed', error: 'no Slack destination was recorded for this notification' };
    const done = await this.batches.receiptOf(entry.id);
    if (done) return { kind: 'delivered', receipt: done };
    try {
      const mode = route.lane.slice(0, route.lane.indexOf(':'));
      if (mode === 'held') return await this.deliverHeld(entry, route, signal);
      if (mode === 'routine') return await this.deliverRoutine(entry, route, signal);
      return { kind: 'delivered', receipt: await this.deliverNow(entry, route, signal) };
    } catch (e) {
      const f = e instanceof CallError ? e.failure : classify(e, 'Slack delivery');
      if (f.kind === 'retry') return { kind: 'retry', error: f.error, afterMs: f.afterMs };
      if (f.fatal) {
        this.d.onFatal(fatalText(f.code ?? 'invalid_auth', 'bot'));
        return { kind: 'retry', error: f.error, afterMs: FATAL_RETRY_MS };
      }
      return { kind: 'failed', error: f.error };
    }
  }

  /** One Web API call, its failure classified with what was being done and where. */
  private async api<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw new CallError(classify(e, what));
    }
  }

  /** Slack allows about one post per second per channel: wait for this target's next slot. */
  private async pace(target: string, signal: AbortSignal): Promise<void> {
    const now = Date.now();
    const slot = Math.max(now, this.nextPost.get(target) ?? 0);
    this.nextPost.set(target, slot + this.d.cfg.postIntervalMs);
    if (slot > now) await sleep(slot - now, signal);
  }

  private async post(target: string, msg: SlackMessage, signal: AbortSignal, extra: { thread_ts?: string; reply_broadcast?: boolean } = {}): Promise<{ channel: string; ts: string }> {
    await this.pace(target, signal);
    const res = await this.api(`chat.postMessage to ${target}`, () => this.d.web.chat.postMessage({ channel: target, text: msg.text, blocks: msg.blocks, unfurl_links: false, ...extra } as never));
    return { channel: String(res.channel), ts: String(res.ts) };
  }

  /** A notification in its run's thread (posting the run's start message first), or on its own. */
  private async deliverNow(entry: Notification, route: SlackRoute, signal: AbortSignal): Promise<string> {
    const target = route.target;
    if (entry.kind === 'reply') {
      const r = entry.data.reply as { thread_ts?: string | null; blocks?: unknown[] | null };
      const m = await this.post(target, { text: entry.text, blocks: (r.blocks ?? undefined) as SlackMessage['blocks'] }, signal, r.thread_ts ? { thread_ts: r.thread_ts } : {});
      return `${m.channel} ${m.ts}`;
    }
    if (!entry.run_id) {
      const m = await this.post(target, plainMessage(entry), signal);
      return `${m.channel} ${m.ts}`;
    }
    let run: RunJson | null = null;
    try {
      run = await this.d.services.engine.get(entry.run_id);
    } catch {
      // a run removed by retention: the notification still goes out, without a thread
    }
    if (!run) {
      const m = await this.post(target, noteMessage(entry), signal);
      return `${m.channel} ${m.ts}`;
    }
    const thread = this.d.threads.threadFor(run.id, target) ?? (await this.startThread(run, target, route.by, signal));
    if (entry.kind === 'start') return `${thread.channel} ${thread.ts}`;
    const inThread = { thread_ts: thread.ts };
    const loud = { ...inThread, reply_broadcast: !route.dm };
    switch (entry.kind) {
      case 'approval':
      case 'input':
        return this.deliverAsk(entry, thread, run, signal, loud);
      case 'completion':
        return this.deliverCompletion(entry, thread, run, signal);
      case 'error': {
        const m = await this.post(target, noteMessage(entry), signal, route.dm ? inThread : loud);
        return `${m.channel} ${m.ts}`;
      }
      default: {
        // a run that reports its findings and then goes on (to ask for a fix, say) shows its chart
        // with that report, not only at the very end
        if (entry.kind === 'notify' && entry.level !== 'info' && entry.step && !/[.[]/.test(entry.step)) return this.deliverCompletion(entry, thread, run, signal, 'note');
        const m = await this.post(target, noteMessage(entry), signal, inThread);
        return `${m.channel} ${m.ts}`;
      }
    }
  }

  /**
   * The run's start message in `target`, posted once: lanes of one destination (now, merged
   * routine updates) may both need it at the same moment.
   */
  private startThread(run: RunJson, target: string, by: string | null, signal: AbortSignal): Promise<ThreadRef> {
    const key = `${run.id}\u0000${target}`;
    let p = this.creating.get(key);
    if (!p) {
      p = (async () => {
        await this.pace(target, signal);
        return this.api(`chat.postMessage to ${target}`, () => this.d.threads.create(run, target, by));
      })().finally(() => this.creating.delete(key));
      this.creating.set(key, p);
    }
    return p;
  }

  /** Approval / input request with buttons; if it was answered before it could be posted, the answer instead. */
  private async deliverAsk(entry: Notification, thread: ThreadRef, run: RunJson, signal: AbortSignal, extra: { thread_ts: string; reply_broadcast: boolean }): Promise<string> {
    const seq = Number(entry.data.wait_seq ?? 0);
    const ref: ApprovalRef = { r: run.id, s: entry.step ?? run.waiting_for?.step ?? '', q: seq };
    const kind = entry.kind as 'approval' | 'input';
    const answered = seq ? await this.d.threads.answerOf(run.id, ref.s, seq) : null;
    const msg = answered
      ? kind === 'approval'
        ? approvalDecided(entry, ref, answered)
        : inputAnswered(entry, { by: answered.by, at: answered.at, text: answered.comment })
      : kind === 'approval'
        ? approvalMessage(entry, ref)
        : inputMessage(entry, ref);
    const m = await this.post(thread.target, msg, signal, extra);
    if (!answered) {
      const wait = { run: run.id, kind, step: ref.s, seq, channel: m.channel, ts: m.ts, notification: { workflow: entry.workflow, run_id: entry.run_id, data: entry.data, text: entry.text }, open: true };
      await this.d.threads.recordWait(wait);
      // answered while it was being posted: its event came before the message was known
      const late = seq ? await this.d.threads.answerOf(run.id, ref.s, seq) : null;
      if (late) await this.d.threads.settleWait(wait, late);
    }
    return `${m.channel} ${m.ts}`;
  }

  /** Summary and findings table, then the chart of the run's worst series as a PNG in the thread. */
  private async deliverCompletion(entry: Notification, thread: ThreadRef, run: RunJson, signal: AbortSignal, mode: 'completion' | 'note' = 'completion'): Promise<string> {
    const store = this.d.services.store;
    const { slackSent, slackCharts } = this.d.services.repos.chat;
    const sentRows = slackSent as MetaTable<Sent>;
    // a run's chart is uploaded once per thread: by its findings notify, or else by its completion
    const chartId = chatIds.chart(run.id, thread.ts);
    let sent = await sentRows.get(entry.id);
    const analysis: AnalyzeOutput | null = findAnalysis(run.steps)?.analysis ?? null;
    const charted = sent ? null : await slackCharts.get(chartId);
    const worst = analysis && !charted && (mode === 'completion' || analysis.summary.bottlenecks > 0) ? worstCharted(analysis) : undefined;
    const chartTitle = worst?.series ? `${worst.series.metric} of ${worst.series.label} (${worst.series.unit})` : null;
    if (!sent) {
      const m = await this.post(thread.target, mode === 'completion' ? completionMessage(entry, run, analysis, chartTitle) : noteMessage(entry), signal, { thread_ts: thread.ts });
      sent = { channel: m.channel, ts: m.ts, chart: worst?.series ? 'pending' : 'none' };
      // recorded before the upload: a retry after a failed upload does not post the summary again
      await store.commit([sentRows.putOp(entry.id, sent)]);
    }
    if (sent.chart === 'pending' && worst?.series && chartTitle) {
      const png = await seriesPng(worst.series, chartTitle, { threshold: worst.threshold });
      await this.pace(thread.target, signal);
      const s = sent;
      await this.api(`files.uploadV2 to ${thread.target}`, () =>
        this.d.web.files.uploadV2({
          channel_id: s.channel,
          thread_ts: thread.ts,
          file: png,
          filename: `${run.id}-${worst.kind}.png`,
          title: chartTitle,
          alt_text: `Chart: ${chartTitle}, ${worst.series?.points.length ?? 0} samples`,
        }),
      );
      sent.chart = 'done';
      await store.commit([sentRows.putOp(entry.id, sent), slackCharts.putOp(chartId, entry.id)]);
    }
    return `${sent.channel} ${sent.ts}${sent.chart === 'done' ? ' +chart' : ''}`;
  }

  /** Quiet hours: wait for their end, then one digest with everything held for this destination. */
  private async deliverHeld(entry: Notification, route: SlackRoute, signal: AbortSignal): Promise<DeliveryResult> {
    const quiet = this.quietFor(route.target, route.dm);
    const q = quietState(quiet);
    if (q.quiet && quiet) {
      return { kind: 'retry', error: `held for quiet hours (${quietText(quiet)}) until ${new Date(q.endsAt).toISOString()}; one digest then`, afterMs: q.endsAt - Date.now() + 250 };
    }
    const entries = this.batches.pending(route.lane, entry);
    const approvals = await openApprovals(this.d.services, entries);
    const m = await this.post(route.target, batchMessage(digestView(entries, quietHeading(entries.length, quiet), approvals)), signal);
    return this.confirmBatch(entries, route.lane, `digest ${m.channel} ${m.ts}`, entry);
  }

  /** max_frequency: at most N routine posts per window here; what comes in between is merged into the next. */
  private async deliverRoutine(entry: Notification, route: SlackRoute, signal: AbortSignal): Promise<DeliveryResult> {
    const wait = this.freq.wait(route.target);
    if (wait > 0) return { kind: 'retry', error: `merged with later routine updates (max_frequency ${this.d.cfg.notifications?.max_frequency}); next one at ${new Date(Date.now() + wait).toISOString()}`, afterMs: wait };
    const entries = this.batches.pending(route.lane, entry);
    this.freq.take(route.target);
    if (entries.length <= 1) {
      this.batches.drop(route.lane, entry.id);
      return { kind: 'delivered', receipt: await this.deliverNow(entry, route, signal) };
    }
    const m = await this.post(route.target, batchMessage(digestView(entries, `${entries.length} updates`, new Map())), signal);
    return this.confirmBatch(entries, route.lane, `merged ${m.channel} ${m.ts}`, entry);
  }

  /** Every entry in the batch is confirmed with its receipt, durably, before the first is reported delivered. */
  private async confirmBatch(entries: Notification[], lane: string, receipt: string, first: Notification): Promise<DeliveryResult> {
    await this.batches.confirm(entries, lane, receipt, first);
    return { kind: 'delivered', receipt };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('aborted'));
    const t = setTimeout(done, ms);
    function done(): void {
      signal.removeEventListener('abort', abort);
      resolve();
    }
    function abort(): void {
      clearTimeout(t);
      reject(new CallError({ kind: 'retry', error: 'stopped while waiting for the channel\'s next posting slot' }));
    }
    signal.addEventListener('abort', abort, { once: true });
  });
}
