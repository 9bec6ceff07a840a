import type { StatsJson } from '../protocol/index.js';
import { formatDuration, localTime, table } from './format.js';

const pct = (r: number | null): string => (r === null ? '-' : `${Math.round(r * 1000) / 10}%`);
const dur = (ms: number | null): string => (ms === null ? '-' : formatDuration(ms));
const mb = (b: number): string => (b < 1024 * 1024 ? `${Math.ceil(b / 1024)} KB` : `${Math.round((b / 1024 / 1024) * 10) / 10} MB`);
const counts = (r: Record<string, number>): string => Object.entries(r).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';

/** `opstream stats` for people. */
export function statsText(s: StatsJson, since: string): string {
  const r = s.runs;
  const out: string[] = [];
  const window = s.window.since ? `since ${localTime(s.window.since, Date.parse(s.window.until))} (${since})` : 'all time';
  out.push(`Runs that ended ${window}${s.window.workflow ? `, workflow ${s.window.workflow}` : ''}`);
  out.push(`  ${r.runs} run(s): ${r.succeeded} succeeded, ${r.failed} failed, ${r.cancelled} cancelled; success rate ${pct(r.success_rate)}`);
  out.push(`  duration of succeeded runs: p50 ${dur(r.duration_ms.p50)}, p95 ${dur(r.duration_ms.p95)}`);
  out.push(`  waiting for people: ${formatDuration(r.people_wait_ms)}; tokens: ${r.tokens.total} (${r.tokens.prompt} prompt, ${r.tokens.completion} completion); tool calls: ${r.tool_calls}`);
  out.push(`  active now: ${counts(Object.fromEntries(['queued', 'running', 'waiting', 'paused'].map((k) => [k, r.active[k as keyof typeof r.active] ?? 0])))}`);
  if (s.workflows.length) {
    out.push('');
    out.push(
      table(
        ['WORKFLOW', 'RUNS', 'OK', 'FAILED', 'CANCELLED', 'SUCCESS', 'P50', 'P95', 'PEOPLE WAIT', 'TOKENS', 'TOOL CALLS'],
        s.workflows.map((w) => [w.workflow, w.runs, w.succeeded, w.failed, w.cancelled, pct(w.success_rate), dur(w.duration_ms.p50), dur(w.duration_ms.p95), formatDuration(w.people_wait_ms), w.tokens.total, w.tool_calls]),
      ),
    );
  }
  out.push('');
  if (s.tools.length) {
    out.push(`Tool calls (all workflows) ${s.window.since ? 'in the same window' : 'all time'}`);
    out.push(table(['TOOL', 'CALLS', 'ERRORS', 'ERROR RATE', 'P95', 'CACHE HITS', 'HIT RATE'], s.tools.map((t) => [t.tool, t.calls, t.errors, pct(t.error_rate), dur(t.p95_ms), t.cache_hits, pct(t.cache_hit_rate)])));
  } else out.push('No tool calls in this window.');
  out.push('');
  const failed = counts(s.notifications.failed);
  out.push(`Notifications sent: ${counts(s.notifications.sent)}${failed !== 'none' ? `; given up: ${failed}` : ''}`);
  const d = s.daemon;
  out.push(
    `Daemon: pid ${d.pid}, v${d.version}, up ${formatDuration(d.uptime_ms)}, RSS ${mb(d.rss_bytes)}, store ${mb(d.store_bytes)}, outbox backlog ${counts(d.outbox_backlog)}` +
      (d.metrics_url ? `; Prometheus metrics at ${d.metrics_url}` : ''),
  );
  return out.join('\n');
}
