import { Args } from '../../cli/oclif.js';
import { BaseCommand } from '../../cli/base-command.js';
import { summaryText } from '../../ui/memory.js';

export default class MemoryShow extends BaseCommand {
  static override description = 'What OpStream remembers of one run: what it found, the fixes applied with their measured effect, and the fixes rejected with who rejected them and why.';
  static override examples = ['<%= config.bin %> memory show r_8f3k2m'];
  static override args = { id: Args.string({ description: 'run id', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(MemoryShow);
    const client = await this.client();
    const s = await client.request('memory.show', { id: args.id });
    this.emit(s, () => summaryText(s));
  }
}
