#!/usr/bin/env node
// oclif comes through dist/cli/oclif.js (one bundled file when the build made it, see
// scripts/bundle.mjs), never through `@oclif/core`'s index: a cold start is mostly module loading.
import { flush, run } from '../dist/cli/oclif.js';

try {
  await run(process.argv.slice(2), import.meta.url);
  await flush();
} catch (err) {
  // One line on stderr and a non-zero exit: the contract for every failure the CLI reports.
  const exit = err?.oclif?.exit ?? 1;
  if (exit !== 0) process.stderr.write(`opstream: ${String(err?.message ?? err).split('\n')[0]}\n`);
  process.exitCode = exit;
}
