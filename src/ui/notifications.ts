import type { Notification } from '../protocol/index.js';
import { paint, type Paint } from './color.js';
import { clock } from './events.js';
import { relativeTime, table } from './format.js';

/** One channel's state in a few characters: `webhook:sent`, `pager:retrying(3)`, `desktop:failed`. */
export function deliveryText(n: Pick<Notification, 'channels'>): string {
  return Object.entries(n.channels)
    .map(([name, st]) => {
      if (st.state === 'sent') return `${name}:sent`;
      if (st.state === 'failed') return `${name}:failed`;
      return st.attempts > 0 ? `${name}:retrying(${st.attempts})` : `${name}:pending`;
    })
    .join(' ');
}

/** A notification as it arrives in `logs --follow`, `start --wait` and `inbox --follow`. */
export function notificationLine(n: Pick<Notification, 'at' | 'level' | 'title' | 'text'>, o: { paint?: Paint; now?: number } = {}): string {
  const p = o.paint ?? paint(false);
  // a notify step's title is its text's first line: show only what the title does not already say
  const lines = n.text ? n.text.split('\n') : [];
  if (lines.length && n.title.endsWith(lines[0])) lines.shift();
  const body = lines.length ? `\n    ${lines.join('\n    ')}` : '';
  const level = n.level === 'critical' ? p.red(`[${n.level}]`) : n.level === 'warning' ? p.yellow(`[${n.level}]`) : p.blue(`[${n.level}]`);
  return `${p.dim(clock(n.at, o.now))}  ${level} ${n.title}${body}`;
}

/** `opstream inbox`: newest last, with each channel's delivery state and the last error of a failing one. */
export function inboxTable(items: Notification[]): string {
  if (items.length === 0) return 'no notifications';
  const now = Date.now();
  const rows = items.map((n) => [relativeTime(n.at, now), n.run_id ?? '-', n.level, n.title.length > 70 ? `${n.title.slice(0, 67)}...` : n.title, deliveryText(n)]);
  const lines = [table(['WHEN', 'RUN', 'LEVEL', 'NOTIFICATION', 'DELIVERY'], rows)];
  const errors = items.flatMap((n) => Object.entries(n.channels).filter(([, st]) => st.state !== 'sent' && st.last_error).map(([name, st]) => `  ${n.id.slice(-18)} ${name}: ${st.last_error}`));
  if (errors.length) lines.push('', 'delivery problems:', ...errors.slice(-20));
  return lines.join('\n');
}
