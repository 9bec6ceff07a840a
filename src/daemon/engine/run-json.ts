import type { RunJson } from '../../protocol/methods/runs.js';
import { outlineOf, projectHeader, projectRun } from '../../protocol/run-view.js';
import type { Workflow } from '../../workflows/schema.js';
import type { RunRecord } from './types.js';

/**
 * Durations of earlier successful runs of a workflow, for ETAs where a run cannot know its own. The
 * figures live in the runs summary (repos/runs.ts), which the engine persists with every run
 * that ends, so a start does not have to read every finished run to know them. A run takes the mean
 * at its creation (run.created `history_ms`), so its view is a function of its events alone.
 */
export class DurationStats {
  constructor(private byWf: Record<string, { n: number; total: number }> = {}) {}

  /** Takes the stored figures (start). */
  use(byWf: Record<string, { n: number; total: number }>): void {
    this.byWf = byWf;
  }

  add(workflow: string, ms: number): void {
    const s = (this.byWf[workflow] ??= { n: 0, total: 0 });
    // a moving window: recent runs weigh more once there are many
    if (s.n >= 50) {
      s.total -= s.total / s.n;
      s.n -= 1;
    }
    s.n += 1;
    s.total += ms;
  }

  mean(workflow: string): number | null {
    const s = this.byWf[workflow];
    return s && s.n > 0 ? s.total / s.n : null;
  }
}

/** Outlines per definition object (a run of an older version carries none in its record). */
const outlines = new WeakMap<Workflow, ReturnType<typeof outlineOf>>();

export function outlineFor(def: Workflow | undefined): ReturnType<typeof outlineOf> | undefined {
  if (!def) return undefined;
  let o = outlines.get(def);
  if (!o) outlines.set(def, (o = outlineOf(def)));
  return o;
}

/** The daemon's view of a run: the shared projection (protocol/run-view.ts), nothing of its own. */
export function toRunJson(run: RunRecord, def: Workflow | undefined, now = Date.now()): RunJson {
  return projectRun(run, { now, outline: outlineFor(def) });
}

export function headerJson(run: RunRecord, def: Workflow | undefined, now = Date.now()): RunJson {
  return projectHeader(run, { now, outline: outlineFor(def) });
}
