import { DiscordAPIError, HTTPError, RateLimitError, Routes, type REST } from 'discord.js';
import type { Notification, RunJson } from '../../protocol/index.js';
import type { ChatServices } from '../chat/services.js';
import { digestView, HeldBatches, openApprovals, quietHeading } from '../chat/digest.js';
import { quietState, quietText, type QuietHours } from '../chat/quiet.js';
import { digestMessage } from './render.js';
import type { Channel, DeliveryResult, Draft } from '../notify/types.js';
import { describeError, isUnknownChannel, type DiscordThreads, type RunThread } from './threads.js';

/** Retry pace while the bridge cannot deliver at all (no token, a token Discord refused): a fixed config needs a restart anyway. */
const FATAL_RETRY_MS = 5 * 60_000;

export interface DiscordChannelDeps {
  services: ChatServices;
  rest(): REST;
  threads: DiscordThreads;
  /** Text channel for run threads and notifications (`discord.channel`). */
  channel: string;
  /** Why the bridge cannot deliver at all, or null. */
  fatal(): string | null;
  /** `discord.notifications.levels` (null: all). */
  levels: readonly string[] | null;
  quiet: QuietHours | null;
}

/** How a notification counts for levels and quiet hours: a person being asked is critical. */
const levelOf = (n: Pick<Draft, 'kind' | 'level'>): string => (n.kind === 'approval' || n.kind === 'input' ? 'critical' : n.level);

/**
 * The notifier's Discord channel: every notification on the default route (what the workflow's
 * `notifications:` asks for, approvals and input requests always) or sent to `discord` by a
 * notify step goes to `discord.channel`, a run's notifications into the run's thread (its card and
 * thread opened on the first one, so a run started from the CLI, Slack or a schedule is followed
 * there too). Through the outbox: an entry is `sent` only once Discord answered 2xx; a 404 (a
 * deleted channel) or another 4xx is permanent; 5xx, network errors and 429 are retried (discord.js
 * waits out a 429's `retry_after` per rate-limit bucket before it answers; if it gives up, the
 * retry waits at least that long).
 */
export class DiscordChannel implements Channel {
  readonly name = 'discord';
  readonly timeoutMs = 60_000;

  /** What quiet hours held back, for the one digest (chat/digest.ts). */
  private readonly held: HeldBatches;

  constructor(private readonly d: DiscordChannelDeps) {
    this.held = new HeldBatches(d.services, 'discord');
  }

  accept(draft: Draft, _run: { id: string; workflow: string; actor: string } | null, explicit: string | null): boolean {
    // answers to a conversation go where it was held (Slack); a notify step naming another place is not for here
    // as for Slack: a bridge that cannot deliver at all (no token, one Discord refused) is not routed to
    if (draft.kind === 'reply' || explicit || this.d.fatal()) return false;
    if (this.d.levels && !this.d.levels.includes(levelOf(draft))) return false;
    // decided once, when written (kept in the entry, so a restart does not re-decide it): what quiet
    // hours hold back goes out as one digest when they end, as in Slack
    if (!this.urgent(draft) && quietState(this.d.quiet).quiet) draft.data = { ...draft.data, discord: { held: true } };
    return true;
  }

  /**
   * Lanes, so that what quiet hours hold back never holds up what breaks through them: critical
   * notifications (failures, approvals, input requests) and tests go now; what came while it was
   * quiet waits in `held` for one digest when quiet hours end; the rest goes in order in `routine`.
   */
  laneOf(entry: Notification): string {
    if (this.urgent(entry)) return 'now';
    if (!isHeld(entry)) return 'routine';
    this.held.add('held', entry);
    return 'held';
  }

  private urgent(entry: Pick<Draft, 'kind' | 'level'>): boolean {
    return entry.kind === 'test' || levelOf(entry) === 'critical';
  }

  describe(): { kind: string; target: string | null } {
    return { kind: 'discord', target: `channel ${this.d.channel}` };
  }

