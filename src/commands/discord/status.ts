import { LocalError } from '../../client/errors.js';
import { BaseCommand } from '../../cli/base-command.js';

export default class DiscordStatusCommand extends BaseCommand {
  static override description = 'Show the Discord bridge: gateway state, reconnects, the last dispatch, whether /opstream is registered.';
  static override examples = ['<%= config.bin %> discord status', '<%= config.bin %> discord status --json'];

  async run(): Promise<void> {
    await this.parse(DiscordStatusCommand);
    const client = await this.client();
    const s = await client.request('discord.status', {});
    this.emit(s, () =>
      s.state === 'off'
        ? 'discord: not configured (add a discord: section to config.yaml; see the README, "Discord")'
        : [
            `discord: ${s.state}${s.error ? ` (${s.error})` : ''}`,
            `  application ${s.application_id ?? '-'}, ${s.guild_id ? `guild ${s.guild_id}` : 'global command'}, run threads in channel ${s.channel ?? '-'}`,
            `  /opstream ${s.command_registered ? 'registered' : 'not registered yet'}; bot user ${s.bot_user ?? '-'}; ${s.reconnects} reconnect(s); last dispatch ${s.last_dispatch_at ?? 'never'}`,
          ].join('\n'),
    );
    if (s.state === 'failed') throw new LocalError(`the Discord bridge is not running: ${s.error ?? 'no reason recorded'}`);
  }
}
