import { BaseCommand } from '../../cli/base-command.js';
import { localTime } from '../../ui/format.js';

export default class MemoryStats extends BaseCommand {
  static override description = 'How much OpStream remembers: run summaries per workflow, embeddings per model, the time span.';

  async run(): Promise<void> {
    await this.parse(MemoryStats);
    const client = await this.client();
    const s = await client.request('memory.stats', {});
    this.emit(s, () =>
      [
        `${s.summaries} run summaries${s.oldest ? ` from ${localTime(s.oldest)} to ${localTime(s.newest)}` : ''}`,
        ...Object.entries(s.by_workflow).map(([w, n]) => `  ${w}: ${n}`),
        `recall: ${s.embed_model ? `embeddings (${s.embed_model}), full text for the rest` : 'full-text search (set llm.embed_model for embeddings)'}`,
        ...Object.entries(s.vectors).map(([m, n]) => `  vectors ${m}: ${n}`),
      ].join('\n'),
    );
  }
}
