import { formatDuration } from '../config/duration.js';

/** A plain text table: left-aligned columns, two spaces apart, header underlined by nothing. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]))).join('  ').trimEnd()).join('\n');
}

/** A relative time as people say it: the two largest units (`16m ago`, `2h5m ago`, `in 3d4h`). */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const ms = now - Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return ms >= 0 ? `${roughDuration(ms)} ago` : `in ${roughDuration(-ms)}`;
}

export function roughDuration(ms: number): string {
  if (ms < 1000) return formatDuration(ms);
  const parts = formatDuration(ms).match(/\d+[dhms]/g) ?? [];
  return parts.slice(0, 2).join('') || '0s';
}

// Human times for text output (`--json` keeps ISO 8601). One place, so that inbox, list, audit,
// memory, stats, schedules, report and the dashboard say a time the same way.

const pad2 = (n: number): string => String(n).padStart(2, '0');
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * A time as the reader's clock shows it (local time zone): `14:05` today, `Dec 3 14:05` this year,
 * `2025-12-03 14:05` before. `seconds` adds `:SS` (logs, audit: order within a minute matters).
 */
export function localTime(iso: string | null | undefined, now = Date.now(), o: { seconds?: boolean } = {}): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const t = `${pad2(d.getHours())}:${pad2(d.getMinutes())}${o.seconds ? `:${pad2(d.getSeconds())}` : ''}`;
  const today = new Date(now);
  if (today.toDateString() === d.toDateString()) return t;
  if (today.getFullYear() === d.getFullYear()) return `${MONTHS[d.getMonth()]} ${d.getDate()} ${t}`;
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${t}`;
}

/**
 * How long ago (or until) in words: `just now`, `40 s ago`, `2 min ago`, `3 h ago`, `2 h 5 min ago`,
 * `yesterday`... `in 5 min` for a time ahead. Past a week, the local date and time instead.
 */
export function relativeTime(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const ms = now - at;
  const abs = Math.abs(ms);
  const s = Math.round(abs / 1000);
  if (s < 5) return ms >= 0 ? 'just now' : 'now';
  let span: string;
  if (s < 60) span = `${s} s`;
  else if (s < 3600) span = `${Math.floor(s / 60)} min`;
  else if (s < 86_400) {
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    span = h < 6 && m > 0 ? `${h} h ${m} min` : `${h} h`;
  } else if (s < 7 * 86_400) {
    const days = Math.floor(s / 86_400);
    if (days === 1 && ms > 0) return 'yesterday';
    span = `${days} d`;
  } else return localTime(iso, now);
  return ms >= 0 ? `${span} ago` : `in ${span}`;
}

/** Local time with the relative one: `14:05 (2 min ago)`; beyond a week only the local date and time. */
export function whenText(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const rel = relativeTime(iso, now);
  const abs = localTime(iso, now);
  return rel === abs || rel === iso ? abs : `${abs} (${rel})`;
}

export { formatDuration };
