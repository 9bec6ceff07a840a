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
} as const;
