import { z } from 'zod';
import { defineMethod } from '../messages.js';

/** The Discord bridge as `opstream discord status` shows it. */
export const DiscordStatus = z.object({
  /** off: not configured; failed: stopped until the config is fixed (see `error`). */
  state: z.enum(['off', 'starting', 'connecting', 'connected', 'reconnecting', 'stopped', 'failed']),
  error: z.string().nullable(),
  /** Gateway resumes and reconnects since the daemon started. */
  reconnects: z.number().int(),
  last_dispatch_at: z.string().nullable(),
  bot_user: z.string().nullable(),
  application_id: z.string().nullable(),
  guild_id: z.string().nullable(),
  channel: z.string().nullable(),
  /** Whether `/opstream` was registered since the daemon started. */
  command_registered: z.boolean(),
});
export type DiscordStatus = z.infer<typeof DiscordStatus>;

export const discordMethods = {
  'discord.status': defineMethod(z.object({}).strict().default({}), DiscordStatus),
  /** The OAuth2 URL that adds the bot to a server with exactly the scopes and permissions it uses. */
  'discord.invite': defineMethod(z.object({}).strict().default({}), z.object({ url: z.string(), scopes: z.array(z.string()), permissions: z.string(), permission_names: z.array(z.string()) })),
} as const;
