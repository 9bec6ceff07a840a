import { z } from 'zod';
import { defineMethod } from '../messages.js';

export const slackMethods = {
  /** The Slack app manifest for this config (`opstream slack manifest`): paste it to create the app. */
  'slack.manifest': defineMethod(z.object({}).strict().default({}), z.object({ manifest: z.record(z.string(), z.unknown()) })),
  /**
   * Sends a test DM through the outbox (`opstream slack test`) and waits for Slack's answer. `user`:
   * a Slack user id (U...); default: the first admin in `slack.users`.
   */
  'slack.test': defineMethod(
    z.object({ user: z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'a Slack user id such as U0123ABCD').optional(), timeout_ms: z.number().int().min(100).max(120_000).default(20_000) }).default({ timeout_ms: 20_000 }),
    z.object({
      notification: z.string(),
      to: z.string(),
      state: z.enum(['pending', 'sent', 'failed']),
      receipt: z.string().nullable(),
      error: z.string().nullable(),
    }),
    { mutates: true },
  ),
} as const;
