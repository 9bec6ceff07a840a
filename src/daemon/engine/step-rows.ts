import { runOps, stepOrdinal, type RunHeader, type StepRow } from '../repos/runs.js';
import type { StoreOp } from '../store/store.js';
import type { RunRecord, StepState } from './types.js';

export type { RunHeader, StepRow } from '../repos/runs.js';

/**
 * A run is stored as a small header (the record without `steps`) plus one row per step (its path
 * and state, keyed by an ordinal; repos/runs.ts owns the keys). A transition then writes only the
 * header and the steps it changed, not the whole record, whose size grows with the step count.
 * Ordinals follow the order in which paths were added to `run.steps`, so a record read back lists
 * its steps in the same order as the live one (run JSON is identical before and after a restart).
 *
 * What the header row stores: the record without its steps, and without the outline, which is the
 * definition's (run.created records it; a loaded run gets it back from the definition by hash).
 * Written with every commit of the run, an outline growing with the workflow made each step cost
 * as much as the whole workflow.
 */
export function headerOf(run: RunRecord): RunHeader {
  // only ever stored: JSON leaves the undefined keys out, so the row is the record minus both
  const header = copyOf(run) as RunHeader;
  header.steps = undefined;
  (header as RunRecord).outline = undefined;
  return header;
}

/**
 * A shallow copy of a run record, its keys in their order. Not object spread or rest: on Node 20's
 * V8 a spread of records read from JSON gave each copy a hidden class of its own once its call site
 * had seen a few (~700 bytes of map and descriptors per copy, and megamorphic reads of every field):
 * 10,000 loaded waiting runs held 10,000 of them (heap snapshot). Nor keys copied one by one into
 * `{}`: past 16 keys V8 turns such an object into a dictionary (~1.3 KB each). `Object.assign`
 * into an empty object keeps one shared hidden class and costs ~0.5 us against ~1.6 us for a spread.
 */
export function copyOf<T extends object>(o: T): T {
  return Object.assign({}, o);
}

export interface Ords {
  next: number;
  /** null while `paths` stands for it (see StepRows.load). */
  byPath: Map<string, number> | null;
  /** A loaded run's paths by ordinal 0..n-1, until the run's next commit needs `byPath`. */
  paths?: string[];
}

/** A run's row changes made by one batch (see StepRows.journal). */
export interface RowJournal {
  existed: boolean;
  next: number;
  /** In order: a path given row n (`added`), or a path whose row n was dropped. */
  changes: { path: string; n: number; added: boolean }[];
}

/** Per live run: which row holds which step path. */
export class StepRows {
  private readonly ords = new Map<string, Ords>();

  private of(runId: string): Ords & { byPath: Map<string, number> } {
    let o = this.ords.get(runId);
    if (!o) this.ords.set(runId, (o = { next: 0, byPath: new Map() }));
    if (o.byPath === null) {
      o.byPath = new Map(o.paths!.map((p, n) => [p, n]));
      o.paths = undefined;
    }
    return o as Ords & { byPath: Map<string, number> };
  }

  /**
   * Called after each event is applied: drops rows of paths the event removed (a parent's new
   * attempt, a finished repeat iteration; only when `mayDrop`) and gives a new path its row.
   * Changes are noted in `j` so that `undo` can put them back if the batch fails.
   */
  observe(run: RunRecord, path: string | undefined, mayDrop: boolean, ops: StoreOp[], j?: RowJournal): void {
    const o = this.of(run.id);
    if (mayDrop) {
      for (const [p, n] of o.byPath) {
        if (!(p in run.steps)) this.drop(run.id, o, p, n, ops, j);
      }
    }
    if (path === undefined) return;
    if (path in run.steps) this.assign(o, path, j);
    else {
      const n = o.byPath.get(path);
      if (n !== undefined) this.drop(run.id, o, path, n, ops, j);
    }
  }

  /** Puts the rows of `paths` (those still present) as they are now. */
  write(run: RunRecord, paths: Iterable<string>, ops: StoreOp[], j?: RowJournal): void {
    const o = this.of(run.id);
    for (const p of paths) {
      const state = run.steps[p];
      if (!state) continue;
      const n = this.assign(o, p, j);
      ops.push(runOps.stepRow(run.id, n, { path: p, state } satisfies StepRow));
    }
  }

  private assign(o: Ords & { byPath: Map<string, number> }, path: string, j?: RowJournal): number {
    let n = o.byPath.get(path);
    if (n === undefined) {
      o.byPath.set(path, (n = o.next++));
      j?.changes.push({ path, n, added: true });
    }
    return n;
  }

  private drop(runId: string, o: Ords & { byPath: Map<string, number> }, path: string, n: number, ops: StoreOp[], j?: RowJournal): void {
    o.byPath.delete(path);
    j?.changes.push({ path, n, added: false });
    ops.push(runOps.delStepRow(runId, n));
  }

  /**
   * Starts noting the run's row changes, to put them back with `undo` if the batch that made them
   * failed (a journal, not a copy: copying the assignment per commit made a step cost O(steps)).
   */
  journal(runId: string): RowJournal {
    const o = this.ords.get(runId);
    return { existed: o !== undefined, next: o?.next ?? 0, changes: [] };
  }

  undo(runId: string, j: RowJournal): void {
    if (!j.existed) {
      this.ords.delete(runId);
      return;
    }
    const o = this.of(runId);
    for (let i = j.changes.length - 1; i >= 0; i--) {
      const c = j.changes[i];
      if (c.added) o.byPath.delete(c.path);
      else o.byPath.set(c.path, c.n);
    }
    o.next = j.next;
  }

  forget(runId: string): void {
    this.ords.delete(runId);
  }

  /**
   * Rebuilds `steps` from a run's rows (in key order). A header written before rows existed keeps
   * its `steps`; `legacy` says so, and the caller rewrites all of them as rows on the next commit.
   */
  load(header: RunHeader, rows: [string, StepRow][], track: boolean): { run: RunRecord; legacy: boolean } {
    const legacy = header.steps !== undefined && rows.length === 0;
    const steps: Record<string, StepState> = legacy ? header.steps! : {};
    // Rows numbered 0..n-1 with no gap (no row ever dropped: most runs) keep just their paths in
    // order; the map is built by the run's next commit. A map per run was ~350 bytes of heap, for
    // 10,000 waiting runs that may never commit again before they are read back.
    const paths: string[] = [];
    let byPath: Map<string, number> | null = null;
    let next = 0;
    if (!legacy) {
      for (const [key, row] of rows) {
        const n = stepOrdinal(key);
        steps[row.path] = row.state;
        if (byPath === null && n !== paths.length) byPath = new Map(paths.map((p, i) => [p, i]));
        if (byPath) byPath.set(row.path, n);
        else paths.push(row.path);
        if (n >= next) next = n + 1;
      }
    }
    const o: Ords = byPath ? { next, byPath } : { next, byPath: null, paths };
    if (track && !legacy) this.ords.set(header.id, o);
    // the record is the header object read from the store (no copy: it is garbage otherwise)
    const run = header as RunRecord;
    run.steps = steps;
    return { run, legacy };
  }
}
