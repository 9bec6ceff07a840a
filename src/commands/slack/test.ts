import { LocalError } from '../../client/errors.js';
import { BaseCommand } from '../../cli/base-command.js';
import { Flags } from '../../cli/oclif.js';

export default class SlackTest extends BaseCommand {
  static override description = 'Send a test DM through the outbox and wait for Slack to confirm it (default recipient: the first admin in slack.users).';
  static override examples = ['<%= config.bin %> slack test', '<%= config.bin %> slack test --user U0123ABCD'];
  static override flags = {
    user: Flags.string({ description: 'Slack user id (U...) to DM.' }),
    timeout: Flags.integer({ description: 'Seconds to wait for Slack.', default: 20, min: 1, max: 120 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(SlackTest);
    const client = await this.client();
    const r = await client.request('slack.test', { user: flags.user, timeout_ms: flags.timeout * 1000 });
    this.emit(r, () => (r.state === 'sent' ? `sent a test DM to ${r.to} (${r.receipt ?? 'ok'})` : ''));
    if (r.state !== 'sent') throw new LocalError(`the test DM to ${r.to} was not delivered: ${r.error ?? r.state}`);
  }
}
