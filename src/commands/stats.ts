import { Flags } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { statsText } from '../ui/stats.js';

export default class Stats extends BaseCommand {
  static override description =
    'Analytics: runs by outcome and success rate, duration p50/p95, time spent waiting for people, tool use (calls, errors, p95 latency, cache hits), ' +
    'tokens per workflow, notifications per channel and the daemon’s health. --prometheus prints the same as Prometheus text (what the metrics port serves).';
  static override examples = ['<%= config.bin %> stats', '<%= config.bin %> stats --since 30d --workflow slo_monitoring', '<%= config.bin %> stats --json', '<%= config.bin %> stats --prometheus'];
  static override flags = {
    workflow: Flags.string({ char: 'w', description: 'Only runs of this workflow: its command word (as for start), id or name.' }),
    since: Flags.string({ description: 'Runs that ended in this window back from now (e.g. 1h, 7d), or "all".', default: '7d' }),
    prometheus: Flags.boolean({ description: 'Print Prometheus text exposition (all time) once.', exclusive: ['json'] }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Stats);
    const client = await this.client();
    if (flags.prometheus) {
      process.stdout.write((await client.request('stats.prometheus', {})).text);
      return;
    }
    const s = await client.request('stats.get', { workflow: flags.workflow, since: flags.since });
    this.emit(s, () => statsText(s, flags.since));
  }
}
