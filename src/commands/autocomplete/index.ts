import { BaseCommand } from '../../cli/base-command.js';
import { Args, Flags } from '../../cli/oclif.js';
import { runAutocomplete } from '../../cli/autocomplete.js';

export default class Autocomplete extends BaseCommand {
  static override description = 'Show how to set up shell completion for opstream (bash, zsh or powershell): commands and flags complete.';
  static override args = { shell: Args.string({ description: 'bash, zsh or powershell (default: your $SHELL)', required: false }) };
  static override flags = { 'refresh-cache': Flags.boolean({ char: 'r', description: 'Rebuild the completion cache (after an upgrade).' }) };
  static override examples = ['<%= config.bin %> autocomplete bash', '<%= config.bin %> autocomplete zsh'];
  static override strict = false;

  async run(): Promise<void> {
    await this.parse(Autocomplete);
    await runAutocomplete('index', this.argv, this.config);
  }
}
