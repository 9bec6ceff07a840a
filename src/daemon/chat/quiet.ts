/** Quiet hours and routine-update frequency: when a chat (Slack, Discord) may interrupt people. */

export interface QuietHours {
  startSec: number;
  endSec: number;
  timezone: string;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Seconds after local midnight in `timezone`. */
export function localSeconds(now: number, timezone: string): number {
  let f = formatters.get(timezone);
  if (!f) formatters.set(timezone, (f = new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })));
  const parts = Object.fromEntries(f.formatToParts(new Date(now)).map((p) => [p.type, p.value]));
  return Number(parts.hour) * 3600 + Number(parts.minute) * 60 + Number(parts.second);
}

/**
 * Whether `now` falls in the quiet hours, and when they end (ms since epoch). A range whose end is
 * before its start runs over midnight (22:00-08:00).
 */
export function quietState(q: QuietHours | null, now = Date.now()): { quiet: boolean; endsAt: number } {
  if (!q) return { quiet: false, endsAt: now };
  const t = localSeconds(now, q.timezone);
  const quiet = q.startSec < q.endSec ? t >= q.startSec && t < q.endSec : t >= q.startSec || t < q.endSec;
  if (!quiet) return { quiet: false, endsAt: now };
  const left = (q.endSec - t + 86_400) % 86_400;
  // sub-second part of now: the end is on a whole second of local time
  return { quiet: true, endsAt: now - (now % 1000) + left * 1000 };
}

/** "22:00-08:00" text for messages. */
export function quietText(q: QuietHours): string {
  const hhmm = (s: number): string => `${String(Math.floor(s / 3600)).padStart(2, '0')}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}${s % 60 ? `:${String(s % 60).padStart(2, '0')}` : ''}`;
  return `${hhmm(q.startSec)}-${hhmm(q.endSec)} ${q.timezone}`;
}

/**
 * At most `count` routine posts per `windowMs` per destination (`max_frequency`). `wait` says how
 * long until the next one may go; `take` records one.
 */
export class FrequencyLimit {
  private readonly posts = new Map<string, number[]>();

  constructor(private readonly limit: { count: number; windowMs: number } | null) {}

  wait(key: string, now = Date.now()): number {
    if (!this.limit) return 0;
    const recent = (this.posts.get(key) ?? []).filter((t) => now - t < this.limit!.windowMs);
    this.posts.set(key, recent);
    return recent.length < this.limit.count ? 0 : recent[0] + this.limit.windowMs - now;
  }

  take(key: string, now = Date.now()): void {
    if (!this.limit) return;
    const list = this.posts.get(key) ?? [];
    list.push(now);
    this.posts.set(key, list);
  }
}
