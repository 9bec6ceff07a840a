import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real daemons and child processes and mostly wait on them, so more
    // files than cores run at once pay off: on the 2-core machine the whole suite took 599 s with 2
    // workers, 470 s with 3 and 400 s with 4 (2026-12-04, all green each). 3 keeps a margin for
    // the tests that measure a process under load (e2e-profiling's CPU saturation).
    pool: 'forks',
    maxWorkers: 3,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
  },
});
