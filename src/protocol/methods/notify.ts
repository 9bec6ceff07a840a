import { z } from 'zod';
import { defineMethod } from '../messages.js';

/**
 * Notifications as the outbox stores them and `opstream inbox --json` prints them. One entry is
 * routed to several channels when it is written; each channel's delivery state is kept apart, so a
 * broken webhook never hides that the inbox and the desktop got it.
 */
export const NotificationLevel = z.enum(['info', 'warning', 'critical']);
export type NotificationLevel = z.infer<typeof NotificationLevel>;

/** `reply`: OpStream answering a person in a conversation (Slack), durable like any notification. */
export const NotificationKind = z.enum(['start', 'milestone', 'completion', 'error', 'approval', 'input', 'notify', 'budget', 'llm', 'test', 'reply']);
export type NotificationKind = z.infer<typeof NotificationKind>;

export const DeliveryState = z.object({
  /** pending: not confirmed yet (maybe retrying); sent: the channel confirmed; failed: given up for good. */
  state: z.enum(['pending', 'sent', 'failed']),
  attempts: z.number().int(),
  sent_at: z.string().nullable(),
  /** What the channel answered when it confirmed (HTTP status, Slack ts, ...). */
  receipt: z.string().nullable(),
  last_error: z.string().nullable(),
  /** When the next attempt is due while retrying. */
  next_at: z.string().nullable(),
});
export type DeliveryState = z.infer<typeof DeliveryState>;

export const Notification = z.object({
  /** Time-ordered, unique; also the idempotency key receivers dedupe on. */
  id: z.string(),
  at: z.string(),
  run_id: z.string().nullable(),
  workflow: z.string().nullable(),
  step: z.string().nullable(),
  kind: NotificationKind,
  level: NotificationLevel,
  title: z.string(),
  text: z.string(),
  /** Channel name -> its delivery state. `terminal` is always there. */
  channels: z.record(z.string(), DeliveryState),
  /** Structured extras for rich channels: how to answer, the run's headline, the PagerDuty action. */
  data: z.record(z.string(), z.unknown()).default({}),
});
export type Notification = z.infer<typeof Notification>;

/** One channel in `opstream notify status`: what waits, what failed (and why), over the newest notifications. */
export const ChannelStatus = z.object({
  name: z.string(),
  /** inbox, desktop, webhook, pagerduty, slack, ... */
  kind: z.string(),
  /** Where it delivers, without credentials or query (a webhook's URL, the desktop command). */
  target: z.string().nullable(),
  /** Not confirmed yet; `retrying` of them have failed at least once (transient) and wait for their next try. */
  pending: z.number().int(),
  retrying: z.number().int(),
  /** When the soonest retry is due. */
  next_at: z.string().nullable(),
  /** Among the newest `window` notifications. */
  sent: z.number().int(),
  failed: z.number().int(),
  last_sent_at: z.string().nullable(),
  /** The newest problem: a permanent failure, or the last error of an entry still being retried. */
  last_problem: z.object({ id: z.string(), at: z.string(), state: z.enum(['pending', 'failed']), attempts: z.number().int(), error: z.string() }).nullable(),
});
export type ChannelStatus = z.infer<typeof ChannelStatus>;

export const notifyMethods = {
  'notifications.list': defineMethod(
    z
      .object({
        run: z.string().max(64).optional(),
        /** Entries before this id (paging backwards in time). */
        before: z.string().max(200).optional(),
        limit: z.number().int().min(1).max(1000).default(50),
      })
      .default({ limit: 50 }),
    z.object({ items: z.array(Notification) }),
  ),
  'notifications.status': defineMethod(
    z.object({ window: z.number().int().min(1).max(10_000).default(1000) }).default({ window: 1000 }),
    z.object({ window: z.number().int(), channels: z.array(ChannelStatus) }),
  ),
} as const;
