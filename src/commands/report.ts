import { Args } from '../cli/oclif.js';
import { BaseCommand } from '../cli/base-command.js';
import { LocalError } from '../client/errors.js';
import { analyzeSamples } from '../ops-server/analysis/analyze.js';
import { findAnalysis, renderReport } from '../ui/report.js';

const ACTIVE = new Set(['queued', 'running', 'waiting', 'paused']);

export default class Report extends BaseCommand {
  static override description =
    "Print a profiling run's report: its bottlenecks with evidence, the worst series as a chart, and suggested fixes. " +
    'For a run still sampling, a preliminary report of the samples so far.';
  static override args = { id: Args.string({ description: 'run id (from `opstream start` or `opstream list`)', required: true }) };
  static override examples = ['<%= config.bin %> report r_8f3k2m', '<%= config.bin %> report r_8f3k2m --json'];

  async run(): Promise<void> {
    const { args } = await this.parse(Report);
    const client = await this.client();
    const run = await client.request('runs.get', { id: args.id });
    let found = findAnalysis(run.steps);
    let preliminary = false;
    if (!found) {
      if (!ACTIVE.has(run.status)) {
        throw new LocalError(`run ${run.id} (${run.workflow}) ${run.status} without an analysis to report${run.error ? `: ${run.error}` : ''}`);
      }
      // still sampling: the same deterministic analysis over what has been recorded so far
      const analysis = analyzeSamples({ iterations: run.steps.map((s) => s.output ?? null), started_at: run.started_at ?? undefined });
      if (analysis.window.samples.http + analysis.window.samples.process + analysis.window.samples.log === 0) {
        throw new LocalError(`run ${run.id} is ${run.status} and has no samples yet; try again in a moment`);
      }
      found = { step: run.current_step ?? 'sample', analysis };
      preliminary = true;
    }
    const meta = { id: run.id, workflow: run.workflow, status: run.status, params: run.params, started_at: run.started_at, ended_at: run.ended_at };
    this.emit({ run: meta, step: found.step, preliminary, analysis: found.analysis }, () => {
      const text = renderReport(found.analysis, meta);
      if (!preliminary) return text;
      const pct = run.progress.fraction === null ? '' : `, ${Math.round(run.progress.fraction * 100)}% done`;
      return `(preliminary: the run is ${run.status}${pct}; this covers the samples so far)\n${text}`;
    });
  }
}
