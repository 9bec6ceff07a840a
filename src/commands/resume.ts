import { Args } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { runText } from '../ui/runs.js';

export default class Resume extends BaseCommand {
  static override description = 'Resume a paused run from where it stopped.';
  static override args = { id: Args.string({ description: 'run id', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(Resume);
    const client = await this.client();
    const run = await client.request('runs.resume', { id: args.id });
    this.emit(run, () => runText(run));
  }
}
