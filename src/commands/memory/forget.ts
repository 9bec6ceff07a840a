import { Args } from '../../cli/oclif.js';
import { BaseCommand } from '../../cli/base-command.js';

export default class MemoryForget extends BaseCommand {
  static override description = "Forget a run's summary (and its embedding): it is no longer recalled. The run itself stays.";
  static override args = { id: Args.string({ description: 'run id', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(MemoryForget);
    const client = await this.client();
    const r = await client.request('memory.forget', { id: args.id });
    this.emit(r, () => `forgot run ${args.id}`);
  }
}
