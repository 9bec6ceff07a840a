import { BaseCommand } from '../../cli/base-command.js';
import type { WorkflowInfo } from '../../protocol/index.js';
import { formatWorkflowProblem } from '../../workflows/registry.js';
import { table } from '../../ui/format.js';

function scheduleText(s: WorkflowInfo['schedule']): string | null {
  if (s === null || s === undefined) return null;
  if (typeof s === 'string') return s;
  const o = s as { cron?: string; enabled?: boolean };
  return `${o.cron ?? '?'}${o.enabled === false ? ' (off)' : ''}`;
}

export default class Workflows extends BaseCommand {
  static override description = 'List the workflows the daemon has loaded (shipped and your own) and the problems of files that failed validation.';
  static override examples = ['<%= config.bin %> workflows', '<%= config.bin %> workflows --json', '<%= config.bin %> workflows validate ./my-workflow.yaml'];

  async run(): Promise<void> {
    await this.parse(Workflows);
    const client = await this.client();
    const r = await client.request('workflows.list', {});
    this.emit(r, () => {
      if (r.workflows.length === 0) return 'no workflows (add YAML files to your workflows dir)';
      const rows = r.workflows.map((w) => [
        w.id ?? '?',
        w.command ? `${w.command}${w.usage ? ` ${w.usage}` : ''}` : null,
        scheduleText(w.schedule),
        w.overrides ? `${w.source} (overrides shipped)` : w.source,
        w.problems.length === 0 ? 'ok' : `${w.problems.length} problem(s)`,
      ]);
      const lines = [table(['ID', 'COMMAND', 'SCHEDULE', 'SOURCE', 'PROBLEMS'], rows)];
      if (r.problems.length > 0) lines.push('', ...r.problems.map(formatWorkflowProblem));
      return lines.join('\n');
    });
  }
}
