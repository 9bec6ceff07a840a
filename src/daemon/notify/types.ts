import type { Notification, NotificationKind, NotificationLevel } from '../../protocol/index.js';

export type { Notification };

/**
 * What a channel answers for one delivery attempt. Only `delivered` marks the entry sent; `retry`
 * (transient: refused connection, 5xx, 408, 429, a timeout) keeps it pending and the dispatcher
 * waits at least `afterMs` before trying THIS entry again; `failed` (permanent: a bad URL or port,
 * a 4xx other than 408/429, a TLS name mismatch, a malformed host) gives up on this entry on this
 * channel at once, with `error` shown in `opstream inbox` and `opstream notify status`.
 */
export type DeliveryResult = { kind: 'delivered'; receipt: string } | { kind: 'retry'; error: string; afterMs?: number } | { kind: 'failed'; error: string };

/**
 * A delivery channel (terminal inbox, desktop, a webhook, later Slack): small on purpose. The
 * dispatcher owns order, retries, timeouts and state; a channel only tries once and says how it went.
 */
export interface Channel {
  readonly name: string;
  /** One attempt; should give up when `signal` aborts (the dispatcher's per-attempt timeout). */
  deliver(entry: Notification, signal: AbortSignal): Promise<DeliveryResult>;
  /** Per attempt; an attempt that runs over is a retryable failure. */
  readonly timeoutMs: number;
  /** Receivers drop repeats by the entry's idempotency key (so a crash may repeat a few, harmlessly). */
  readonly idempotent?: boolean;
  /** Attempts before the entry is marked failed on this channel (default: retry for `giveUpAfterMs`). */
  readonly maxAttempts?: number;
  close?(): Promise<void>;
  /**
   * Routing, for a channel that serves many destinations of its own (Slack channels and DMs). With
   * `explicit` (a notify step's `channel` that names no registered channel): whether that name is
   * one of its destinations. Without: whether it takes this draft on the default route. It may note
   * where inside the channel the entry goes under `d.data[<its name>]`, so that the choice is made
   * once, when the entry is written, and stays visible in the inbox. Absent: only explicit requests
   * by the channel's own name reach it.
   */
  accept?(d: Draft, run: { id: string; workflow: string; actor: string } | null, explicit: string | null): boolean;
  /**
   * Delivery lanes: entries of different lanes are delivered independently (in order within a
   * lane), so one destination that is slow or rate limited (a 429 from one Slack channel) holds up
   * only its own lane. Called once per entry when it is queued (after its commit, or on start).
   * Absent: one lane per channel.
   */
  laneOf?(entry: Notification): string;
  /**
   * Order within a lane: entries with the same key go out in the order they were queued, so a
   * retry holds up the later ones of its key (a PagerDuty resolve must not overtake its trigger).
   * Entries of different keys are independent: one being retried waits for its own backoff while
   * the others go out, one at a time, in order of their own readiness. Absent: the whole lane is
   * one key (strict order, what Slack threads and digests need).
   */
  orderKey?(entry: Notification): string;
  /** For `opstream notify status`: what kind of channel this is and where it delivers (no secrets). */
  describe?(): { kind: string; target: string | null };
}

/** A notification before it is routed and stored. */
export interface Draft {
  kind: NotificationKind;
  level: NotificationLevel;
  title: string;
  text: string;
  step?: string | null;
  data?: Record<string, unknown>;
  /** A notify step's `channel`: overrides the default route. */
  channel?: string | null;
}
