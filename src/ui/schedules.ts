import type { ScheduleJson } from '../protocol/index.js';
import { relativeTime, table, whenText } from './format.js';

/** `opstream schedules`: next and last fire in local time with how far away (ISO only under --json). */
export function schedulesText(list: ScheduleJson[], now = Date.now()): string {
  if (list.length === 0) return 'no schedules';
  return table(
    ['WORKFLOW', 'CRON', 'STATE', 'NEXT', 'LAST', 'OVERLAP', 'CATCH-UP'],
    list.map((s) => [s.workflow, s.timezone ? `${s.cron} (${s.timezone})` : s.cron, s.paused ? 'paused' : 'active', s.next_fire ? whenText(s.next_fire, now) : null, s.last_fire ? relativeTime(s.last_fire, now) : 'never', s.overlap, s.catch_up]),
  );
}
