import { distance } from 'fastest-levenshtein';

/**
 * The known name closest to what was written, when it is close enough to be a typo (`wiat` ->
 * `wait`, `ops.http_prob` -> `ops.http_probe`); null when nothing is that close, since a far-off
 * guess misleads more than no guess. Case differences count as typos too.
 */
export function nearest(written: string, known: Iterable<string>): string | null {
  const w = written.toLowerCase();
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    if (k === written) continue;
    const d = distance(w, k.toLowerCase());
    if (d < bestD || (d === bestD && best !== null && k < best)) {
      best = k;
      bestD = d;
    }
  }
  if (best === null) return null;
  // two edits, or a third of the longer name for long ones: further than that is another word
  const allowed = Math.max(2, Math.floor(Math.max(written.length, best.length) / 3));
  return bestD <= allowed && bestD < Math.max(written.length, best.length) ? best : null;
}

/** "; did you mean "x"?" or nothing. */
export function didYouMean(suggestion: string | null): string {
  return suggestion === null ? '' : `; did you mean "${suggestion}"?`;
}
