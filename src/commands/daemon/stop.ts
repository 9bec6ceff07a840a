import { BaseCommand } from '../../cli/base-command.js';
import { DaemonClient, waitForExit } from '../../client/client.js';
import { LocalError } from '../../client/errors.js';

export default class DaemonStop extends BaseCommand {
  static override description = 'Stop the daemon. Runs are durable: they resume when it starts again.';

  async run(): Promise<void> {
    await this.parse(DaemonStop);
    const client = await DaemonClient.connect({ autoStart: false, allowMismatch: true }).catch((e: unknown) => {
      if (e instanceof LocalError && /not running/.test(e.message)) return null;
      throw e;
    });
    if (!client) {
      this.emit({ stopped: false, running: false }, () => 'daemon is not running');
      return;
    }
    const pid = client.hello.pid;
    await client.request('daemon.shutdown', { reason: 'opstream daemon stop' });
    await client.closed;
    if (!(await waitForExit(pid, 30_000))) throw new LocalError(`daemon (pid ${pid}) did not exit within 30s; kill it with: kill ${pid}`);
    this.emit({ stopped: true, pid }, () => `daemon stopped (pid ${pid})`);
  }
}
