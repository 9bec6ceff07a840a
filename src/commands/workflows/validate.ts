import { Args } from '../../cli/oclif.js';
import { resolve } from 'node:path';
import { BaseCommand } from '../../cli/base-command.js';
import { channelNames, loadConfig } from '../../config/load.js';
import { resolvePaths } from '../../config/paths.js';
import { formatWorkflowProblem, validateWorkflowFile } from '../../workflows/registry.js';

export default class WorkflowsValidate extends BaseCommand {
  static override description = 'Check one workflow file without running it (no daemon needed). Exits 1 and prints each problem as file:line: path: message.';
  static override args = { file: Args.string({ description: 'workflow YAML file', required: true }) };
  static override examples = ['<%= config.bin %> workflows validate ~/.config/opstream/workflows/nightly.yaml'];

  async run(): Promise<void> {
    const { args } = await this.parse(WorkflowsValidate);
    const file = resolve(args.file);
    // notify channels are checked against this user's config when it loads (it is optional here)
    let channels;
    try {
      channels = channelNames(loadConfig(resolvePaths(process.env)));
    } catch {
      channels = undefined;
    }
    const r = validateWorkflowFile(file, channels);
    const ok = r.problems.length === 0 && r.workflow !== undefined;
    const warnings = r.warnings ?? [];
    this.emit({ ok, file, id: r.workflow?.id ?? r.id ?? null, problems: r.problems, warnings }, () => (ok ? `ok: ${file} (workflow ${r.workflow?.id}, ${r.workflow?.steps.length} top-level step(s))` : ''));
    if (!this.jsonMode) for (const w of warnings) process.stderr.write(`warning: ${formatWorkflowProblem(w)}\n`);
    if (!ok) {
      if (!this.jsonMode) for (const p of r.problems) process.stderr.write(`${formatWorkflowProblem(p)}\n`);
      else process.stderr.write(`opstream: ${file}: ${r.problems.length} problem(s)\n`);
      process.exitCode = 1;
    }
  }
}
