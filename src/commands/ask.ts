import { Args } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';

export default class Ask extends BaseCommand {
  static override description =
    "Ask about a run (\"show me the details\", \"why?\"): answered by the model from the run's stored outputs and OpStream's memory, with no tool calls. The conversation is kept per run, so follow-ups see the earlier questions.";
  static override args = {
    id: Args.string({ description: 'run id', required: true }),
    question: Args.string({ description: 'your question (quote it)', required: true }),
  };
  static override examples = ['<%= config.bin %> ask r_8f3k2m "what was the worst bottleneck?"', '<%= config.bin %> ask r_8f3k2m "why?"'];

  async run(): Promise<void> {
    const { args } = await this.parse(Ask);
    const client = await this.client();
    const r = await client.request('runs.ask', { id: args.id, question: args.question });
    this.emit(r, () => r.answer);
  }
}
