import type { Hook } from '@oclif/core';

/**
 * Edit distance where swapping two neighbouring letters costs one (optimal string alignment):
 * "stauts" is one typo from "status", not two, so it wins over "start".
 */
export function typoDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** Unknown command: one line that names the closest real command. */
const hook: Hook.CommandNotFound = async function (opts) {
  const wanted = opts.id.replaceAll(':', ' ');
  let guess: string | null = null;
  let best = Infinity;
  let bestLen = Infinity;
  for (const id of opts.config.commandIDs) {
    const dist = typoDistance(opts.id, id);
    // on a tie, the command of the typed length wins: a swapped or wrong letter keeps the length
    // ("stauts" is "status", not "stats")
    const len = Math.abs(id.length - opts.id.length);
    if (dist < best || (dist === best && len < bestLen)) [best, bestLen, guess] = [dist, len, id.replaceAll(':', ' ')];
  }
  const err = new Error(`unknown command "${wanted}"${guess ? `; did you mean "${guess}"? (opstream help lists all)` : ''}`) as Error & { oclif: { exit: number } };
  err.oclif = { exit: 2 };
  throw err;
};

export default hook;