  async deliver(entry: Notification): Promise<DeliveryResult> {
    const fatal = this.d.fatal();
    if (fatal) return { kind: 'retry', error: `the Discord bridge is stopped: ${fatal}`, afterMs: FATAL_RETRY_MS };
    const q = quietState(this.d.quiet);
    const routine = !this.urgent(entry);
    if (q.quiet && routine) return { kind: 'retry', error: `held for quiet hours (${quietText(this.d.quiet!)}) until ${new Date(q.endsAt).toISOString()}${isHeld(entry) ? '; one digest then' : ''}`, afterMs: Math.max(1000, q.endsAt - Date.now() + 250) };
    try {
      if (routine && isHeld(entry)) return await this.digest(entry);
      return { kind: 'delivered', receipt: await this.send(entry) };
    } catch (e) {
      return classify(e);
    }
  }

  /**
   * Quiet hours are over: everything they held back goes to the channel as one message (the first
   * held entry delivered takes them all; the others are confirmed with its receipt).
   */
  private async digest(entry: Notification): Promise<DeliveryResult> {
    const done = await this.held.receiptOf(entry.id);
    if (done) return { kind: 'delivered', receipt: done };
    const entries = this.held.pending('held', entry);
    const view = digestView(entries, quietHeading(entries.length, this.d.quiet), await openApprovals(this.d.services, entries));
    const m = (await this.d.rest().post(Routes.channelMessages(this.d.channel), { body: digestMessage(view) })) as { id: string };
    const receipt = `digest ${this.d.channel} ${m.id}`;
    await this.held.confirm(entries, 'held', receipt, entry);
    return { kind: 'delivered', receipt };
  }

  private async send(entry: Notification): Promise<string> {
    let run: RunJson | null = null;
    if (entry.run_id) run = await this.d.services.engine.get(entry.run_id).catch(() => null);
    if (!run) {
      // not about a run (a test), or a run retention removed: on its own in the channel
      const m = (await this.d.rest().post(Routes.channelMessages(this.d.channel), { body: { content: cut(`**${entry.title}**\n${entry.text}`), allowed_mentions: { parse: [] } } })) as { id: string };
      return `${this.d.channel} ${m.id}`;
    }
    const t = await this.d.threads.ensure(run.id, run.workflow);
    const at = (id: string): string => `${t.thread} ${id}`;
    switch (entry.kind) {
      case 'start':
        return `${t.channel} ${t.message}`;
      case 'completion':
      case 'error':
        return at(await this.d.threads.finish(t));
      case 'approval':
        return at(await this.d.threads.post(t, { content: cut(`Approval needed at ${entry.step ?? '?'}: ${String(entry.data.prompt || 'go ahead?')} (Approve or Reject on the card above, or \`/opstream approve run:${run.id}\`)`) }));
      case 'input':
        return at(await this.d.threads.post(t, { content: cut(`Answer needed at ${entry.step ?? '?'}: ${String(entry.data.prompt || entry.text)} (\`opstream respond ${run.id} "your answer"\`)`) }));
      default:
        return at(await this.note(t, entry));
    }
  }

  private note(t: RunThread, entry: Notification): Promise<string> {
    const mark = entry.level === 'critical' ? '🚨 ' : entry.level === 'warning' ? '⚠️ ' : '';
    return this.d.threads.post(t, { content: cut(`${mark}**${entry.title}**\n${entry.text}`) });
  }
}

/** Written while it was quiet: goes out in the digest. */
const isHeld = (entry: Notification): boolean => (entry.data.discord as { held?: unknown } | undefined)?.held === true;

const cut = (s: string): string => (s.length > 2000 ? `${s.slice(0, 1999)}…` : s);

/** Discord's answer as a delivery result: what may succeed later is retried, the rest is said once. */
export function classify(e: unknown): DeliveryResult {
  if (e instanceof RateLimitError) return { kind: 'retry', error: `rate limited by Discord (${e.route})`, afterMs: e.retryAfter };
  if (e instanceof DiscordAPIError) {
    const error = isUnknownChannel(e) ? `${describeError(e)}: the channel was deleted or the bot cannot see it; fix discord.channel` : describeError(e);
    if (e.status === 408 || e.status === 429 || e.status >= 500) return { kind: 'retry', error };
    return { kind: 'failed', error };
  }
  if (e instanceof HTTPError) return { kind: e.status === 408 || e.status === 429 || e.status >= 500 ? 'retry' : 'failed', error: `${e.status} ${e.message}` } as DeliveryResult;
  // refused connections, resets, timeouts: transient
  return { kind: 'retry', error: `could not reach Discord: ${describeError(e)}` };
}
