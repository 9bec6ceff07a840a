import { readFileSync } from 'node:fs';
import { Args, Flags } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { LocalError } from '../client/errors.js';
import { replayText } from '../ui/memory.js';

export default class Replay extends BaseCommand {
  static override description =
    "What-if: re-run a finished run's agent steps against the tool results it recorded (no live tool calls; a call the recording lacks is answered \"not recorded\"), with another model or an edited prompt, and show how the answer, the tool calls and the tokens differ. The run itself is not changed.";
  static override args = { id: Args.string({ description: 'run id (a finished run with agent steps)', required: true }) };
  static override flags = {
    step: Flags.string({ description: 'Only this agent step.' }),
    model: Flags.string({ description: 'Model to use instead of llm.model.' }),
    'prompt-file': Flags.string({ description: 'A file whose text replaces the step’s prompt.' }),
  };
  static override examples = ['<%= config.bin %> replay r_8f3k2m --model llama3.1:8b', '<%= config.bin %> replay r_8f3k2m --step explain --prompt-file better-prompt.txt'];

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Replay);
    let prompt: string | undefined;
    if (flags['prompt-file']) {
      try {
        prompt = readFileSync(flags['prompt-file'], 'utf8');
      } catch (e) {
        throw new LocalError(`cannot read --prompt-file ${flags['prompt-file']}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    const client = await this.client();
    const r = await client.request('runs.replay', { id: args.id, step: flags.step, model: flags.model, prompt });
    this.emit(r, () => replayText(r));
  }
}
