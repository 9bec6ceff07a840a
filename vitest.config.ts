import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Longest files first, so that no long file starts near the end and runs alone (the suite's wall
 * time is its slowest worker's). vitest orders by its own timings when it has them (a developer's
 * checkout) and otherwise by file size, which on a clean clone (CI) started the team kill test (88 s,
 * 128 lines) among the last. test/durations.json holds the seconds of each file from a full run
 * (`node scripts/test-durations.mjs <vitest JSON report>` rewrites it); vitest's own timings win
 * where it has them; a file in neither goes first.
 */
class LongestFirst extends BaseSequencer {
  private readonly known: Record<string, number> = JSON.parse(readFileSync(new URL('./test/durations.json', import.meta.url), 'utf8'));

  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const seconds = (f: TestSpecification): number => {
      const file = relative(root, f.moduleId);
      const cached = this.ctx.cache.getFileTestResults(`${f.project.name}:${file}`)?.duration;
      return cached !== undefined ? cached / 1000 : (this.known[file] ?? Number.POSITIVE_INFINITY);
    };
    // projects still run one after the other, in vitest's order
    return [...files].sort((a, b) => (a.project.name === b.project.name ? seconds(b) - seconds(a) : a.project.name < b.project.name ? -1 : 1));
  }
}

// Every node process reads and parses the CA file NODE_EXTRA_CA_CERTS names when it starts: with
// the system bundle (as on the 2-core machine) that is ~40 ms of CPU per process (`node -e 0` 63 ms
// of CPU with it, 22 ms without), and the suite starts ~2,000 (CLIs, daemons, servers, its own
// forks). No test talks TLS to a server outside the machine (the one that needs a CA sets its own),
// so the processes it starts go without.
delete process.env.NODE_EXTRA_CA_CERTS;

/** Unit files that start a real PostgreSQL: they run with the integration files, in processes of their own. */
const PG_UNIT = ['kv-conformance', 'repos', 'team-migrate'];
const PG_UNIT_FILES = PG_UNIT.map((n) => `test/unit/${n}.test.ts`);

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
    sequence: { sequencer: LongestFirst },
    projects: [
      // pure functions: one thread each, modules shared between files (no fork and fresh import
      // per file); 6 s alone with forks, 2 s so. vitest runs the projects one after the other, so
      // the two that start PostgreSQL (14 s) are integration files: alone at the end they were
      // the last 14 s of the run.
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], exclude: PG_UNIT_FILES, pool: 'threads', isolate: false } },
      // each file in its own process: they start daemons, set env, and kill what they started
      { extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: [`test/unit/!(${PG_UNIT.join('|')}).test.ts`, 'test/unit/*/**'], pool: 'forks' } },
    ],
  },
});
