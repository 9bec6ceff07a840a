import { Flags } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { runsTable } from '../ui/runs.js';

export default class List extends BaseCommand {
  static override description = 'List active runs (queued, running, waiting, paused); --all lists every run.';
  static override flags = {
    all: Flags.boolean({ description: 'Include finished runs.' }),
    workflow: Flags.string({ description: 'Only runs of this workflow.' }),
    limit: Flags.integer({ description: 'At most this many runs (newest first).', default: 200, min: 1, max: 10000 }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(List);
    const client = await this.client();
    const r = await client.request('runs.list', { all: flags.all, workflow: flags.workflow, limit: flags.limit });
    this.emit(r.runs, () => runsTable(r.runs) + (r.total > r.runs.length ? `\n(${r.total - r.runs.length} more; use --limit)` : ''));
  }
}
