import { Args } from '../../cli/oclif.js';
import { BaseCommand } from '../../cli/base-command.js';
import { schedulesText } from '../../ui/schedules.js';

export default class SchedulesPause extends BaseCommand {
  static override description = 'Pause the schedule of a workflow.';
  static override args = { workflow: Args.string({ description: 'workflow: its command word, id or name', required: true }) };

  async run(): Promise<void> {
    const { args } = await this.parse(SchedulesPause);
    const client = await this.client();
    const s = await client.request('schedules.pause', { workflow: args.workflow });
    this.emit(s, () => schedulesText([s]));
  }
}
