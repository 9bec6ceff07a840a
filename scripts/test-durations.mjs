// Writes test/durations.json (seconds per test file) from a vitest JSON report, for the sequencer in
// vitest.config.ts: on a clean clone vitest has no timings of its own and would start the files
// largest first, so a short file with long waits (the team kill test) could start last and alone.
//   npx vitest run --reporter=default --reporter=json --outputFile=/tmp/vitest.json
//   node scripts/test-durations.mjs /tmp/vitest.json
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const report = process.argv[2];
if (!report) {
  process.stderr.write('usage: node scripts/test-durations.mjs <vitest JSON report>\n');
  process.exit(2);
}
const { testResults } = JSON.parse(readFileSync(report, 'utf8'));
const rows = testResults
  .map((t) => [relative(root, t.name), Math.round((t.endTime - t.startTime) / 100) / 10])
  .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
writeFileSync(join(root, 'test', 'durations.json'), `${JSON.stringify(Object.fromEntries(rows), null, 2)}\n`);
process.stdout.write(`test/durations.json: ${rows.length} files\n`);
