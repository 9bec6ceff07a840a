import { Args } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { runText } from '../ui/runs.js';

export default class Respond extends BaseCommand {
  static override description = 'Answer a run that waits for input.';
  static override args = { id: Args.string({ description: 'run id', required: true }), text: Args.string({ description: 'the answer', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(Respond);
    const client = await this.client();
    const run = await client.request('runs.respond', { id: args.id, text: args.text });
    this.emit(run, () => runText(run));
  }
}
