import type { RunEventJson } from '../protocol/index.js';
import type { RunOutline } from '../protocol/run-state.js';
import { formatMeasurement, iterationMeasurements, isBreach, stepLabel } from '../protocol/run-view.js';
import { formatDuration } from './format.js';
import { paint, truncateVisible, type Paint } from './color.js';

/**
 * A run event as one readable line (`opstream logs`, `logs --follow`, the dashboard's log):
 * time, step, what happened and its key figures. `--json` keeps the raw events.
 */
export interface EventLineOptions {
  paint?: Paint;
  /** Cut to this many visible characters (the terminal's width); 0: never. */
  width?: number;
  /** For the date part: events of another day than `now` show their date. */
  now?: number;
  /** The run's outline (step names, defaults); else the one its run.created event carried. */
  outline?: RunOutline;
}

/**
 * Outlines seen in run.created events, by run: `logs` prints a run's events from its first, so the
 * lines after it can name steps as people wrote them. Bounded; an unknown run reads ids.
 */
const outlines = new Map<string, RunOutline>();
function outlineOf(e: RunEventJson, given?: RunOutline): RunOutline | undefined {
  if (given) return given;
  if (e.type === 'run.created' && e.outline) {
    if (outlines.size > 200) outlines.delete(outlines.keys().next().value as string);
    outlines.set(e.run_id, e.outline as RunOutline);
  }
  return outlines.get(e.run_id);
}

/**
 * Events that are samples, not news: a loop's steps starting and succeeding in each iteration.
 * The iteration's own line says what the check measured; failures and waits still show.
 */
export function isSampleNoise(e: RunEventJson): boolean {
  if (!e.step || !/\[\d+\]/.test(e.step)) return false;
  return e.type === 'step.started' || e.type === 'step.succeeded' || e.type === 'step.skipped';
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** Local time, HH:MM:SS; with MM-DD in front when not today. */
export function clock(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '--:--:--';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const t = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  return new Date(now).toDateString() === d.toDateString() ? t : `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${t}`;
}

/** Keys that say the most about a result, in the order they are shown. */
const PREFERRED = [/(^|\.)latency_ms\.p95$/, /(^|\.)latency_ms\.p50$/, /p95/, /p50/, /(^|\.)ok$/, /(^|\.)errors$/, /error_rate/, /(^|\.)timeouts$/, /cpu_percent/, /rss_bytes/, /used_percent/, /slo\.met$/, /slo\.status$/, /^decision$/, /^status$/, /(^|\.)count$/, /headline/];
const SKIP = /(^|\.)(started_at|sampled_at|at|url|cmdline|error_samples|query|hostname|platform)$/;

function fmtNumber(key: string, v: number): string {
  if (/bytes$/.test(key)) return `${Math.round((v / 1024 / 1024) * 10) / 10}MB`;
  if (Number.isInteger(v)) return String(v);
  return String(Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 100) / 100);
}

function leaves(v: unknown, prefix: string, depth: number, out: [string, string][]): void {
  if (v === null || v === undefined) return;
  if (typeof v === 'number') out.push([prefix, fmtNumber(prefix, v)]);
  else if (typeof v === 'boolean') out.push([prefix, String(v)]);
  else if (typeof v === 'string') {
    if (v.length <= 40 && !/^\d{4}-\d\d-\d\dT/.test(v)) out.push([prefix, /\s/.test(v) ? JSON.stringify(v) : v]);
  } else if (Array.isArray(v)) {
    const short = v.length <= 3 && v.every((x) => typeof x === 'number' || (typeof x === 'string' && x.length <= 20));
    out.push([prefix, short && v.length ? v.join(',') : `[${v.length} item${v.length === 1 ? '' : 's'}]`]);
  }
  else if (typeof v === 'object' && depth < 4) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) leaves(x, prefix ? `${prefix}.${k}` : k, depth + 1, out);
  }
}

