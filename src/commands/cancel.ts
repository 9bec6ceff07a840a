import { Args } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { runText } from '../ui/runs.js';

export default class Cancel extends BaseCommand {
  static override description = 'Cancel a run: stop its activation and mark it cancelled at the step it was in.';
  static override args = { id: Args.string({ description: 'run id', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(Cancel);
    const client = await this.client();
    const run = await client.request('runs.cancel', { id: args.id });
    this.emit(run, () => runText(run));
  }
}
