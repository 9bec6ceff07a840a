import { BaseCommand } from '../../cli/base-command.js';

export default class DiscordInvite extends BaseCommand {
  static override description = 'Print the OAuth2 URL that adds the bot to your server with exactly the scopes (bot, applications.commands) and permissions it uses.';
  static override examples = ['<%= config.bin %> discord invite'];

  async run(): Promise<void> {
    await this.parse(DiscordInvite);
    const client = await this.client();
    const r = await client.request('discord.invite', {});
    this.emit(r, () => `${r.url}\n(scopes: ${r.scopes.join(', ')}; permissions ${r.permissions}: ${r.permission_names.join(', ')})`);
  }
}
