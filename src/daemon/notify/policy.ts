import type { Workflow } from '../../workflows/schema.js';
import { stepAt } from '../engine/step-paths.js';
import type { RunEvent, RunRecord } from '../engine/types.js';
import { headlineOf } from '../reports/report.js';
import { outcomeOf } from '../../protocol/run-view.js';
import { approvalPreview } from './approval-preview.js';
import type { Draft } from './types.js';

/**
 * What is worth telling a person about a run, decided from its recorded events. The engine only
 * records what happened; this is the one place that turns that into notifications, following the
 * workflow's `notifications:` kinds (start, milestones, completion, errors). Approvals and input
 * requests always notify: a run waiting for a person must reach one.
 */
export function draftsFor(run: RunRecord, def: Workflow | undefined, ev: RunEvent, wants: ReadonlySet<string>): Draft[] {
  const name = `${run.workflow} ${run.id}`;
  switch (ev.type) {
    case 'run.started':
      return wants.has('start') ? [{ kind: 'start', level: 'info', title: `${name} started`, text: startText(run) }] : [];
    case 'step.succeeded': {
      const m = ev.step && def ? stepAt(def, ev.step)?.milestone : undefined;
      return m && wants.has('milestones') ? [{ kind: 'milestone', level: 'info', title: `${name}: ${m}`, text: m, step: ev.step }] : [];
    }
    case 'run.succeeded': {
      if (!wants.has('completion')) return [];
      const topSteps = Object.entries(run.steps)
        .filter(([path]) => !path.includes('/') && !path.includes('['))
        .map(([id, st]) => ({ id, output: st.output }));
      const h = headlineOf(topSteps);
      const took = run.started_at ? ` in ${humanMs(Date.now() - Date.parse(run.started_at))}` : '';
      // a rejected remediation is part of how the run ended (the same phrase every screen shows)
      const outcome = outcomeOf(run);
      const rejected = outcome !== 'succeeded' ? `, ${outcome.replace(/^succeeded, /, '')}` : '';
      const decided = (run.decisions ?? []).filter((d) => d.decision === 'rejected' && !d.args_hash).map((d) => `\nRejected by ${d.by}${d.comment ? `: ${d.comment}` : ''}`).join('');
      if (h) {
        const text = `${h.headline}${h.root_cause ? `\nLikely root cause: ${h.root_cause}` : ''}\nReport: opstream report ${run.id}`;
        return [{ kind: 'completion', level: h.summary.critical > 0 ? 'warning' : 'info', title: `${name} succeeded${took}${rejected}: ${h.headline}`, text: `${text}${decided}`, data: { headline: h.headline, root_cause: h.root_cause, bottlenecks: h.summary.bottlenecks, critical: h.summary.critical } }];
      }
      return [{ kind: 'completion', level: 'info', title: `${name} succeeded${took}${rejected}`, text: `Details: opstream status ${run.id}${decided}` }];
    }
    case 'run.failed':
      return wants.has('errors') ? [{ kind: 'error', level: 'critical', title: `${name} ${outcomeOf(run) === 'rejected' ? 'was rejected' : 'failed'}${ev.step ? ` in step ${String(ev.step)}` : ''}`, text: String(ev.error ?? 'failed'), step: (ev.step as string | null) ?? null }] : [];
    case 'step.waiting': {
      const w = run.waiting_for;
      if (w?.kind === 'llm' && w.llm_attempt === 1) {
        // once per outage, not on every retry
        const what = w.reason === 'model_not_pulled' ? `model ${w.model} is not pulled at ${w.host}` : `the model ${w.model} at ${w.host} is unreachable`;
        return [{ kind: 'llm', level: 'warning', title: `${name} waits for the LLM: ${what}`, text: `${w.prompt ?? ''}${w.hint ? `\nFix: ${w.hint}` : ''}\nThe step retries with backoff; opstream status ${run.id} shows the next try.`, step: w.step, data: { host: w.host, model: w.model, hint: w.hint ?? null } }];
      }
      if (!w || (w.kind !== 'approval' && w.kind !== 'input')) return [];
      // granted by policy in the same commit (auto_resolve): nobody needs to be asked
      if (w.kind === 'approval' && w.resolve && def?.auto_resolve) return [];
      const how = w.kind === 'approval' ? `opstream approve ${run.id}  /  opstream reject ${run.id} --comment "why"` : `opstream respond ${run.id} "your answer"`;
      const until = w.until ? ` (answer before ${w.until}; then ${w.kind === 'approval' ? (w.on_timeout ?? 'reject') : 'the step fails'})` : '';
      return [
        {
          kind: w.kind,
          // routed as critical (webhook `levels`), shown as what it is: a question, not an outage
          level: 'warning',
          title: `${name} needs ${w.kind === 'approval' ? 'an approval' : 'an answer'}`,
          text: `${w.prompt ?? ''}${until}\n${how}`,
          step: w.step,
          data: { prompt: w.prompt ?? '', until: w.until ?? null, approvers: w.approvers ?? [], answer: how, ...waitDetails(run, def, ev, w), ...(w.args_hash ? { tool: w.tool, args: w.args, args_hash: w.args_hash } : {}) },
        },
      ];
    }
    case 'run.paused':
      return ev.reason && String(ev.reason).startsWith('budget') ? [{ kind: 'budget', level: 'warning', title: `${name} paused: over its budget`, text: `${String(ev.reason)}\nopstream resume ${run.id} to continue with one more budget`, step: run.current_step }] : [];
    default:
      return [];
  }
}

/**
 * What rich channels need to let a person answer in place: the event that opened this wait (an
 * answer is only valid for that wait, e.g. a button clicked after a restart), whether the
 * workflow marks the approval urgent (it may break through quiet hours), the step's `on_timeout`,
 * and what approving lets the run do next (tool, arguments, argument hash). An approval that
 * carries its own tool call (the AI core's) keeps its own tool, arguments and hash.
 */
function waitDetails(run: RunRecord, def: Workflow | undefined, ev: RunEvent, w: NonNullable<RunRecord['waiting_for']>): Record<string, unknown> {
  const out: Record<string, unknown> = { wait_seq: ev.seq, on_timeout: w.on_timeout ?? null };
  const step = def ? stepAt(def, w.step) : undefined;
  if (step?.approval?.urgent) out.urgent = true;
  const own = w as unknown as { tool?: string; args?: Record<string, unknown>; args_hash?: string };
  if (w.kind === 'approval' && own.tool) out.next = { step: w.step, tool: own.tool, args: own.args ?? {}, args_hash: own.args_hash ?? null };
  else if (w.kind === 'approval' && def) {
    const next = approvalPreview(run, def, w.step);
    if (next) out.next = next;
  }
  return out;
}

function startText(run: RunRecord): string {
  // the params given, not every default (the outline recorded with the run knows them)
  const defaults = run.outline?.defaults ?? {};
  const p = Object.entries(run.params).filter(([k, v]) => !(k in defaults && JSON.stringify(defaults[k]) === JSON.stringify(v))).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
  return `started${p ? ` with ${p}` : ''}; follow it with: opstream logs ${run.id} --follow`;
}

function humanMs(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  return `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ''}`;
}
