import { Flags } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { formatDuration, table } from '../ui/format.js';

const KINDS = ['runs', 'events', 'notifications', 'audit', 'cache', 'memory', 'feed'] as const;

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export default class Gc extends BaseCommand {
  static override description =
    'Apply the retention: rules now (the daemon also does it in the background): remove finished runs, events, notifications, audit entries, cache entries and memory older than their rule, and print what went per kind. Nothing is removed for a kind without a rule.';
  static override examples = ['<%= config.bin %> gc --dry-run', '<%= config.bin %> gc', '<%= config.bin %> gc --json'];
  static override flags = {
    'dry-run': Flags.boolean({ description: 'Say what would be removed; change nothing.' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Gc);
    const client = await this.client();
    const r = await client.request('store.gc', { dry_run: flags['dry-run'] });
    this.emit(r, () => {
      const rows = KINDS.map((k) => {
        const rule = k === 'feed' ? 'with the data it points at' : r.rules[k] === null ? 'no rule (kept)' : `older than ${formatDuration(r.rules[k]!)}`;
        return [k, rule, r.removed[k].count, size(r.removed[k].bytes)];
      });
      const total = KINDS.reduce((n, k) => n + r.removed[k].count, 0);
      const head = r.dry_run ? `dry run: ${total} item${total === 1 ? '' : 's'} would be removed (nothing was changed)` : `removed ${total} item${total === 1 ? '' : 's'} in ${formatDuration(r.took_ms)}`;
      return `${head}\n${table(['KIND', 'RULE', r.dry_run ? 'WOULD REMOVE' : 'REMOVED', 'BYTES'], rows)}`;
    });
  }
}
