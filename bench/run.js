#!/usr/bin/env node
// Runs every benchmark module in bench/ (files named *.bench.js) in one process, one after the
// other, and prints their figures. Each module exports `async function run()` returning rows of
// { name, value, unit, goal?, note? }. Figures only: nothing here passes or fails a build.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here).filter((f) => f.endsWith('.bench.js')).sort().filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
const all = [];
for (const file of files) {
  const mod = await import(join(here, file));
  process.stderr.write(`running ${file}...\n`);
  const rows = await mod.run();
  for (const r of rows) all.push({ bench: file.replace('.bench.js', ''), ...r });
}
const fmt = (v) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3)) : String(v));
const rows = all.map((r) => [r.bench, r.name, `${fmt(r.value)} ${r.unit}`, r.goal ?? '', r.note ?? '']);
const head = ['bench', 'figure', 'value', 'goal', 'note'];
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
console.log(`node ${process.version}, ${(await import('node:os')).cpus().length} cores, ${new Date().toISOString()}`);
for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd());

// The same figures as data (bench/results.json, keyed "bench: figure") and as a markdown table, so a
// report (docs/benchmarks.md) can be pasted from one run. Only a full run (no filter) replaces the
// results file; a filtered run merges its figures into it.
const { readFileSync, writeFileSync } = await import('node:fs');
const os = await import('node:os');
const resultsFile = join(here, 'results.json');
let previous = {};
try {
  previous = JSON.parse(readFileSync(resultsFile, 'utf8')).figures ?? {};
} catch {
  // first run
}
const figures = only.length ? { ...previous } : {};
for (const r of all) figures[`${r.bench}: ${r.name}`] = { value: r.value, unit: r.unit, goal: r.goal ?? null, note: r.note ?? null };
const machine = { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? null, memory_gb: Math.round(os.totalmem() / 2 ** 30), loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100), platform: `${os.platform()} ${os.release()}` };
writeFileSync(resultsFile, `${JSON.stringify({ at: new Date().toISOString(), machine, figures }, null, 2)}\n`);
const cell = (s) => String(s).replaceAll('|', '\\|');
console.log(`\n| bench | figure | value | goal | note |\n|---|---|---|---|---|`);
for (const r of rows) console.log(`| ${r.map(cell).join(' | ')} |`);
console.log(`\n(written to ${resultsFile})`);
