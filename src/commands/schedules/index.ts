import { BaseCommand } from '../../cli/base-command.js';
import { schedulesText } from '../../ui/schedules.js';

export default class Schedules extends BaseCommand {
  static override description = 'List workflow schedules with their next and last fire times; `schedules pause|resume WORKFLOW` controls one.';

  async run(): Promise<void> {
    await this.parse(Schedules);
    const client = await this.client();
    const r = await client.request('schedules.list', {});
    this.emit(r.schedules, () => schedulesText(r.schedules));
  }
}
