import { Args } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { renderReport } from '../ui/report.js';

export default class Report extends BaseCommand {
  static override description =
    "Print a run's report, titled after its workflow (profiling, SLO...): its findings with evidence, the worst series as a chart, and suggested fixes. " +
    'For a run still sampling, a preliminary report of the samples so far.';
  static override args = { id: Args.string({ description: 'run id (from `opstream start` or `opstream list`)', required: true }) };
  static override examples = ['<%= config.bin %> report r_8f3k2m', '<%= config.bin %> report r_8f3k2m --json'];

  async run(): Promise<void> {
    const { args } = await this.parse(Report);
    const client = await this.client();
    const r = await client.request('runs.report', { id: args.id });
    this.emit(r, () => {
      const u = r.usage;
      const usage = u ? `\nUsage: ${u.tool_calls} tool call(s)${u.llm_calls ? `, ${u.llm_calls} model call(s), ${u.prompt_tokens} prompt + ${u.completion_tokens} completion tokens${u.unknown_counts ? ` (${u.unknown_counts} call(s) with unknown counts)` : ''}` : ''}\n` : '';
      const text = renderReport(r.analysis, r.run) + usage;
      if (!r.preliminary) return text;
      const pct = r.progress === null ? '' : `, ${Math.round(r.progress * 100)}% done`;
      return `(preliminary: the run is ${r.run.status}${pct}; this covers the samples so far)\n${text}`;
    });
  }
}
