import { Args, loadHelpClass } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { LocalError } from '../client/errors.js';

/** One command as `help --json` describes it (what scripts and completions need). */
interface CommandHelp {
  command: string;
  summary: string;
  description: string;
  usage: string;
  args: { name: string; description: string | null; required: boolean }[];
  flags: { name: string; char: string | null; description: string | null; type: 'boolean' | 'option'; required: boolean; default: unknown; options: string[] | null; multiple: boolean }[];
  examples: string[];
}

/** `opstream help [COMMAND...]`: oclif's own help, the same text `COMMAND --help` prints; JSON with --json. */
export default class Help extends BaseCommand {
  static override description =
    'Show help for opstream, or for one command (e.g. `opstream help start`, `opstream help daemon start`). ' +
    'With --json, every command (or the one named) as JSON: command, summary, description, usage, args, flags, examples.';
  static override strict = false;
  static override args = { command: Args.string({ description: 'command to show help for', required: false }) };
  static override examples = ['<%= config.bin %> help', '<%= config.bin %> help start', '<%= config.bin %> help --json'];

  async run(): Promise<void> {
    const { argv } = await this.parse(Help);
    const words = (argv as string[]).filter((w) => w !== '--json');
    if (this.jsonMode) {
      this.emit(this.describe(words), () => '');
      return;
    }
    const HelpClass = await loadHelpClass(this.config);
    await new HelpClass(this.config, this.config.pjson.oclif.helpOptions ?? {}).showHelp(words);
  }

  private describe(words: string[]): { bin: string; version: string; commands: CommandHelp[] } {
    const bin = this.config.bin;
    let commands = this.config.commands.filter((c) => !c.hidden && !c.id.startsWith('autocomplete'));
    if (words.length) {
      const id = words.join(':');
      commands = commands.filter((c) => c.id === id || c.id.startsWith(`${id}:`));
      if (commands.length === 0) throw new LocalError(`no command named "${words.join(' ')}"; \`${bin} help\` lists them`, { exitCode: 1 });
    }
    return {
      bin,
      version: this.config.version,
      commands: commands
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((c): CommandHelp => {
          const name = c.id.replaceAll(':', ' ');
          const description = c.description ?? '';
          const args = Object.values(c.args ?? {}).map((a) => ({ name: a.name, description: a.description ?? null, required: Boolean(a.required) }));
          const flags = Object.values(c.flags ?? {}).map((f) => ({
            name: f.name,
            char: f.char ?? null,
            description: f.description ?? null,
            type: f.type,
            required: Boolean(f.required),
            default: f.default ?? null,
            options: f.type === 'option' && f.options ? [...f.options] : null,
            multiple: f.type === 'option' ? Boolean(f.multiple) : false,
          }));
          const argText = args.map((a) => (a.required ? a.name.toUpperCase() : `[${a.name.toUpperCase()}]`)).join(' ');
          const flagText = flags.some((f) => f.name !== 'json') ? ' [FLAGS]' : '';
          return {
            command: name,
            summary: c.summary ?? firstSentence(description),
            description,
            usage: `${bin} ${name} ${argText}${flagText} [--json]`.replace(/\s+/g, ' ').trim(),
            args,
            flags,
            examples: (c.examples ?? []).map((e) => (typeof e === 'string' ? e : e.command).replaceAll('<%= config.bin %>', bin)),
          };
        }),
    };
  }
}

function firstSentence(text: string): string {
  const m = /^(.+?[.!?])(\s|$)/s.exec(text);
  return (m ? m[1] : text).split('\n')[0];
}
