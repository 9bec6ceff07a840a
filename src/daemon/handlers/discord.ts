import { WireError, type discordMethods } from '../../protocol/index.js';
import type { HandlersFor } from './types.js';

const off = { state: 'off' as const, error: null, reconnects: 0, last_dispatch_at: null, bot_user: null, application_id: null, guild_id: null, channel: null, command_registered: false };

/** Thin: the bridge does the work. */
export const discordHandlers: HandlersFor<keyof typeof discordMethods> = {
  'discord.status': (_p, { ctx }) => (ctx.discord ? ctx.discord.status() : off),
  // works before the token is set: inviting the bot is part of setting it up
  'discord.invite': async (_p, { ctx }) => {
    const d = ctx.config.raw.discord;
    if (!d) throw new WireError('unavailable', 'Discord is not configured: add a discord: section with application_id and channel to config.yaml (see the README, "Discord")');
    // discord.js only when asked: a daemon without Discord never loads it
    const { inviteUrl } = await import('../discord/invite.js');
    return inviteUrl(d.application_id, d.guild_id);
  },
};
