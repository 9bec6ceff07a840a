import { BaseCommand } from '../../cli/base-command.js';
import { Flags } from '../../cli/oclif.js';
import type { ChannelStatus } from '../../protocol/index.js';
import { ago, table } from '../../ui/format.js';

export default class NotifyStatus extends BaseCommand {
  static override description = 'Each notification channel (inbox, desktop, webhooks, Slack): what is pending or being retried, what failed for good and why, over the newest notifications.';
  static override examples = ['<%= config.bin %> notify status', '<%= config.bin %> notify status --json'];
  static override flags = {
    window: Flags.integer({ description: 'How many of the newest notifications to count.', default: 1000, min: 1, max: 10_000 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(NotifyStatus);
    const client = await this.client();
    const s = await client.request('notifications.status', { window: flags.window });
    this.emit(s, () => statusText(s.channels, s.window));
  }
}

function statusText(channels: ChannelStatus[], window: number): string {
  const rows = channels.map((c) => [c.name, c.kind, c.target, c.pending ? `${c.pending}${c.retrying ? ` (${c.retrying} retrying, next ${ago(c.next_at)})` : ''}` : '0', c.sent, c.failed, ago(c.last_sent_at)]);
  const lines = [table(['CHANNEL', 'KIND', 'TARGET', 'PENDING', 'SENT', 'FAILED', 'LAST SENT'], rows)];
  const problems = channels.filter((c) => c.last_problem);
  if (problems.length) {
    lines.push('', 'problems (newest per channel):');
    for (const c of problems) {
      const p = c.last_problem!;
      const what = p.state === 'failed' ? `failed after ${p.attempts} attempt${p.attempts === 1 ? '' : 's'}` : `retrying (${p.attempts} attempt${p.attempts === 1 ? '' : 's'} so far)`;
      lines.push(`  ${c.name}: ${what}, ${ago(p.at)}, notification ${p.id}: ${p.error}`);
    }
  }
  lines.push('', `counts over the newest ${window} notifications; opstream inbox shows each one`);
  return lines.join('\n');
}
