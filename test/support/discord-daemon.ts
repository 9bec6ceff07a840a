import { writeFileSync } from 'node:fs';
import { startDaemon, type RunningDaemon } from '../../src/daemon/main.js';
import { startDiscordLoopback, type DiscordLoopback } from './discord-loopback.js';
import { tempHome, waitFor, type TempHome } from './home.js';
import { writeWorkflows } from './slack-daemon.js';

/** The channel the bridge posts run cards and threads in. */
export const DISCORD_CHANNEL = '789000000000000000';

/** An in-process daemon with a Discord bridge connected to a loopback Discord. */
export interface DiscordSetup {
  h: TempHome;
  lb: DiscordLoopback;
  /** Replaced by a restart. */
  d: RunningDaemon;
  channel: string;
  close(): Promise<void>;
}

/** Starts the daemon of `h` in this process. */
export async function bootDaemon(h: TempHome): Promise<RunningDaemon> {
  const out = await startDaemon(h.env);
  if (out.kind !== 'started') throw new Error('a daemon is already running in this home');
  return out.daemon;
}

/** Until the bridge is connected and /opstream is registered. */
export async function discordConnected(x: Pick<DiscordSetup, 'd'>): Promise<void> {
  await waitFor(() => x.d.ctx.discord?.status().state === 'connected' && x.d.ctx.discord.status().command_registered, { what: 'the Discord bridge to connect and register /opstream', timeoutMs: 30_000 });
}

/**
 * A home (`prefix`) with `workflows` and a discord section (token from DISCORD_TOKEN, `roles` as
 * written in YAML, 50 ms updates, `extra` lines), its daemon started and its bridge connected.
 */
export async function setupDiscord(o: { prefix: string; roles: string; workflows: Record<string, string>; extra?: string[] }): Promise<DiscordSetup> {
  const lb = await startDiscordLoopback({ channels: [DISCORD_CHANNEL] });
  const h = tempHome(o.prefix);
  h.env.OPSTREAM_ENGINE_FAULTS = '1';
  h.env.DISCORD_TOKEN = lb.token;
  writeFileSync(
    `${h.home}/config.yaml`,
    [
      'notify:',
      '  desktop: off',
      'discord:',
      '  token: ${DISCORD_TOKEN}',
      `  application_id: "${lb.applicationId}"`,
      `  guild_id: "${lb.guildId}"`,
      `  channel: "${DISCORD_CHANNEL}"`,
      `  roles: ${o.roles}`,
      `  api_url: ${lb.apiUrl}`,
      '  update_interval: 50ms',
      ...(o.extra ?? []),
    ].join('\n'),
  );
  writeWorkflows(h, o.workflows);
  const x: DiscordSetup = {
    h,
    lb,
    d: await bootDaemon(h),
    channel: DISCORD_CHANNEL,
    async close() {
      await x.d.stop();
      await h.cleanup();
      await lb.close();
    },
  };
  await discordConnected(x);
  return x;
}
