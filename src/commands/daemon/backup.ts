import { resolve } from 'node:path';
import { Args } from '../../cli/oclif.js';
import { BaseCommand } from '../../cli/base-command.js';
import { DaemonClient } from '../../client/client.js';
import { LocalError } from '../../client/errors.js';
import { resolvePaths } from '../../config/paths.js';

export default class DaemonBackup extends BaseCommand {
  static override description =
    'Write a consistent snapshot of the store to a file you keep (JSON lines with a checksum). Runs while the daemon works (commits made meanwhile are in it whole or not at all); with the daemon stopped it reads the store directly. `opstream daemon restore` puts it back.';
  static override examples = ['<%= config.bin %> daemon backup ~/backups/', '<%= config.bin %> daemon backup ./opstream-monday.jsonl'];
  static override args = {
    target: Args.string({ description: 'A new file, or a directory to put a dated backup file in.', required: true }),
  };

  async run(): Promise<void> {
    const { args } = await this.parse(DaemonBackup);
    const path = resolve(args.target);
    const client = await DaemonClient.connect({ autoStart: false }).catch((e: unknown) => {
      if (e instanceof LocalError && /not running/.test(e.message)) return null;
      throw e;
    });
    let r: { file: string; entries: number; bytes: number };
    if (client) {
      try {
        r = await client.request('store.backup', { path });
      } finally {
        client.close();
      }
    } else {
      const { backupOffline, MaintenanceError } = await import('../../daemon/store/maintenance.js');
      r = await backupOffline(resolvePaths().dbDir, path).catch((e: unknown) => {
        throw e instanceof MaintenanceError ? new LocalError(e.message) : e;
      });
    }
    this.emit(r, () => `backed up ${r.entries} entries (${r.bytes} bytes) to ${r.file}`);
  }
}
