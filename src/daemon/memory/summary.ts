import { findAnalysis } from '../../ops-server/analysis/find.js';
import type { RunRecord } from '../engine/types.js';
import { redact } from '../llm/index.js';

/** What OpStream remembers of one finished run: what it found and what fixed it. */
export interface RunSummary {
  /** The run id (one summary per run). */
  id: string;
  workflow: string;
  /** The thing the run was about: params.service, else a URL, else the workflow. */
  service: string;
  outcome: string;
  at: string;
  headline: string;
  root_cause: string | null;
  findings: string[];
  fixes: string[];
  /** Everything above as one text: what full-text search and embeddings see. */
  text: string;
}

export function serviceOf(params: Record<string, unknown>, workflow: string): string {
  for (const k of ['service', 'target', 'host', 'url']) if (typeof params[k] === 'string' && params[k]) return String(params[k]);
  return workflow;
}

function strings(v: unknown, out: string[], depth = 0): void {
  if (depth > 3 || v === null || v === undefined) return;
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.slice(0, 10).forEach((x) => strings(x, out, depth + 1));
  else if (typeof v === 'object') for (const x of Object.values(v)) strings(x, out, depth + 1);
}

/**
 * Builds the summary from the run's recorded outputs: the deterministic analysis (headline, root
 * cause, findings and their suggested fixes), agent answers (summary/explanation/fixes fields),
 * and decisions that fixed something (approved approvals, a recorded recovery). Secrets are masked
 * with the same patterns that guard model prompts, so memory never holds a token.
 */
export function summarize(run: RunRecord, extraRedact: RegExp[] = []): RunSummary {
  const top = Object.entries(run.steps).filter(([p]) => !p.includes('.') && !p.includes('['));
  const nested = Object.entries(run.steps);
  const found = findAnalysis(top.map(([id, st]) => ({ id, output: st.output })));
  const findings: string[] = [];
  const fixes: string[] = [];
  let headline = `${run.workflow} ${run.status}`;
  let rootCause: string | null = null;
  if (found) {
    headline = found.analysis.summary.headline;
    rootCause = found.analysis.summary.root_cause;
    for (const f of found.analysis.findings.slice(0, 6)) {
      findings.push(`[${f.severity}] ${f.title}`);
      if (f.suggested_fix) fixes.push(f.suggested_fix);
    }
  }
  for (const [, st] of nested) {
    const out = st.output as Record<string, unknown> | null;
    if (!out || typeof out !== 'object' || Array.isArray(out)) continue;
    // an agent's structured answer
    for (const k of ['summary', 'explanation', 'root_cause', 'diagnosis']) if (typeof out[k] === 'string') findings.push(String(out[k]));
    if (Array.isArray(out.fixes)) for (const f of out.fixes.slice(0, 6)) strings(f, fixes);
    // a person's decision and what it led to
    if (out.decision === 'approved' && typeof out.by === 'string') fixes.push(`approved by ${out.by}${typeof out.comment === 'string' ? ` (${out.comment})` : ''}`);
    const slo = (out as { slo?: { status?: string; time_to_recovery?: string } }).slo;
    if (slo?.status === 'recovered' && slo.time_to_recovery) fixes.push(`recovered in ${slo.time_to_recovery}`);
  }
  for (const [, st] of top) if (typeof st.output === 'string' && st.output.length < 2000 && st.agent) findings.push(st.output);
  if (run.error) findings.push(`error: ${run.error}`);
  const service = serviceOf(run.params, run.workflow);
  const uniq = (xs: string[]): string[] => [...new Set(xs.map((x) => x.trim()).filter(Boolean))].slice(0, 12);
  const f = uniq(findings);
  const x = uniq(fixes);
  const text = [`${run.workflow} on ${service}: ${headline}`, rootCause ? `Root cause: ${rootCause}` : '', ...f, ...(x.length ? [`Fixed by / suggested: ${x.join('; ')}`] : [])].filter(Boolean).join('\n');
  const clean = (s: string): string => redact(s, extraRedact);
  return {
    id: run.id,
    workflow: run.workflow,
    service,
    outcome: run.status,
    at: run.ended_at ?? new Date().toISOString(),
    headline: clean(headline),
    root_cause: rootCause ? clean(rootCause) : null,
    findings: f.map(clean),
    fixes: x.map(clean),
    text: clean(text),
  };
}
