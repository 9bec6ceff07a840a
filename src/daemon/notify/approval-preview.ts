import { createHash } from 'node:crypto';
import { evaluateCondition, render } from '../../workflows/template.js';
import type { Step, Workflow } from '../../workflows/schema.js';
import type { RunRecord } from '../engine/types.js';

/** What approving lets the run do next: the tool it calls and the arguments it calls it with. */
export interface ApprovalPreview {
  step: string;
  tool: string;
  args: Record<string, unknown>;
  /** sha256 of the canonical JSON of `args` (first 16 hex): what the person approved, comparable later. */
  args_hash: string;
}

/** JSON with object keys sorted, so equal arguments always hash the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export function argsHash(args: unknown): string {
  return createHash('sha256').update(canonicalJson(args)).digest('hex').slice(0, 16);
}

/**
 * For an approval step at `path`: the first later sibling tool step whose `when` holds now, with its
 * arguments rendered from what the run has recorded, exactly as the worker will render them (same
 * templating, same scope shape) unless a step in between changes what they read. Null when no tool
 * step follows or its arguments cannot be rendered yet: then the prompt alone says what happens.
 */
export function approvalPreview(run: Pick<RunRecord, 'id' | 'workflow' | 'params' | 'steps'>, def: Workflow, path: string): ApprovalPreview | null {
  const parts = path.split('.');
  const id = parts[parts.length - 1];
  const prefix = parts.slice(0, -1).join('.');
  const siblings = siblingsOf(def, prefix);
  const at = siblings?.findIndex((s) => s.id === id) ?? -1;
  if (!siblings || at < 0) return null;
  // the scope the worker has at this point: top-level outputs, then this list's earlier siblings
  const steps: Record<string, { output: unknown; status: string }> = {};
  for (const [p, st] of Object.entries(run.steps)) if (!p.includes('.') && !p.includes('[')) steps[p] = { output: st.output, status: st.status };
  for (const s of siblings) {
    const st = run.steps[prefix ? `${prefix}.${s.id}` : s.id];
    if (st) steps[s.id] = { output: st.output, status: st.status };
  }
  // what approving lets it do: the next step as it runs once this approval says yes (a step
  // gated on `steps.<this>.output.decision == 'approved'` is the one that counts)
  steps[id] = { output: { decision: 'approved' }, status: 'succeeded' };
  const iter = /\[(\d+)\]$/.exec(prefix);
  const scope = { params: run.params, steps, run: { id: run.id, workflow: run.workflow, step_key: null }, ...(iter ? { iteration: Number(iter[1]) } : {}) };
  for (const next of siblings.slice(at + 1)) {
    if (next.tool === undefined) continue;
    try {
      if (!evaluateCondition(next.when, scope)) continue;
      const args = (render(next.with ?? {}, scope) ?? {}) as Record<string, unknown>;
      return { step: prefix ? `${prefix}.${next.id}` : next.id, tool: next.tool, args, args_hash: argsHash(args) };
    } catch {
      return null;
    }
  }
  return null;
}

/** The step list a path prefix (`monitor[3]`, `checks`, '') points into. */
function siblingsOf(def: Workflow, prefix: string): Step[] | undefined {
  if (!prefix) return def.steps;
  let list: Step[] | undefined = def.steps;
  for (const seg of prefix.split('.')) {
    const id = seg.replace(/\[\d+\]$/, '');
    const s: Step | undefined = list?.find((x) => x.id === id);
    if (!s) return undefined;
    list = s.steps ?? s.parallel;
  }
  return list;
}
