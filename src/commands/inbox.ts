import { Flags } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import type { Notification } from '../protocol/index.js';
import { colorEnabled, paint } from '../ui/color.js';
import { deliveryText, inboxTable, notificationLine } from '../ui/notifications.js';

export default class Inbox extends BaseCommand {
  static override description = 'Show recent notifications with their delivery state per channel (terminal, desktop, webhooks); --follow streams new ones.';
  static override examples = ['<%= config.bin %> inbox', '<%= config.bin %> inbox --run r_8f3k2m', '<%= config.bin %> inbox --follow --json'];
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'Keep streaming new notifications and delivery changes.' }),
    run: Flags.string({ description: 'Only this run’s notifications.' }),
    limit: Flags.integer({ description: 'How many of the newest to show.', default: 30, min: 1, max: 1000 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Inbox);
    const client = await this.client();
    if (!flags.follow) {
      const { items } = await client.request('notifications.list', { run: flags.run, limit: flags.limit });
      this.emit(items, () => inboxTable(items));
      return;
    }
    // follow: subscribed first, then the recent ones, so nothing falls between the two
    const filter = flags.run ? { run_id: flags.run } : undefined;
    const p = paint(colorEnabled(process.stdout));
    const seen = new Set<string>();
    await client.subscribe('notifications', filter, (event, data) => {
      if (event === 'notification') {
        const n = data as Notification;
        if (seen.has(n.id)) return;
        seen.add(n.id);
        this.out(n, () => notificationLine(n, { paint: p }));
      } else if (event === 'delivery') {
        const d = data as { id: string; channel: string; delivery: Notification['channels'][string] };
        this.out({ delivery: d }, () => `    ${d.id.slice(-18)} ${deliveryText({ channels: { [d.channel]: d.delivery } })}${d.delivery.last_error && d.delivery.state !== 'sent' ? `: ${d.delivery.last_error}` : ''}`);
      }
    });
    const { items } = await client.request('notifications.list', { run: flags.run, limit: flags.limit });
    for (const n of items) {
      if (seen.has(n.id)) continue;
      seen.add(n.id);
      this.out(n, () => `${notificationLine(n, { paint: p })}\n    ${deliveryText(n)}`);
    }
    await client.closed;
  }

  /** NDJSON under --json (one object per line), text otherwise. */
  private out(data: unknown, text: () => string): void {
    process.stdout.write(`${this.jsonMode ? JSON.stringify(data) : text()}\n`);
  }
}
