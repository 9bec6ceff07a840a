#!/usr/bin/env node
// `npm run bench`: runs every benchmark module in bench/ (files named *.bench.js), each in its own
// child process (one process tree; a module that fails or hangs is one failed row, the others
// still run), then writes bench/results.json and prints the figures as a markdown table.
//   node bench/run.js [NAME...]   only modules whose file name contains NAME (merged into results.json)
//   BENCH_QUICK=1 (or --quick)     small sizes for development (see each module's header)
//   BENCH_MODULE_TIMEOUT_S         per-module limit (default 1500 s)
// Exit code: 0 when every figure was measured (a missed goal is reported, not an error), 1 when a
// figure failed (could not be measured, or a check such as "no run lost" failed).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CONTRACT, OPS } from './contract.js';
import { childRows, failedRow } from './support.js';
import { goalText, machineLine, markdownTable } from './table.js';

const here = dirname(fileURLToPath(import.meta.url));

if (process.argv[2] === '--module') {
  // the child: one module, its rows on stdout
  const { emitRows } = await import('./support.js');
  const file = process.argv[3];
  let rows;
  try {
    rows = await (await import(pathToFileURL(join(here, file)).href)).run();
  } catch (e) {
    rows = [failedRow(`${file.replace('.bench.js', '')}_failed`, `${file}: the module failed`, e?.stack ?? e)];
  }
  emitRows(rows);
}

// `--quick` is BENCH_QUICK=1 (set before any module reads it: they run in child processes)
if (process.argv.includes('--quick')) process.env.BENCH_QUICK = '1';
const only = process.argv.slice(2).filter((a) => a !== '--quick');
const files = readdirSync(here).filter((f) => f.endsWith('.bench.js')).sort().filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
const machineStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
const t0 = performance.now();
const all = [];
for (const file of files) {
  const bench = file.replace('.bench.js', '');
  process.stderr.write(`running ${file}...\n`);
  const m0 = performance.now();
  const rows = await childRows([fileURLToPath(import.meta.url), '--module', file], process.env, bench, Number(process.env.BENCH_MODULE_TIMEOUT_S ?? 1500) * 1000);
  process.stderr.write(`${file}: ${rows.length} figures in ${((performance.now() - m0) / 1000).toFixed(0)} s${rows.some((r) => r.failed) ? ' (some FAILED)' : ''}\n`);
  for (const r of rows) all.push({ bench, ...r });
}

const contract = new Map(CONTRACT.map((c) => [c.id, c]));
const resultsFile = join(here, 'results.json');
let previous = {};
try {
  previous = JSON.parse(readFileSync(resultsFile, 'utf8')).figures ?? {};
} catch {
  // first run
}
// a filtered run merges its figures into the last full run's
const figures = only.length ? { ...previous } : {};
// ... except the old figures of the modules this run measured again (an id a module no longer
// reports, such as an old run's failed row, must not outlive it)
const ran = new Set(files.map((f) => f.replace('.bench.js', '')));
for (const [id, f] of Object.entries(figures)) if (ran.has(f.bench)) delete figures[id];
for (const r of all) {
  const c = contract.get(r.id);
  const goal = r.goal ?? c?.goal ?? null;
  const unit = r.unit || c?.unit || '';
  const measured = typeof r.value === 'number' && Number.isFinite(r.value);
  let result = '';
  if (r.failed) result = 'failed';
  else if (goal && typeof OPS[goal.op] !== 'function') {
    // a module's mistake must not cost the whole report: that figure fails, the rest stands
    result = 'failed';
    r.error = `unknown goal ${JSON.stringify(goal)}`;
  } else if (goal) result = measured && OPS[goal.op](r.value, goal.value) ? 'met' : c?.strict ? 'failed' : 'missed';
  if (figures[r.id] && !only.length) process.stderr.write(`warning: figure id ${r.id} reported twice\n`);
  figures[r.id] = {
    value: measured ? r.value : null,
    unit,
    baseline: r.baseline ?? null,
    goal,
    goal_text: goal ? goalText(goal, unit) : null,
    pass: result === 'met' ? true : result === 'missed' || result === 'failed' ? false : null,
    result,
    failed: result === 'failed',
    bench: r.bench,
    name: r.name,
    what: c?.what ?? r.name,
    note: r.note ?? null,
    error: r.error ?? null,
  };
}
if (!only.length) {
  for (const c of CONTRACT) {
    if (!figures[c.id]) figures[c.id] = { value: null, unit: c.unit, baseline: null, goal: c.goal ?? null, goal_text: c.goal ? goalText(c.goal, c.unit) : null, pass: false, result: 'failed', failed: true, bench: null, name: c.id, what: c.what, note: null, error: 'not reported by any bench part' };
  }
}
const results = {
  at: new Date().toISOString(),
  quick: process.env.BENCH_QUICK === '1',
  filter: only.length ? only : null,
  duration_s: Math.round((performance.now() - t0) / 1000),
  machine: { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? null, memory_gb: Math.round(os.totalmem() / 2 ** 30), platform: `${os.platform()} ${os.release()}`, loadavg_start: machineStart, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100) },
  figures,
};
writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
console.log(machineLine(results));
console.log();
console.log(markdownTable(results));
const failed = Object.entries(figures).filter(([, f]) => f.failed);
const missed = Object.entries(figures).filter(([, f]) => f.result === 'missed');
console.log(`\n${Object.keys(figures).length} figures; goals missed: ${missed.map(([id]) => id).join(', ') || 'none'}; failed: ${failed.map(([id]) => id).join(', ') || 'none'}`);
console.log(`(written to ${resultsFile}; \`node bench/report.js\` puts the table into docs/benchmarks.md)`);
process.exit(failed.length ? 1 : 0);
