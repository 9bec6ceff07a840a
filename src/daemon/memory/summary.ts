import { findAnalysis } from '../../ops-server/analysis/find.js';
import { AnalyzeOutput } from '../../ops-server/analysis/schema.js';
import type { RunRecord } from '../engine/types.js';
import { redact } from '../llm/index.js';
import { appliedText, rejectedText, type AppliedFix, type RejectedProposal } from '../../protocol/memory-text.js';

export { appliedText, rejectedText, type AppliedFix, type RejectedProposal };

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
  /** Suggested fixes (the analysis's, an agent's) and decisions, as text. */
  fixes: string[];
  /** Fixes a person approved and the run applied, with their measured effect. Absent in summaries kept before. */
  applied?: AppliedFix[];
  /** Proposed fixes a person rejected (or that timed out into a rejection), with who and why. */
  rejected?: RejectedProposal[];
  /** Everything above as one text: what full-text search and embeddings see. */
  text: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function asAnalysis(v: unknown): AnalyzeOutput | null {
  if (!isObj(v) || !isObj(v.summary) || !Array.isArray(v.findings)) return null;
  const r = AnalyzeOutput.safeParse(v);
  return r.success ? r.data : null;
}

/** Analyses anywhere in an episode (a few levels deep: a repeat's iterations), in step order. */
function analysesIn(v: unknown, out: AnalyzeOutput[] = [], depth = 0): AnalyzeOutput[] {
  if (depth > 4) return out;
  const a = asAnalysis(v);
  if (a) out.push(a);
  else if (Array.isArray(v)) for (const x of v) analysesIn(x, out, depth + 1);
  else if (isObj(v)) for (const x of Object.values(v)) analysesIn(x, out, depth + 1);
  return out;
}

/**
 * The places a decision was taken with what it was about: the run's top-level step outputs, and
 * each iteration of a repeat (an SLO watch decides once per breach, inside its loop).
 */
function episodes(run: RunRecord): Obj[] {
  const top: Obj = {};
  for (const [path, st] of Object.entries(run.steps)) if (!path.includes('.') && !path.includes('[') && !path.includes('/')) top[path] = st.output ?? st.outputs ?? null;
  const out = [top];
  for (const v of Object.values(top)) if (Array.isArray(v)) for (const it of v) if (isObj(it)) out.push(it);
  return out;
}

/** What was decided in one episode, with the proposal it was about and, once applied, its effect. */
function decisionsIn(ep: Obj, run: RunRecord, applied: AppliedFix[], rejected: RejectedProposal[]): void {
  const decisions = Object.entries(ep).filter(([, v]) => isObj(v) && (v.decision === 'approved' || v.decision === 'rejected') && typeof v.by === 'string') as [string, Obj][];
  if (!decisions.length) return;
  const analyses = analysesIn(ep);
  const rem = analyses.find((a) => a.remediation)?.remediation ?? null;
  const call = Object.values(ep).find((v): v is Obj => isObj(v) && typeof v.method === 'string' && typeof v.url === 'string' && typeof v.ok === 'boolean');
  const p = run.params;
  const proposal = rem?.call ?? (call ? `${String(call.method)} ${String(call.url)}` : typeof p.remediation_url === 'string' ? `${typeof p.remediation_method === 'string' ? p.remediation_method : 'POST'} ${p.remediation_url}` : null);
  const breach = analyses.find((a) => a.slo && !a.slo.met)?.slo ?? null;
  const forWhat = rem?.subject ?? breach?.reason ?? null;
  for (const [step, d] of decisions) {
    const who = String(d.by);
    const comment = typeof d.comment === 'string' && d.comment ? d.comment : null;
    const at = typeof d.at === 'string' ? d.at : null;
    const what = proposal ?? `what the approval step ${step} asked for`;
    if (d.decision === 'rejected') {
      rejected.push({ proposal: what, for: forWhat, by: who, comment, at });
      continue;
    }
    const fix: AppliedFix = { fix: what, for: forWhat, by: who, comment, at, effect: null, confirmed: null };
    const verification = analyses.find((a) => a.verification)?.verification;
    if (call && call.ok === false) Object.assign(fix, { effect: `the call failed: HTTP ${String(call.status)}`, confirmed: false });
    else if (verification) Object.assign(fix, { effect: verification.effect, confirmed: verification.confirmed });
    else if (breach) {
      // an SLO: the breaching check against the last check that met the objectives
      const after = [...analyses].reverse().find((a) => a.slo?.status === 'met')?.slo;
      const recovered = analyses.find((a) => a.slo?.status === 'recovered')?.slo;
      const latency = breach.objectives.latency_ms !== null && breach.latency_ms !== null && breach.latency_ms > breach.objectives.latency_ms;
      const what2 = latency ? `${breach.objectives.latency_percentile} latency` : 'availability';
      const val = (s: NonNullable<typeof breach>): string => (latency ? `${s.latency_ms} ms` : `${s.availability_pct}%`);
      if (after) fix.effect = `${serviceOf(p, run.workflow)} ${what2} ${val(breach)} -> ${val(after)}${recovered?.time_to_recovery ? `, recovered in ${recovered.time_to_recovery}` : ''}`;
      fix.confirmed = after ? true : analyses.some((a) => a.slo) ? false : null;
    }
    applied.push(fix);
  }
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
  // a watch that was cancelled never finished its loop: its finished checks are in `outputs`
  const found = findAnalysis(top.map(([id, st]) => ({ id, output: st.output ?? st.outputs })));
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
  const applied: AppliedFix[] = [];
  const rejected: RejectedProposal[] = [];
  for (const ep of episodes(run)) decisionsIn(ep, run, applied, rejected);
  if (run.error) findings.push(`error: ${run.error}`);
  const service = serviceOf(run.params, run.workflow);
  const uniq = (xs: string[]): string[] => [...new Set(xs.map((x) => x.trim()).filter(Boolean))].slice(0, 12);
  const f = uniq(findings);
  const x = uniq(fixes);
  const clean = (s: string): string => redact(s, extraRedact);
  const cleanStr = (s: string | null): string | null => (s === null ? null : clean(s));
  const a = applied.slice(-6).map((x) => ({ ...x, fix: clean(x.fix), for: cleanStr(x.for), comment: cleanStr(x.comment), effect: cleanStr(x.effect) }));
  const r = rejected.slice(-6).map((x) => ({ ...x, proposal: clean(x.proposal), for: cleanStr(x.for), comment: cleanStr(x.comment) }));
  const text = [`${run.workflow} on ${service}: ${headline}`, rootCause ? `Root cause: ${rootCause}` : '', ...f, ...a.map(appliedText), ...r.map(rejectedText), ...(x.length ? [`Fixed by / suggested: ${x.join('; ')}`] : [])].filter(Boolean).join('\n');
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
    applied: a,
    rejected: r,
    text: clean(text),
  };
}
