import { Args, Flags } from '../../cli/oclif.js';
import { BaseCommand } from '../../cli/base-command.js';
import { LocalError } from '../../client/errors.js';
import { resolvePaths } from '../../config/paths.js';

export default class DaemonRestore extends BaseCommand {
  static override description =
    'Put a backup made by `opstream daemon backup` in place of the store (the daemon must be stopped). The backup is checked whole first; an existing store is replaced only with --force, and is moved aside, not deleted.';
  static override examples = ['<%= config.bin %> daemon restore ~/backups/opstream-backup-2026-01-05T10-00-00-000Z.jsonl', '<%= config.bin %> daemon restore backup.jsonl --force'];
  static override args = {
    backup: Args.string({ description: 'The backup file.', required: true }),
  };
  static override flags = {
    force: Flags.boolean({ description: 'Replace an existing store (it is moved aside beside it).' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(DaemonRestore);
    const { restoreStore, MaintenanceError } = await import('../../daemon/store/maintenance.js');
    const r = await restoreStore(resolvePaths(), args.backup, flags.force).catch((e: unknown) => {
      throw e instanceof MaintenanceError ? new LocalError(e.message) : e;
    });
    this.emit(r, () => `restored ${r.entries} entries from ${r.backup} (made ${r.backup_created_at}) into ${r.store}${r.moved_aside ? `; the store it replaced is in ${r.moved_aside}` : ''}`);
  }
}
