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
