import type { Bus } from '../../bus.js';
import type { Channel, DeliveryResult, Notification } from '../types.js';

/**
 * The per-user inbox. The entry itself is the inbox (`opstream inbox` reads the outbox), so a
 * delivery here is the push to live clients (`logs --follow`, `inbox --follow`, `start --wait`).
 */
export class TerminalChannel implements Channel {
  readonly name = 'terminal';
  readonly timeoutMs = 1000;
  readonly idempotent = true;

  constructor(private readonly bus: Bus) {}

  describe(): { kind: string; target: string | null } {
    return { kind: 'inbox', target: null };
  }

  async deliver(entry: Notification): Promise<DeliveryResult> {
    this.bus.publish('notifications', 'notification', entry);
    return { kind: 'delivered', receipt: 'inbox' };
  }
}
