import type { Notification, NotificationKind, NotificationLevel } from '../../protocol/index.js';

export type { Notification };

/**
 * What a channel answers for one delivery attempt. Only `delivered` marks the entry sent; `retry`
 * keeps it pending (the dispatcher waits at least `afterMs`); `failed` gives up on this channel.
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
  /** Attempts before the entry is marked failed on this channel (default: retry for `giveUpAfterMs`). */
  readonly maxAttempts?: number;
  close?(): Promise<void>;
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
