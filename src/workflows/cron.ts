/**
 * A strict check of cron text, so a typo is a workflow problem with its line instead of a schedule
 * that `later` silently reads as something else ("not a cron" parses as "every minute") or that Bree
 * refuses only once the daemon arms it. Five fields, or six with seconds first.
 */
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

interface Field {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** Value of names[0]. */
  base?: number;
}

const SECOND: Field = { name: 'second', min: 0, max: 59 };
const FIVE: Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, base: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, base: 0 },
];

function value(text: string, f: Field): number | null {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n >= f.min && n <= f.max ? n : null;
  }
  const i = f.names?.indexOf(text.toUpperCase()) ?? -1;
  return i >= 0 ? i + (f.base ?? 0) : null;
}

function checkField(text: string, f: Field): string | null {
  if (text === '?' && (f.name === 'day of month' || f.name === 'day of week')) return null;
  for (const item of text.split(',')) {
    const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d+))?$/.exec(item);
    if (!m) return `"${item}" is not a valid ${f.name}`;
    if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > f.max + 1)) return `step "/${m[2]}" is out of range for the ${f.name}`;
    if (m[1] === '*') continue;
    const [a, b] = m[1].split('-');
    const lo = value(a, f);
    const hi = b === undefined ? lo : value(b, f);
    if (![a, b].every((t) => t === undefined || /^\d+$/.test(t) || f.names?.includes(t.toUpperCase()))) return `"${item}" is not a valid ${f.name}`;
    if (lo === null || hi === null) return `"${item}" is out of range for the ${f.name} (${f.min}-${f.max}${f.names ? ` or ${f.names[0]}-${f.names.at(-1)}` : ''})`;
    if (hi < lo) return `range "${m[1]}" runs backwards`;
  }
  return null;
}

/** Null when the cron is valid, else why not (one line). */
export function cronProblem(cron: string): string | null {
  const parts = cron.trim().split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) return `cron "${cron}" has ${parts.length} field(s); use 5 (minute hour day month weekday) or 6 (seconds first)`;
  const fields = parts.length === 6 ? [SECOND, ...FIVE] : FIVE;
  for (let i = 0; i < parts.length; i++) {
    const why = checkField(parts[i], fields[i]);
    if (why) return `cron "${cron}": ${why}`;
  }
  return null;
}
