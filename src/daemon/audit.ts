import { parseDuration } from '../config/duration.js';
import { WireError, type Params, type Result } from '../protocol/index.js';
import type { Repos } from './repos/index.js';
import type { AuditEntry } from './store/store.js';

/** Whether `actor` (`kind:user`) is the one asked for: the whole actor, its kind or its user. */
export function actorMatches(actor: string, want: string): boolean {
  if (actor === want) return true;
  const i = actor.indexOf(':');
  return i > 0 && (actor.slice(0, i) === want || actor.slice(i + 1) === want);
}

/** Parses `1d`, `12h`, `all`; throws invalid_params otherwise. Returns the cut-off time or null (all). */
export function sinceCutoff(since: string | undefined, now = Date.now()): number | null {
  if (since === undefined || since === 'all') return null;
  const ms = parseDuration(since);
  if (ms === null) throw new WireError('invalid_params', `since: "${since}" is not a duration (use e.g. 1h, 7d or all)`);
  return now - ms;
}

const SCAN_PAGE = 1000;

/**
 * The audit log, newest first. Keys are time-ordered (`<ms>-<seq>`), so `since` bounds the scan;
 * the other filters are applied while scanning backwards until `limit` entries matched.
 */
export async function listAudit(ctx: { repos: Pick<Repos, 'audit'> }, p: Params<'audit.list'>): Promise<Result<'audit.list'>> {
  const cutoff = sinceCutoff(p.since);
  const target = p.run ? `run:${p.run}` : null;
  const items: AuditEntry[] = [];
  let lt: string | undefined;
  for (;;) {
    const rows = await ctx.repos.audit.newest(cutoff, SCAN_PAGE, lt);
    for (const { entry: e } of rows) {
      if (target && e.target !== target) continue;
      if (p.actor && !actorMatches(e.actor, p.actor)) continue;
      items.push(e);
      if (items.length > p.limit) return { items: items.slice(0, p.limit), more: true };
    }
    if (rows.length < SCAN_PAGE) return { items, more: false };
    lt = rows[rows.length - 1].cursor;
  }
}
