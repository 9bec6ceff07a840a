import { Args } from '../../cli/oclif.js';
import { resolve } from 'node:path';
import { BaseCommand } from '../../cli/base-command.js';
import { channelNames, loadConfig, type CompiledConfig } from '../../config/load.js';
import { resolvePaths } from '../../config/paths.js';
import { formatWorkflowProblem, validateWorkflowFile, type WorkflowProblem } from '../../workflows/registry.js';
import { configCatalog, daemonCatalog, type ToolCatalog } from '../../workflows/tool-catalog.js';

export default class WorkflowsValidate extends BaseCommand {
  static override description = [
    'Check one workflow file without running it. Reports every problem in one pass, each as file:line:column: path: message, with the nearest known name when one is close (keys, step kinds, tools, step and param references), and exits 1 when there are any.',
    'Tool names are checked against the built-in ops tools and, when the daemon is running, the tools its MCP servers list; a server that could not be asked is named in a warning. Never starts the daemon.',
  ].join('\n\n');
  static override args = { file: Args.string({ description: 'workflow YAML file', required: true }) };
  static override examples = ['<%= config.bin %> workflows validate ~/.config/opstream/workflows/nightly.yaml', '<%= config.bin %> workflows validate nightly.yaml --json'];

  async run(): Promise<void> {
    const { args } = await this.parse(WorkflowsValidate);
    const file = resolve(args.file);
    const notes: WorkflowProblem[] = [];
    // notify channels and MCP servers come from this user's config when it loads (it is optional here)
    let config: CompiledConfig | null = null;
    try {
      config = loadConfig(resolvePaths(process.env));
    } catch {
      notes.push({ file, path: '', line: null, message: 'config.yaml has problems (opstream doctor shows them), so notification channels and configured MCP servers were not checked' });
    }
    const tools = await this.toolCatalog(config);
    const r = validateWorkflowFile(file, { channels: config ? channelNames(config) : undefined, tools });
    const ok = r.problems.length === 0 && r.workflow !== undefined;
    const warnings = [...notes, ...(r.warnings ?? [])];
    this.emit({ ok, file, id: r.workflow?.id ?? r.id ?? null, problems: r.problems, warnings }, () => (ok ? `ok: ${file} (workflow ${r.workflow?.id}, ${r.workflow?.steps.length} top-level step(s))` : ''));
    if (!this.jsonMode) for (const w of warnings) process.stderr.write(`warning: ${formatWorkflowProblem(w)}\n`);
    if (!ok) {
      if (!this.jsonMode) for (const p of r.problems) process.stderr.write(`${formatWorkflowProblem(p)}\n`);
      else process.stderr.write(`opstream: ${file}: ${r.problems.length} problem(s)\n`);
      process.exitCode = 1;
    }
  }

  /** The daemon's tools when it is running (it is never started for this), else what config knows. */
  private async toolCatalog(config: CompiledConfig | null): Promise<ToolCatalog> {
    let client;
    try {
      client = await this.client({ autoStart: false });
    } catch (e) {
      const why = /not running/.test((e as Error).message) ? 'the daemon is not running, so the server was not asked (start it with `opstream daemon start` to check them)' : `the daemon could not be asked (${(e as Error).message})`;
      return configCatalog(config, why);
    }
    try {
      const r = await client.request('tools.list', {});
      return daemonCatalog(
        config,
        r.servers.map((s) => ({ name: s.name, state: s.state, reason: s.reason, tools: r.tools.filter((t) => t.server === s.name).map((t) => t.tool) })),
      );
    } catch (e) {
      return configCatalog(config, `the daemon could not list its tools (${(e as Error).message})`);
    }
  }
}
