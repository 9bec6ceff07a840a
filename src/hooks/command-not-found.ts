import type { Hook } from '@oclif/core';
import { closest } from 'fastest-levenshtein';

/** Unknown command: one line that names the closest real command. */
const hook: Hook.CommandNotFound = async function (opts) {
  const ids = opts.config.commandIDs.filter((id) => !id.includes(':') || !opts.config.commandIDs.includes(id.split(':')[0]));
  const wanted = opts.id.replaceAll(':', ' ');
  const guess = ids.length > 0 ? closest(opts.id, opts.config.commandIDs).replaceAll(':', ' ') : null;
  const err = new Error(`unknown command "${wanted}"${guess ? `; did you mean "${guess}"? (opstream help lists all)` : ''}`) as Error & { oclif: { exit: number } };
  err.oclif = { exit: 2 };
  throw err;
};

export default hook;
