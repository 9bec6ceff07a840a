import type { WorkflowInfo, WorkflowProblem } from '../protocol/methods/workflows.js';
import type { WorkflowSet } from './registry.js';

/** The listing `workflows.list` returns: runnable workflows, then invalid files, ordered by id/file. */
export function describeWorkflows(set: WorkflowSet): { workflows: WorkflowInfo[]; problems: WorkflowProblem[] } {
  const valid: WorkflowInfo[] = [...set.workflows.values()].map(({ workflow: w, file, source, overrides }) => ({
    id: w.id,
    name: w.name ?? null,
    description: w.description ?? null,
    command: w.command ?? null,
    usage: w.usage ?? null,
    params: w.params,
    schedule: w.schedule ?? null,
    source,
    file,
    valid: true,
    overrides: overrides ?? null,
    problems: [],
  }));
  const invalid: WorkflowInfo[] = set.invalid.map((f) => ({
    id: f.id,
    name: null,
    description: null,
    command: null,
    usage: null,
    params: {},
    schedule: null,
    source: f.source,
    file: f.file,
    valid: false,
    overrides: null,
    problems: f.problems,
  }));
  valid.sort((a, b) => (a.id ?? '').localeCompare(b.id ?? ''));
  invalid.sort((a, b) => a.file.localeCompare(b.file));
  return { workflows: [...valid, ...invalid], problems: set.problems };
}
