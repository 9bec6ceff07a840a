import { PermissionsBitField } from 'discord.js';

/** Exactly what the bridge uses: post cards and replies, open a thread per run, post in it, embeds, chart files, read its thread. */
const PERMISSIONS = ['SendMessages', 'SendMessagesInThreads', 'CreatePublicThreads', 'EmbedLinks', 'AttachFiles', 'ReadMessageHistory'] as const;
const SCOPES = ['bot', 'applications.commands'];

export function inviteUrl(applicationId: string, guildId?: string): { url: string; scopes: string[]; permissions: string; permission_names: string[] } {
  const permissions = new PermissionsBitField([...PERMISSIONS]).bitfield.toString();
  const q = new URLSearchParams({ client_id: applicationId, scope: SCOPES.join(' '), permissions });
  if (guildId) q.set('guild_id', guildId);
  return { url: `https://discord.com/oauth2/authorize?${q.toString()}`, scopes: SCOPES, permissions, permission_names: [...PERMISSIONS] };
}
