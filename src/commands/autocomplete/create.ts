import { BaseCommand } from '../../cli/base-command.js';
import { runAutocomplete } from '../../cli/autocomplete.js';

export default class AutocompleteCreate extends BaseCommand {
  static override description = 'Create the completion scripts and cache (run by `opstream autocomplete`).';
  static override hidden = true;
  static override strict = false;

  async run(): Promise<void> {
    await runAutocomplete('create', this.argv, this.config);
  }
}
