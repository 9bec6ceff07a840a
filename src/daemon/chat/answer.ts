import { formatDuration } from '../../config/duration.js';
import { findAnalysis } from '../../ops-server/analysis/find.js';
import type { RunJson } from '../../protocol/index.js';
import { formatValue } from '../../ui/report.js';
import type { ChatServices } from './services.js';
import { ask } from '../memory/conversation.js';
import { isWireError } from '../../protocol/wire-error.js';

export interface RunAnswer {
  /** Plain text (the caller formats it for its medium). */
  answer: string;
  /** What it was answered from, e.g. ["run r_x", "step analyze"]. */
  sources: string[];
}

/**
 * A question about one run ("why?", "show me the details", "how far is it?"): the ONE place the
 * chat bridges (Slack, Discord) answer questions about a run. With a model configured it is `opstream ask` (the run's
 * stored outputs and memory, the conversation kept per run, no tool calls; `actor` is recorded);
 * without one, or when the model does not answer, it is answered from what the run stored: its
 * status and steps, and the findings of its analysis.
 */
export async function answerAboutRun(ctx: ChatServices, runId: string, question: string, actor: string): Promise<RunAnswer> {
  if (ctx.llm) {
    try {
      const r = await ask(ctx, runId, question, actor);
      return { answer: r.answer, sources: [`run ${runId}`, `conversation (${r.turns} question${r.turns === 1 ? '' : 's'})`] };
    } catch (e) {
      if (!isWireError(e) || e.code !== 'unavailable') throw e;
      const fallback = await storedAnswer(ctx, runId, question);
      return { answer: `${fallback.answer}\n(the model did not answer, so this is from the stored results: ${e.message})`, sources: fallback.sources };
    }
  }
  return storedAnswer(ctx, runId, question);
}

async function storedAnswer(ctx: ChatServices, runId: string, question: string): Promise<RunAnswer> {
  const run = await ctx.engine.get(runId);
  const q = question.toLowerCase();
  const found = findAnalysis(run.steps);
  const sources = [`run ${run.id}`];
  if (found) sources.push(`step ${found.step}`);
  const wantsWhy = /\bwhy\b|cause|reason|what happened|what went wrong|fail/.test(q);
  const wantsDetails = /detail|finding|show|report|more|explain|evidence|fix/.test(q);
  const wantsProgress = /progress|how far|how long|eta|when|status|still|done yet/.test(q);
  const out: string[] = [];

  if (wantsProgress || (!wantsWhy && !wantsDetails)) out.push(statusLine(run));
  if (wantsWhy) {
    if (run.status === 'failed') out.push(`It failed${run.current_step ? ` in step ${run.current_step}` : ''}: ${run.error ?? 'no error text was recorded'}.`);
    else if (run.status === 'cancelled') out.push('It was cancelled (opstream logs shows by whom).');
    const failedSteps = run.steps.filter((s) => s.status === 'failed' && s.error);
    for (const s of failedSteps.slice(0, 3)) if (run.status !== 'failed' || s.id !== run.current_step) out.push(`Step ${s.id} failed: ${s.error}`);
    if (found) {
      const s = found.analysis.summary;
      out.push(s.root_cause ? `Likely root cause: ${s.root_cause}` : `${s.headline}; no single root cause stands out.`);
      const f = found.analysis.findings[0];
      if (f) out.push(`The worst finding: ${f.title} (${formatValue(f.value, f.unit)} against a limit of ${formatValue(f.threshold, f.unit)}). Fix: ${f.suggested_fix}`);
    } else if (run.waiting_for) out.push(`It is waiting for ${run.waiting_for.kind === 'approval' ? 'an approval' : run.waiting_for.kind === 'input' ? 'an answer' : 'a timer'}${run.waiting_for.prompt ? `: ${run.waiting_for.prompt}` : ''}.`);
    if (out.length === 0) out.push(`Nothing went wrong that the run recorded: it is ${run.status}.`);
  }
  if (wantsDetails) {
    if (found) {
      const a = found.analysis;
      // Application Signals facts come from AWS's metrics and spans, not from samples of ours
      const aws = a.appsignals ? [[a.appsignals.operations.length, 'operations'], [a.appsignals.dependencies.length, 'dependencies']].filter(([n]) => n).map(([n, what]) => `${n} ${what}`).join(', ') : '';
      const from = a.appsignals ? `CloudWatch Application Signals${aws ? `: ${aws}` : ''}` : `${a.window.samples.http + a.window.samples.process + a.window.samples.log} samples`;
      out.push(`${a.summary.headline} over ${formatDuration(a.window.duration_ms)} (${from}).`);
      a.findings.slice(0, 5).forEach((f, i) => out.push(`${i + 1}. [${f.severity}] ${f.title}: ${formatValue(f.value, f.unit)} (limit ${formatValue(f.threshold, f.unit)}), ${f.samples_affected}/${f.samples_total} samples. Fix: ${f.suggested_fix}`));
      if (a.findings.length > 5) out.push(`… ${a.findings.length - 5} more: opstream report ${run.id}`);
      if (a.remediation) out.push(`Ready to apply after approval: ${a.remediation.call} (for ${a.remediation.subject}).`);
      if (a.slo) out.push(`SLO ${a.slo.status}${a.slo.reason ? `: ${a.slo.reason}` : ''}${a.slo.time_to_recovery ? `; recovered in ${a.slo.time_to_recovery}` : ''}.`);
    } else {
      out.push(`Steps: ${run.steps.filter((s) => !s.id.includes('.') && !s.id.includes('[')).map((s) => `${s.id} ${s.status}`).join(', ') || 'none yet'}.`);
      const last = [...run.steps].reverse().find((s) => s.status === 'succeeded' && s.output !== null && s.output !== undefined);
      if (last) out.push(`Latest output (${last.id}): ${preview(last.output)}`);
    }
  }
  if ((wantsDetails || wantsWhy) && run.waiting_for?.kind === 'approval' && !out.some((l) => l.startsWith('It is waiting'))) out.push(`It is waiting for an approval: ${run.waiting_for.prompt ?? run.waiting_for.step} (Approve, or reply "fix it" in this thread).`);
  return { answer: out.join('\n'), sources };
}

function statusLine(run: RunJson): string {
  const pct = run.progress.fraction !== null ? `, ${Math.round(run.progress.fraction * 100)}% done` : '';
  const eta = run.progress.eta && !['succeeded', 'failed', 'cancelled'].includes(run.status) ? `, expected to finish around ${run.progress.eta.slice(11, 16)} UTC` : '';
  const took = run.started_at ? ` (${formatDuration((run.ended_at ? Date.parse(run.ended_at) : Date.now()) - Date.parse(run.started_at))}${run.ended_at ? '' : ' so far'})` : '';
  const step = run.current_step && !run.ended_at ? `, at step ${run.current_step}` : '';
  return `${run.workflow} ${run.id} is ${run.status}${step}${pct}${eta}${took}.`;
}

function preview(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 400 ? `${s.slice(0, 400)}…` : s;
}
