import { BaseCommand } from '../../cli/base-command.js';

export default class SlackManifest extends BaseCommand {
  static override description = 'Print the Slack app manifest (Socket Mode, the slash command, interactivity, bot events and scopes): paste it at api.slack.com/apps > Create New App > From a manifest.';
  static override examples = ['<%= config.bin %> slack manifest > opstream-app.json'];

  async run(): Promise<void> {
    await this.parse(SlackManifest);
    const client = await this.client();
    const { manifest } = await client.request('slack.manifest', {});
    // the manifest itself is JSON either way: that is what Slack's dialog takes
    process.stdout.write(`${JSON.stringify(manifest, null, 2)}\n`);
  }
}
