import { analyzeSamples } from '../../ops-server/analysis/analyze.js';
import { findAnalysis } from '../../ops-server/analysis/find.js';
import type { AnalyzeOutput } from '../../ops-server/analysis/schema.js';
import { WireError, type Result, type RunJson } from '../../protocol/index.js';

const ACTIVE = new Set(['queued', 'running', 'waiting', 'paused']);

/**
 * `runs.report`: the findings of a run, shared by the CLI's `report`, the notifier's completion
 * headline and (later) the dashboard and Slack. A run still sampling gets a preliminary analysis of
 * what it has recorded so far, by the same deterministic code the workflow's analyze step runs.
 */
export function buildReport(run: RunJson, workflowName: string | null = null): Result<'runs.report'> {
  let found = findAnalysis(run.steps);
  let preliminary = false;
  if (!found) {
    if (!ACTIVE.has(run.status)) {
      throw new WireError('not_found', `run ${run.id} (${run.workflow}) ${run.status} without an analysis to report${run.error ? `: ${run.error}` : ''}`);
    }
    const analysis = analyzeSamples({ iterations: run.steps.map((s) => s.output ?? null), started_at: run.started_at ?? undefined });
    if (analysis.window.samples.http + analysis.window.samples.process + analysis.window.samples.log === 0) {
      throw new WireError('invalid_state', `run ${run.id} is ${run.status} and has no samples yet; try again in a moment`, { retryable: true });
    }
    found = { step: run.current_step ?? 'sample', analysis };
    preliminary = true;
  }
  return {
    run: { id: run.id, workflow: run.workflow, workflow_name: workflowName, status: run.status, params: run.params, started_at: run.started_at, ended_at: run.ended_at },
    step: found.step,
    preliminary,
    progress: run.progress.fraction,
    usage: run.usage,
    analysis: found.analysis,
  };
}

/** The one-line outcome a completion notification leads with ("Found 3 performance bottlenecks"). */
export function headlineOf(steps: readonly { id: string; output?: unknown }[]): { headline: string; root_cause: string | null; summary: AnalyzeOutput['summary'] } | null {
  const found = findAnalysis(steps);
  if (!found) return null;
  const s = found.analysis.summary;
  return { headline: s.headline, root_cause: s.root_cause, summary: s };
}