/** Up to `max` `key=value` figures of a step's output, the telling ones first. */
export function keyFigures(output: unknown, max = 4): string {
  if (output === null || output === undefined) return '';
  if (typeof output !== 'object') {
    const s = typeof output === 'string' ? output.split('\n')[0] : String(output);
    return s.length > 60 ? JSON.stringify(`${s.slice(0, 57)}...`) : JSON.stringify(s);
  }
  if (Array.isArray(output)) return `[${output.length} item${output.length === 1 ? '' : 's'}]`;
  const all: [string, string][] = [];
  leaves(output, '', 0, all);
  const usable = all.filter(([k]) => !SKIP.test(k));
  const rank = (k: string): number => {
    const i = PREFERRED.findIndex((re) => re.test(k));
    return i < 0 ? PREFERRED.length : i;
  };
  return usable
    .map((e, i) => ({ e, i, r: rank(e[0]) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .slice(0, max)
    .map(({ e: [k, v] }) => `${k}=${v}`)
    .join(' ');
}

function firstLine(s: unknown, max = 120): string {
  const line = String(s ?? '').split('\n')[0];
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

function waitText(w: Record<string, unknown> | undefined, now: number): string {
  if (!w) return 'waiting';
  const until = typeof w.until === 'string' ? ` (until ${clock(w.until, now)})` : '';
  switch (w.kind) {
    case 'approval':
      return `waiting for approval: ${JSON.stringify(firstLine(w.prompt, 100))}${until}`;
    case 'input':
      return `waiting for input: ${JSON.stringify(firstLine(w.prompt, 100))}${until}`;
    case 'retry':
      return `retry due${until}`;
    default:
      return `waiting${typeof w.until === 'string' ? ` until ${clock(w.until, now)}` : ''}`;
  }
}

/** What happened, as words, and how it is coloured. */
function describe(e: RunEventJson, p: Paint, now: number, outline: RunOutline | undefined): string {
  const x = e as RunEventJson & Record<string, unknown>;
  switch (e.type) {
    case 'run.created': {
      // only what differs from the workflow's defaults
      const defaults = outline?.defaults ?? {};
      const params = Object.entries((x.params as Record<string, unknown>) ?? {}).filter(([k, v]) => !(k in defaults && JSON.stringify(defaults[k]) === JSON.stringify(v))).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
      return `run created${x.trigger ? ` (${String(x.trigger)})` : ''}${params ? `  ${params}` : ''}`;
    }
    case 'run.queued':
      return p.yellow('queued: the workflow is at its concurrency limit');
    case 'run.started':
      return 'run started';
    case 'run.recovered':
      return p.yellow('resumed after a daemon restart');
    case 'step.started': {
      const attempt = typeof x.attempt === 'number' && x.attempt > 1 ? ` (attempt ${x.attempt})` : '';
      const loop = typeof x.every_ms === 'number' ? `: every ${formatDuration(x.every_ms)}${typeof x.for_ms === 'number' ? ` for ${formatDuration(x.for_ms)}` : ''}` : '';
      return `started${attempt}${x.rerun ? ' again after a restart' : ''}${loop}`;
    }
    case 'step.succeeded': {
      const ms = iterationMeasurements({ x: x.output });
      const f = ms.length ? ms.slice(0, 4).map(formatMeasurement).join(', ') : keyFigures(x.output);
      return `${p.green('succeeded')}${f ? `  ${f}` : ''}`;
    }
    case 'step.skipped':
      return p.dim('skipped (its `when` was false)');
    case 'step.failed':
      return `${p.red('failed')}: ${firstLine(x.error)}${typeof x.retry_at === 'string' ? p.yellow(`; retry at ${clock(x.retry_at, now)}`) : ''}`;
    case 'step.waiting':
      return p.yellow(waitText(x.waiting_for as Record<string, unknown> | undefined, now));
    case 'repeat.iteration': {
      // one line per check: what it measured (objectives first), not every sample's step
      const ms = iterationMeasurements(x.output);
      const f = ms.length ? ms.slice(0, 4).map(formatMeasurement).join(', ') : keyFigures(x.output);
      const next = typeof x.next_at === 'string' ? `; next at ${clock(x.next_at, now)}` : '';
      const watch = outline?.steps.find((s) => s.id === e.step)?.watch;
      const what = `${watch ? 'check' : 'iteration'} ${Number(x.index) + 1}`;
      return `${isBreach(x.output) ? p.red(`${what}: breach`) : `${what} done`}${f ? `  ${f}` : ''}${next}`;
    }
    case 'timer.fired':
      return x.kind === 'retry' ? 'retrying now' : 'timer fired';
    case 'approval.answered':
      return `${x.decision === 'approved' ? p.green('approved') : p.red('rejected')} by ${String(x.by)}${x.comment ? `: ${JSON.stringify(firstLine(x.comment, 80))}` : ''}`;
    case 'input.answered':
      return `answered by ${String(x.by)}: ${JSON.stringify(firstLine(x.text, 80))}`;
    case 'wait.timed_out':
      return p.red(`timed out: ${firstLine(x.error)}`);
    case 'run.pause_requested':
      return p.yellow(`pausing at the next step${x.reason ? ` (${String(x.reason)})` : ''}`);
    case 'run.paused':
      return p.yellow(`paused${x.reason ? ` (${String(x.reason)})` : ''}`);
    case 'run.resumed':
      return `resumed${x.by ? ` by ${String(x.by)}` : ''}${x.budget_grant ? ' (one more budget granted)' : ''}`;
    case 'run.succeeded':
      return p.green('run succeeded');
    case 'run.failed':
      return p.red(`run failed: ${firstLine(x.error)}`);
    case 'run.cancelled':
      return p.dim(`run cancelled${x.by ? ` by ${String(x.by)}` : ''}`);
    default: {
      // events of other parts (agent turns, LLM calls): their scalar fields, briefly
      const f = keyFigures(Object.fromEntries(Object.entries(x).filter(([k]) => !['seq', 'at', 'run_id', 'type', 'step', 'status', 'workflow'].includes(k))), 5);
      return `${e.type}${f ? `  ${f}` : ''}`;
    }
  }
}

/** One event as a line; '' for a loop's per-sample step events (see isSampleNoise). */
export function eventLine(e: RunEventJson, o: EventLineOptions = {}): string {
  const outline = outlineOf(e, o.outline);
  if (isSampleNoise(e)) return '';
  const p = o.paint ?? paint(false);
  const now = o.now ?? Date.now();
  const step = e.step ? `${p.bold(stepLabel(e.step, outline))}  ` : '';
  const line = `${p.dim(clock(e.at, now))}  ${step}${describe(e, p, now, outline)}`;
  return o.width ? truncateVisible(line, o.width) : line;
}
