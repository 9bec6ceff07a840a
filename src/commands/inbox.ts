import { Flags } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import type { DaemonClient } from '../client/client.js';
import { followAcrossRestarts, reconnectTimeoutMs } from '../client/follow.js';
import type { Notification } from '../protocol/index.js';
import { colorEnabled, paint } from '../ui/color.js';
import { deliveryText, inboxTable, notificationLine } from '../ui/notifications.js';

export default class Inbox extends BaseCommand {
  static override description = 'Show recent notifications with their delivery state per channel (terminal, desktop, webhooks); --follow streams new ones.';
  static override examples = ['<%= config.bin %> inbox', '<%= config.bin %> inbox --run r_8f3k2m', '<%= config.bin %> inbox --follow --json'];
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'Keep streaming new notifications and delivery changes (across daemon restarts) until Ctrl-C.' }),
    'reconnect-timeout': Flags.string({ description: 'With --follow: how long to wait for a daemon that went away before giving up (exit 1). Default 30s, or $OPSTREAM_RECONNECT_TIMEOUT.', dependsOn: ['follow'] }),
    run: Flags.string({ description: 'Only this run’s notifications.' }),
    limit: Flags.integer({ description: 'How many of the newest to show.', default: 30, min: 1, max: 1000 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Inbox);
    const timeoutMs = reconnectTimeoutMs(flags['reconnect-timeout']);
    const client = await this.client();
    if (!flags.follow) {
      const { items } = await client.request('notifications.list', { run: flags.run, limit: flags.limit });
      this.emit(items, () => inboxTable(items));
      return;
    }
    // follow: subscribed first, then the recent ones, so nothing falls between the two. What was
    // shown is kept across connections: after a daemon restart only what is new (or whose delivery
    // changed meanwhile) is printed.
    const filter = flags.run ? { run_id: flags.run } : undefined;
    const p = paint(colorEnabled(process.stdout));
    const seen = new Set<string>();
    const delivered = new Map<string, string>();
    const deliveryLine = (id: string, channel: string, st: Notification['channels'][string]): void => {
      const text = deliveryText({ channels: { [channel]: st } });
      if (delivered.get(`${id} ${channel}`) === `${text}|${st.last_error ?? ''}`) return;
      delivered.set(`${id} ${channel}`, `${text}|${st.last_error ?? ''}`);
      this.out({ delivery: { id, channel, delivery: st } }, () => `    ${id.slice(-18)} ${text}${st.last_error && st.state !== 'sent' ? `: ${st.last_error}` : ''}`);
    };
    const shownWhole = (n: Notification): void => {
      for (const [channel, st] of Object.entries(n.channels)) delivered.set(`${n.id} ${channel}`, `${deliveryText({ channels: { [channel]: st } })}|${st.last_error ?? ''}`);
    };
    const session = async (c: DaemonClient): Promise<'lost'> => {
      await c.subscribe('notifications', filter, (event, data) => {
        if (event === 'notification') {
          const n = data as Notification;
          if (seen.has(n.id)) return;
          seen.add(n.id);
          shownWhole(n);
          this.out(n, () => notificationLine(n, { paint: p }));
        } else if (event === 'delivery') {
          const d = data as { id: string; channel: string; delivery: Notification['channels'][string] };
          deliveryLine(d.id, d.channel, d.delivery);
        }
      });
      const { items } = await c.request('notifications.list', { run: flags.run, limit: flags.limit });
      for (const n of items) {
        if (seen.has(n.id)) {
          // known: only a delivery change missed while the daemon was away
          for (const [channel, st] of Object.entries(n.channels)) deliveryLine(n.id, channel, st);
          continue;
        }
        seen.add(n.id);
        shownWhole(n);
        this.out(n, () => `${notificationLine(n, { paint: p })}\n    ${deliveryText(n)}`);
      }
      await c.closed;
      return 'lost';
    };
    await followAcrossRestarts({ first: client, reconnectTimeoutMs: timeoutMs, notice: (t) => process.stderr.write(`${t}\n`), again: 'opstream inbox --follow' }, session);
  }

  /** NDJSON under --json (one object per line), text otherwise. */
  private out(data: unknown, text: () => string): void {
    process.stdout.write(`${this.jsonMode ? JSON.stringify(data) : text()}\n`);
  }
}
