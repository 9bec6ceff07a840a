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
  return ms >= 0 ? `${roughDuration(ms)} ago` : `in ${roughDuration(-ms)}`;
}

export function roughDuration(ms: number): string {
  if (ms < 1000) return formatDuration(ms);
  const parts = formatDuration(ms).match(/\d+[dhms]/g) ?? [];
  return parts.slice(0, 2).join('') || '0s';
}

export { formatDuration };
