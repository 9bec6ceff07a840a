import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Integration tests start real daemons and child processes and mostly wait on them, so more
    // files than cores run at once pay off: on the 2-core machine the whole suite took 599 s with 2
    // workers, 470 s with 3 and 400 s with 4 (2026-12-04, all green each). 3 keeps a margin for
    // the tests that measure a process under load (e2e-profiling's CPU saturation).
    maxWorkers: 3,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
    projects: [
      // pure functions: one thread each, modules shared between files (no fork and fresh import
      // per file); 6 s alone with forks, 2 s so
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], pool: 'threads', isolate: false } },
      // each file in its own process: they start daemons, set env, and kill what they started
      { extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: ['test/unit/**'], pool: 'forks' } },
    ],
  },
});
