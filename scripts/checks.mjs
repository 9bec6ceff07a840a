#!/usr/bin/env node
// `npm test`'s static checks: eslint and the type check (tsconfig.check.json: src, test, bench)
// side by side instead of one after the other. Both are mostly one core each, so on the 2-core
// machine they took ~22 s in a row and ~13 s together. Each one's output is printed whole when it
// ends (never interleaved); the exit code is non-zero when either failed.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** A package's own command (its package.json `bin`): eslint does not export its bin path. */
const binOf = (pkg, name) => {
  const json = require.resolve(`${pkg}/package.json`);
  const bin = require(json).bin;
  return new URL(typeof bin === 'string' ? bin : bin[name], `file://${json}`).pathname;
};
const checks = [
  ['lint', binOf('eslint', 'eslint'), ['.']],
  ['typecheck', binOf('typescript', 'tsc'), ['-p', 'tsconfig.check.json']],
];

const results = await Promise.all(
  checks.map(
    ([name, bin, args]) =>
      new Promise((resolve) => {
        const t0 = performance.now();
        const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        child.on('error', (err) => resolve({ name, code: 1, out: `${out}${err.message}\n`, s: 0 }));
        child.on('close', (code, signal) => resolve({ name, code: code ?? (signal ? 1 : 0), out, s: (performance.now() - t0) / 1000 }));
      }),
  ),
);

let failed = false;
for (const r of results) {
  if (r.out.trim()) process.stdout.write(r.out.endsWith('\n') ? r.out : `${r.out}\n`);
  process.stdout.write(`${r.name}: ${r.code === 0 ? 'ok' : `failed (exit ${r.code})`} in ${r.s.toFixed(1)} s\n`);
  if (r.code !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
