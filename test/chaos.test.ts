import { describe, expect, it } from 'vitest';
import { runChaos } from './chaos/chaos-suite.js';

// The CI variant of `npm run chaos`: 10 kill -9s of a real daemon (a child process) among a mix of
// workflows, with two of the full suite's faults at fixed cycles (a full disk under load before the
// 3rd kill, the log directory deleted before the 6th), then the same checks as the full suite
// (test/chaos/chaos-suite.ts). The seed is random and printed, so a failure can be replayed:
// `CHAOS_SEED=S npx vitest run test/chaos.test.ts`.
describe('crash suite (short)', () => {
  it('loses no run, makes no phantom one, repeats no finished step or recorded model call, runs no gated call unapproved, delivers each notification once, leaves no orphan', async () => {
    const seed = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : undefined;
    const r = await runChaos({ kills: 10, seed, minGapMs: 200, maxGapMs: 1200, drainTimeoutMs: 120_000, faults: { diskFull: [2], logDir: [5] } });
    console.log(r.line);
    expect(r.violations).toEqual([]);
    expect(r.figures.kills).toBe(10);
    expect(r.figures.runs).toBeGreaterThan(0);
    expect(r.figures.disk_full_resumed).toBe(1);
    expect(r.figures.log_dir_resumed).toBe(1);
    expect(r.figures.refused_starts).toBeGreaterThanOrEqual(3);
  }, 240_000);
});
