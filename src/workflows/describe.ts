import type { WorkflowInfo, WorkflowProblem } from '../protocol/methods/workflows.js';
import type { WorkflowSet } from './registry.js';

/**
 * The listing `workflows.list` returns: runnable workflows, then invalid files, ordered by id/file.
 * `toolProblems` (by file): tools a loaded workflow names that its server does not list now; such a
 * workflow still loads (`valid`: it can start, the server may gain the tool) but shows the problem.
 */
export function describeWorkflows(set: WorkflowSet, toolProblems: ReadonlyMap<string, WorkflowProblem[]> = new Map()): { workflows: WorkflowInfo[]; problems: WorkflowProblem[] } {
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
    problems: toolProblems.get(file) ?? [],
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
  return { workflows: [...valid, ...invalid], problems: [...set.problems, ...[...toolProblems.values()].flat()] };
}
