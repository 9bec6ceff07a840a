#!/usr/bin/env -S node --import tsx --disable-warning=ExperimentalWarning
// Runs the TypeScript sources directly (oclif maps dist/commands to src/commands via tsconfig).
import { flush, run } from '@oclif/core';

try {
  await run(process.argv.slice(2), { development: true, root: new URL('..', import.meta.url).pathname });
  await flush();
} catch (err) {
  const exit = err?.oclif?.exit ?? 1;
  if (exit !== 0) process.stderr.write(`opstream: ${String(err?.message ?? err).split('\n')[0]}\n`);
  process.exitCode = exit;
}
