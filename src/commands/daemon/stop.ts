import { BaseCommand } from '../../cli/base-command.js';
import { waitForExit } from '../../client/client.js';
import { LocalError } from '../../client/errors.js';
import { isWireError } from '../../protocol/wire-error.js';

const STOP_WAIT_MS = 30_000;

export default class DaemonStop extends BaseCommand {
  static override description = 'Stop the daemon. Runs are durable: they resume when it starts again.';

  async run(): Promise<void> {
    await this.parse(DaemonStop);
    // through this.client(): the connection is closed on every way out, an error reply included
    const client = await this.client({ autoStart: false, allowMismatch: true }).catch((e: unknown) => {
      if (e instanceof LocalError && /not running/.test(e.message)) return null;
      throw e;
    });
    if (!client) {
      this.emit({ stopped: false, running: false }, () => 'daemon is not running');
      return;
    }
    const pid = client.hello.pid;
    try {
      await client.request('daemon.shutdown', { reason: 'opstream daemon stop' });
    } catch (e) {
      if (isWireError(e)) throw new LocalError(`the daemon (pid ${pid}) answered the stop with an error: ${e.message}; stop it with: kill ${pid}`);
      throw e;
    }
    const deadline = Date.now() + STOP_WAIT_MS;
    if (!(await client.waitClosed(STOP_WAIT_MS)) || !(await waitForExit(pid, Math.max(0, deadline - Date.now())))) {
      throw new LocalError(`daemon (pid ${pid}) did not exit within ${STOP_WAIT_MS / 1000}s; kill it with: kill ${pid}`);
    }
    this.emit({ stopped: true, pid }, () => `daemon stopped (pid ${pid})`);
  }
}
