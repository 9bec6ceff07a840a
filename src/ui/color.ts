/**
 * Colour for CLI text, off unless the stream is a terminal, and off whenever NO_COLOR is set to
 * anything but the empty string (https://no-color.org). FORCE_COLOR=1 turns it on for pipes.
 */
export function colorEnabled(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export interface Paint {
  on: boolean;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  blue(s: string): string;
  cyan(s: string): string;
  magenta(s: string): string;
  dim(s: string): string;
  bold(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `\u001b[${open}m${s}\u001b[${close}m`;
const same = (s: string): string => s;

export function paint(on: boolean): Paint {
  if (!on) return { on, red: same, green: same, yellow: same, blue: same, cyan: same, magenta: same, dim: same, bold: same };
  return { on, red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), blue: sgr(34, 39), cyan: sgr(36, 39), magenta: sgr(35, 39), dim: sgr(2, 22), bold: sgr(1, 22) };
}

/** The colour a run or step status is shown in. */
export function statusPaint(p: Paint, status: string): (s: string) => string {
  switch (status) {
    case 'succeeded':
      return p.green;
    case 'failed':
      return p.red;
    case 'cancelled':
    case 'skipped':
      return p.dim;
    case 'waiting':
    case 'paused':
    case 'retrying':
      return p.yellow;
    case 'running':
      return p.cyan;
    default:
      return same;
  }
}

const ANSI = /\u001b\[[0-9;]*m/g;

/** Visible length of text that may carry colour codes. */
export function visibleLength(s: string): number {
  return s.replace(ANSI, '').length;
}

/** Cuts text with colour codes to `width` visible characters, ending in `…` when cut. */
export function truncateVisible(s: string, width: number): string {
  if (width <= 0 || visibleLength(s) <= width) return s;
  let out = '';
  let n = 0;
  for (let i = 0; i < s.length; ) {
    const m = /^\u001b\[[0-9;]*m/.exec(s.slice(i));
    if (m) {
      out += m[0];
      i += m[0].length;
      continue;
    }
    if (n >= width - 1) break;
    out += s[i];
    n++;
    i++;
  }
  return `${out}…${s.includes('\u001b[') ? '\u001b[0m' : ''}`;
}
