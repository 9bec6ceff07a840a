import { clockSeconds, validTimezone } from '../../config/load.js';
import type { ChatServices } from '../chat/services.js';
import type { QuietHours } from '../chat/quiet.js';
import type { MetaTable } from '../repos/meta-table.js';

/** One person's Slack preferences (`/opstream prefs`), stored under meta `slack_prefs:<user>`. */
export interface Prefs {
  /** Where notifications of runs they started go: a DM, or the configured channel (default). */
  deliver?: 'dm' | 'channel';
  /** Notification kinds they want in their DMs; absent: all. Approvals and input requests always come. */
  kinds?: string[];
  /** Personal quiet hours for their DMs, HH:MM-HH:MM. */
  quiet_hours?: string | null;
  /** IANA zone for quiet_hours; absent: their Slack time zone (`users.info`), then UTC. */
  timezone?: string | null;
  /** Their Slack time zone, fetched once. */
  slack_tz?: string | null;
  updated_at?: string;
}

export const PREF_KINDS = ['start', 'milestone', 'completion', 'error', 'notify', 'budget'];
/** Kinds no preference can turn off: a run waiting for a person must reach one. */
const ALWAYS = new Set(['approval', 'input', 'test']);


export class PrefsStore {
  private readonly byUser = new Map<string, Prefs>();

  constructor(private readonly services: ChatServices) {}

  private table(): MetaTable<Prefs> {
    return this.services.repos.chat.slackPrefs as MetaTable<Prefs>;
  }

  async load(): Promise<void> {
    for (const [user, p] of await this.table().entries()) this.byUser.set(user, p);
  }

  get(user: string): Prefs {
    return this.byUser.get(user) ?? {};
  }

  async set(user: string, p: Prefs, actor: string): Promise<Prefs> {
    const next = { ...p, updated_at: new Date().toISOString() };
    await this.services.store.commit([this.table().putOp(user, next)], { actor, action: 'slack.prefs', target: `slack:${user}` });
    this.byUser.set(user, next);
    return next;
  }

  wantsKind(user: string, kind: string): boolean {
    const k = this.get(user).kinds;
    return ALWAYS.has(kind) || !k || k.includes(kind);
  }

  /** Personal quiet hours, in their zone; null when they set none. */
  quiet(user: string): QuietHours | null {
    const p = this.get(user);
    if (!p.quiet_hours) return null;
    const [a, b] = p.quiet_hours.split('-').map(clockSeconds);
    if (a === null || b === null) return null;
    return { startSec: a, endSec: b, timezone: p.timezone ?? p.slack_tz ?? 'UTC' };
  }
}

/**
 * `/opstream prefs ...` words applied to prefs; returns the new prefs or a problem to show. Words:
 * `dm` | `channel`, `kinds completion,error` | `kinds all`, `quiet 22:00-07:00` | `quiet off`,
 * `tz Europe/Berlin` | `tz auto`.
 */
export function applyPrefWords(p: Prefs, words: string[]): { prefs: Prefs } | { problem: string } {
  const next: Prefs = { ...p };
  for (let i = 0; i < words.length; i++) {
    const w = words[i].toLowerCase();
    const arg = words[i + 1];
    if (w === 'dm' || w === 'channel') next.deliver = w;
    else if (w === 'kinds') {
      if (!arg) return { problem: `kinds needs a list: ${PREF_KINDS.join(',')} (or all)` };
      i++;
      if (arg.toLowerCase() === 'all') delete next.kinds;
      else {
        const list = arg.toLowerCase().split(',').map((k) => k.trim().replace(/s$/, '')).filter(Boolean);
        const bad = list.filter((k) => !PREF_KINDS.includes(k));
        if (bad.length) return { problem: `unknown kind${bad.length > 1 ? 's' : ''} ${bad.join(', ')}; kinds are ${PREF_KINDS.join(', ')} (approvals and questions always come)` };
        next.kinds = list;
      }
    } else if (w === 'quiet') {
      if (!arg) return { problem: 'quiet needs HH:MM-HH:MM (e.g. 22:00-07:00) or off' };
      i++;
      if (arg.toLowerCase() === 'off') next.quiet_hours = null;
      else {
        const [a, b] = arg.split('-').map(clockSeconds);
        if (a === null || b === null || a === b || a === undefined || b === undefined) return { problem: `quiet hours look like 22:00-07:00, not ${arg}` };
        next.quiet_hours = arg;
      }
    } else if (w === 'tz' || w === 'timezone') {
      if (!arg) return { problem: 'tz needs a time zone such as Europe/Berlin (or auto for your Slack one)' };
      i++;
      if (arg.toLowerCase() === 'auto') next.timezone = null;
      else if (!validTimezone(arg)) return { problem: `unknown time zone ${arg} (use a name such as Europe/Berlin)` };
      else next.timezone = arg;
    } else return { problem: `I don't know the preference "${words[i]}". Try: prefs dm|channel, prefs kinds completion,error|all, prefs quiet 22:00-07:00|off, prefs tz Europe/Berlin|auto` };
  }
  return { prefs: next };
}

export function prefsText(p: Prefs): string {
  const tz = p.timezone ?? (p.slack_tz ? `${p.slack_tz} (from Slack)` : 'UTC');
  return [
    `• runs you start report to: *${p.deliver === 'dm' ? 'a DM to you' : 'the configured channel'}*`,
    `• kinds in your DMs: *${p.kinds ? p.kinds.join(', ') : 'all'}* (approvals and questions always come)`,
    `• your quiet hours: *${p.quiet_hours ? `${p.quiet_hours} ${tz}` : 'none'}*`,
  ].join('\n');
}
