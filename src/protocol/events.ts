import { z } from 'zod';
import { RunStatus } from './methods/daemon.js';
import { Notification } from './methods/notify.js';
import { RunEventJson } from './methods/runs.js';

/** What the daemon pushes on subscriptions (topics: EventTopic in methods/daemon.ts). */

/** `runs`: every recorded run event, with the run's status after it. Event name = the event type. */
export const RunEventPush = RunEventJson.extend({ status: RunStatus, workflow: z.string() });
export type RunEventPush = z.infer<typeof RunEventPush>;

/** `notifications`: event `notification` when one is written, `delivery` when a channel's state changes. */
export const NotificationPush = Notification;
export const DeliveryPush = z.object({ id: z.string(), run_id: z.string().nullable(), channel: z.string(), delivery: z.record(z.string(), z.unknown()) });

/**
 * `runs.watch` frames (event name `watch`): one item of the daemon-wide feed. `cursor` increases by
 * one per item for the daemon's whole life and across restarts; a client that reconnects with the
 * last cursor it saw gets everything after it, once.
 */
export const WatchItem = z.discriminatedUnion('topic', [
  z.object({ cursor: z.number().int(), topic: z.literal('runs'), event: z.string(), data: RunEventPush }),
  z.object({ cursor: z.number().int(), topic: z.literal('notifications'), event: z.enum(['notification', 'delivery']), data: z.record(z.string(), z.unknown()) }),
]);
export type WatchItem = z.infer<typeof WatchItem>;

/** Sent (event name `watch.dropped`) when the daemon ends a watch: the client reconnects with `cursor`. */
export const WatchDropped = z.object({ reason: z.string(), cursor: z.number().int() });
