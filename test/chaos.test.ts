import { describe, expect, it } from 'vitest';
import { runChaos } from './chaos/chaos-suite.js';

// The CI variant of `npm run chaos`: 10 kill -9s of a real daemon (a child process) among a mix of
// workflows, then the same checks as the full suite (test/chaos/chaos-suite.ts). The seed is random
// and printed, so a failure can be replayed: `npm run chaos -- --kills 10 --seed S`.
describe('crash suite (short)', () => {
  it('loses no run, repeats no finished step or recorded model call, delivers each notification once, leaves no orphan', async () => {
    const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : undefined;
    const r = await runChaos({ kills: 10, seed, minGapMs: 200, maxGapMs: 1200, drainTimeoutMs: 120_000 });
    console.log(r.line);
    expect(r.violations).toEqual([]);
    expect(r.figures.kills).toBe(10);
    expect(r.figures.runs).toBeGreaterThan(0);
  }, 240_000);
});
