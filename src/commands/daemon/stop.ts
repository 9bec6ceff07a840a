import { BaseCommand } from '../../cli/base-command.js';
import { waitForExit } from '../../client/client.js';
import { LocalError } from '../../client/errors.js';
import { isWireError } from '../../protocol/wire-error.js';

/** How long a stop may take (services stop, in-flight steps are recorded), unless --timeout says. */
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
    const wait = this.timeoutFlagMs || STOP_WAIT_MS;
    const deadline = Date.now() + wait;
    if (!(await client.waitClosed(wait)) || !(await waitForExit(pid, Math.max(0, deadline - Date.now())))) {
      throw new LocalError(`daemon (pid ${pid}) did not exit within ${Number((wait / 1000).toFixed(1))}s; kill it with: kill ${pid}`);
    }
    this.emit({ stopped: true, pid }, () => `daemon stopped (pid ${pid})`);
  }
}
