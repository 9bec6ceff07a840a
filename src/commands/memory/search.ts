import { Args, Flags } from '../../cli/oclif.js';
import { BaseCommand } from '../../cli/base-command.js';
import { summariesText } from '../../ui/memory.js';

export default class MemorySearch extends BaseCommand {
  static override description = 'Search what OpStream remembers of finished runs (their findings and what fixed them).';
  static override args = { text: Args.string({ description: 'words to look for', required: true }) };
  static override flags = { limit: Flags.integer({ description: 'How many results.', default: 10, min: 1, max: 200 }) };
  static override strict = false;

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(MemorySearch);
    const client = await this.client();
    const { items } = await client.request('memory.search', { text: (argv as string[]).join(' '), limit: flags.limit });
    this.emit(items, () => summariesText(items));
  }
}
