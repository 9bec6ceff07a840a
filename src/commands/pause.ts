import { Args } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { runText } from '../ui/runs.js';

export default class Pause extends BaseCommand {
  static override description = 'Pause a run at its next step boundary (a wait or approval in progress stays paused).';
  static override args = { id: Args.string({ description: 'run id', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(Pause);
    const client = await this.client();
    const run = await client.request('runs.pause', { id: args.id });
    this.emit(run, () => runText(run));
  }
}
