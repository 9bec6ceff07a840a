import { describe, expect, it } from 'vitest';
import { draftSteps } from '../../src/daemon/engine/steps-draft.js';
import { StepRows } from '../../src/daemon/engine/step-rows.js';
import type { RunRecord, StepState } from '../../src/daemon/engine/types.js';

const st = (status: string, n = 0): StepState => ({ status, attempts: n }) as unknown as StepState;

// a small deterministic generator, so a failure names its seed
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

describe('steps draft (copy-on-write steps of one commit)', () => {
  it('reads, writes, deletes and orders keys exactly as a copied plain object, and applies the same result', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const base: Record<string, StepState> = {};
      for (let i = 0; i < 1 + Math.floor(r() * 8); i++) base[`s${i}`] = st('succeeded', i);
      const copy: Record<string, StepState> = { ...base };
      const d = draftSteps(base);
      const before = JSON.stringify(base);
      for (let op = 0; op < 12; op++) {
        const k = `s${Math.floor(r() * 10)}`;
        const x = r();
        if (x < 0.45) {
          const v = st('running', op);
          copy[k] = v;
          d.steps[k] = v;
        } else if (x < 0.7) {
          delete copy[k];
          delete d.steps[k];
        }
        expect(k in d.steps, `seed ${seed}`).toBe(k in copy);
        expect(d.steps[k], `seed ${seed}`).toBe(copy[k]);
        expect(Object.keys(d.steps), `seed ${seed}`).toEqual(Object.keys(copy));
      }
      expect(Object.entries(d.steps)).toEqual(Object.entries(copy));
      expect(JSON.stringify(d.steps)).toBe(JSON.stringify(copy));
      // the live object is untouched until the batch is durable
      expect(JSON.stringify(base)).toBe(before);
      d.apply();
      expect(Object.keys(base), `seed ${seed}`).toEqual(Object.keys(copy));
      expect(Object.entries(base)).toEqual(Object.entries(copy));
      // after apply the view reads the live object
      expect(Object.keys(d.steps)).toEqual(Object.keys(base));
    }
  });

  it('reads nothing that is not a step path', () => {
    const d = draftSteps({ a: st('running') });
    expect((d.steps as Record<string, unknown>).constructor).toBeUndefined();
    expect('toString' in d.steps).toBe(false);
    expect(Object.hasOwn(d.steps, 'a')).toBe(true);
  });
});

describe('step rows journal', () => {
  it('undo puts the row assignment back exactly, also for a path added then dropped in one batch', () => {
    const rows = new StepRows();
    const run = { id: 'r1', steps: { a: st('succeeded'), b: st('running') } } as unknown as RunRecord;
    rows.write(run, ['a', 'b'], []);
    const ops: unknown[] = [];
    const j = rows.journal('r1');
    run.steps.c = st('running');
    rows.observe(run, 'c', false, ops as never, j);
    delete run.steps.c;
    delete run.steps.a;
    rows.observe(run, 'c', true, ops as never, j);
    rows.undo('r1', j);
    // the rows of a and b keep their ordinals, c has none, the next new path gets ordinal 2
    const out: { key: string }[] = [];
    run.steps = { a: st('succeeded'), b: st('running'), d: st('running') } as never;
    rows.write(run, ['a', 'b', 'd'], out as never);
    expect(out.map((o) => o.key)).toEqual(['r1/step/000000', 'r1/step/000001', 'r1/step/000002']);
  });

  it('a loaded run keeps its rows\' ordinals, with or without gaps, and new paths go after them', () => {
    const header = { id: 'r2', status: 'waiting' } as never;
    for (const [keys, want] of [
      // rows 0..2 (no row ever dropped): kept as a list until the next commit
      [['r2/step/000000', 'r2/step/000001', 'r2/step/000002'], ['r2/step/000001', 'r2/step/000003']],
      // row 1 was dropped once: a map from the start
      [['r2/step/000000', 'r2/step/000002', 'r2/step/000003'], ['r2/step/000002', 'r2/step/000004']],
    ] as const) {
      const rows = new StepRows();
      const paths = ['a', 'b', 'c'];
      const { run } = rows.load({ ...(header as object) } as never, keys.map((k, i) => [k, { path: paths[i], state: st('succeeded') }]), true);
      expect(Object.keys(run.steps)).toEqual(paths);
      const out: { key: string }[] = [];
      run.steps.d = st('running');
      rows.write(run, ['b', 'd'], out as never);
      expect(out.map((o) => o.key)).toEqual(want);
    }
  });
});
