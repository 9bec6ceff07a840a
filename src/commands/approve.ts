import { Args, Flags } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { runText } from '../ui/runs.js';

export default class Approve extends BaseCommand {
  static override description = 'Approve what a run waits for (its approval step).';
  static override args = { id: Args.string({ description: 'run id', required: true }) };
  static override flags = {
    comment: Flags.string({ description: 'A note kept with the decision.' }),
    step: Flags.string({ description: 'Only if the run still waits at this step (its id, or its name as `status` shows it); otherwise refused and nothing is recorded.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Approve);
    const client = await this.client();
    const run = await client.request('runs.approve', { id: args.id, comment: flags.comment, step: flags.step });
    this.emit(run, () => runText(run));
  }
}
