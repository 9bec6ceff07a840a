import { Args, Flags } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { runText } from '../ui/runs.js';

export default class Reject extends BaseCommand {
  static override description = 'Reject what a run waits for (its approval step fails unless it has on_error: continue).';
  static override args = { id: Args.string({ description: 'run id', required: true }) };
  static override flags = {
    comment: Flags.string({ description: 'A note kept with the decision.' }),
    step: Flags.string({ description: 'Only if the run still waits at this step (its id, or its name as `status` shows it); otherwise refused and nothing is recorded.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Reject);
    const client = await this.client();
    const run = await client.request('runs.reject', { id: args.id, comment: flags.comment, step: flags.step });
    this.emit(run, () => runText(run));
  }
}
