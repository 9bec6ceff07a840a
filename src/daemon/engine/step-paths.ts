import { parseDuration } from '../../config/duration.js';
import type { Step, StepKind, Workflow } from '../../workflows/schema.js';

/**
 * Step paths name a step occurrence in a run: `report` (top level), `sample[3].probe` (a child of a
 * repeat in iteration 3), `checks.disk` (a parallel branch). Ids never contain `.` or `[`.
 */
export function childPath(parent: string, child: string, iteration?: number): string {
  return iteration === undefined ? `${parent}.${child}` : `${parent}[${iteration}].${child}`;
}

/** Lookups by path per definition: the engine asks on every transition, a linear search would cost O(steps). */
const stepIndex = new WeakMap<Workflow, Map<string, Step | undefined>>();

/** The definition of the step at `path`, or undefined. */
export function stepAt(def: Workflow, path: string): Step | undefined {
  let index = stepIndex.get(def);
  if (!index) stepIndex.set(def, (index = new Map()));
  const key = path.includes('[') ? path.replace(/\[\d+\]/g, '') : path;
  if (index.has(key)) return index.get(key);
  const found = findStep(def, key);
  index.set(key, found);
  return found;
}

function findStep(def: Workflow, path: string): Step | undefined {
  const ids = path.split('.');
  let list: Step[] | undefined = def.steps;
  let found: Step | undefined;
  for (const id of ids) {
    found = list?.find((s) => s.id === id);
    if (!found) return undefined;
    list = found.steps ?? found.parallel;
  }
  return found;
}

export function topLevel(path: string): string {
  return path.split(/[.[]/)[0];
}

/** Milliseconds of a literal duration; templates (resolved in the worker) fall back to `fallback`. */
export function durationMs(v: string | number | undefined, fallback: number | null = null): number | null {
  if (v === undefined) return fallback;
  const ms = parseDuration(v);
  return ms === null ? fallback : ms;
}

/**
 * When the next attempt of a failed step may start, or null when it must not be retried.
 * `attempt` is the attempt that just failed (1-based); `retry.attempts` counts all attempts.
 */
export function retryAt(step: Step | undefined, attempt: number, now: number, retryable = true): string | null {
  const r = step?.retry;
  if (!r || !retryable || attempt >= r.attempts) return null;
  const base = durationMs(r.delay, 1000) ?? 1000;
  let delay = r.backoff === 'exponential' ? base * 2 ** (attempt - 1) : base;
  const cap = durationMs(r.max_delay, null);
  if (cap !== null) delay = Math.min(delay, cap);
  return new Date(now + delay).toISOString();
}

export function stepKey(runId: string, path: string, attempt: number): string {
  return `${runId}:${path}:${attempt}`;
}

/** Drops the states of a step's children (a parent's new attempt starts them afresh). */
export function clearChildren(states: Record<string, unknown>, path: string): void {
  for (const k of Object.keys(states)) if (k.startsWith(`${path}.`) || k.startsWith(`${path}[`)) delete states[k];
}

// Kept here rather than imported from schema.ts: that module loads zod, which would cost every
// worker thread tens of milliseconds at start.
const KINDS: readonly StepKind[] = ['tool', 'agent', 'wait', 'repeat', 'parallel', 'approval', 'input', 'notify'];

/** The one kind a validated step has. */
export function stepKind(step: Step): StepKind {
  for (const k of KINDS) if (step[k] !== undefined) return k;
  throw new Error(`step ${step.id} has no kind`);
}
