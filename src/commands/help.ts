import { Args, loadHelpClass } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';

/** `opstream help [COMMAND...]`: oclif's own help, the same text `COMMAND --help` prints. */
export default class Help extends BaseCommand {
  static override description = 'Show help for opstream, or for one command (e.g. `opstream help start`, `opstream help daemon start`).';
  static override strict = false;
  static override args = { command: Args.string({ description: 'command to show help for', required: false }) };
  static override examples = ['<%= config.bin %> help', '<%= config.bin %> help start'];

  async run(): Promise<void> {
    const { argv } = await this.parse(Help);
    const HelpClass = await loadHelpClass(this.config);
    await new HelpClass(this.config, this.config.pjson.oclif.helpOptions ?? {}).showHelp(argv as string[]);
  }
}
