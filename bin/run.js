#!/usr/bin/env node
import { flush, run } from '@oclif/core';

try {
  await run(process.argv.slice(2), import.meta.url);
  await flush();
} catch (err) {
  // One line on stderr and a non-zero exit: the contract for every failure the CLI reports.
  const exit = err?.oclif?.exit ?? 1;
  if (exit !== 0) process.stderr.write(`opstream: ${String(err?.message ?? err).split('\n')[0]}\n`);
  process.exitCode = exit;
}
