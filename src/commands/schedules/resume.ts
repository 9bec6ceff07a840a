import { Args } from '../../cli/oclif.js';
import { BaseCommand } from '../../cli/base-command.js';
import { schedulesText } from '../../ui/schedules.js';

export default class SchedulesResume extends BaseCommand {
  static override description = 'Resume the schedule of a workflow (fire times missed while paused are not caught up).';
  static override args = { workflow: Args.string({ description: 'workflow: its command word, id or name', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(SchedulesResume);
    const client = await this.client();
    const s = await client.request('schedules.resume', { workflow: args.workflow });
    this.emit(s, () => schedulesText([s]));
  }
}
