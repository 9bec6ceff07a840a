import { BaseCommand } from '../../cli/base-command.js';
import { runAutocomplete } from '../../cli/autocomplete.js';

export default class AutocompleteScript extends BaseCommand {
  static override description = 'Print the completion setup line for a shell (used by the setup instructions).';
  static override hidden = true;
  static override strict = false;

  async run(): Promise<void> {
    await runAutocomplete('script', this.argv, this.config);
  }
}
