import { Args } from '../../cli/oclif.js';
import { resolve } from 'node:path';
import { BaseCommand } from '../../cli/base-command.js';
import { formatWorkflowProblem, validateWorkflowFile } from '../../workflows/registry.js';

export default class WorkflowsValidate extends BaseCommand {
  static override description = 'Check one workflow file without running it (no daemon needed). Exits 1 and prints each problem as file:line: path: message.';
  static override args = { file: Args.string({ description: 'workflow YAML file', required: true }) };
  static override examples = ['<%= config.bin %> workflows validate ~/.config/opstream/workflows/nightly.yaml'];

  async run(): Promise<void> {
    const { args } = await this.parse(WorkflowsValidate);
    const file = resolve(args.file);
    const r = validateWorkflowFile(file);
    const ok = r.problems.length === 0 && r.workflow !== undefined;
    this.emit({ ok, file, id: r.workflow?.id ?? r.id ?? null, problems: r.problems }, () => (ok ? `ok: ${file} (workflow ${r.workflow?.id}, ${r.workflow?.steps.length} top-level step(s))` : ''));
    if (!ok) {
      if (!this.jsonMode) for (const p of r.problems) process.stderr.write(`${formatWorkflowProblem(p)}\n`);
      else process.stderr.write(`opstream: ${file}: ${r.problems.length} problem(s)\n`);
      process.exitCode = 1;
    }
  }
}
