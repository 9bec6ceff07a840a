// No imports: the daemon writes these lines into memory and the CLI renders them (memory search/show);
// shared here so the CLI path stays light and the ui never imports the daemon.

export interface AppliedFix {
  /** The call that was made, e.g. `POST /admin/pool {"size":20}`. */
  fix: string;
  /** What it was for, e.g. `/api/search?q=a p95 latency 1241 ms (limit 500 ms)`. */
  for: string | null;
  by: string | null;
  comment: string | null;
  at: string | null;
  /** The measured effect, e.g. `/api/search p95 latency 1241 ms -> 65 ms`; null when not measured. */
  effect: string | null;
  /** The check after the fix found the problem gone (true), still there or the call failed (false), or did not run (null). */
  confirmed: boolean | null;
}

export interface RejectedProposal {
  proposal: string;
  for: string | null;
  by: string;
  comment: string | null;
  at: string | null;
}

/** One line each, as memory search/show and the recall text ("Seen before") show them. */
export function appliedText(a: AppliedFix): string {
  const verdict = a.confirmed === true ? 'confirmed' : a.confirmed === false ? 'not confirmed' : 'not measured';
  return `fix applied: ${a.fix}${a.for ? ` for ${a.for}` : ''}${a.by ? `, approved by ${a.by}` : ''}; effect: ${a.effect ?? 'not measured'} (${verdict})`;
}

export function rejectedText(r: RejectedProposal): string {
  return `fix rejected: ${r.proposal}${r.for ? ` for ${r.for}` : ''}, rejected by ${r.by}${r.comment ? `: "${r.comment}"` : ' (no comment)'}`;
}
