import { parseDuration } from '../../config/duration.js';
import type { AnalyzeArgs, GenericSample } from './schema.js';

/**
 * Turns whatever the workflow passed (generic samples, raw repeat output) into three typed series.
 * Field names follow the ops tools' structured output, with the common alternatives other MCP
 * servers use, so a Prometheus- or CloudWatch-shaped result with the same meaning also works.
 */

export interface HttpSample {
  t: number;
  target: string;
  method: string;
  requests: number;
  statusCodes: Record<string, number>;
  s5xx: number;
  s4xx: number;
  /** Requests that got no response (refused, reset, DNS), timeouts excluded. */
  errors: number;
  timeouts: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
  /** First transport error message, as evidence. */
  errorText: string | null;
}

export interface ProcessSample {
  t: number;
  target: string;
  /** % of one core (may exceed 100 for multi-threaded processes). */
  cpu: number | null;
  rss: number | null;
  threads: number | null;
  fds: number | null;
}

export interface LogSample {
  t: number;
  target: string;
  errors: number;
  /** The scan covered only lines written since the previous scan (else it covered the file or its tail). */
  incremental: boolean;
  ratePerMin: number | null;
  lines: number | null;
  top: { message: string; count: number }[];
  firstAt: number | null;
  lastAt: number | null;
}

export interface Normalized {
  http: HttpSample[];
  process: ProcessSample[];
  log: LogSample[];
  ignored: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function numAt(o: Obj, ...paths: string[]): number | null {
  for (const p of paths) {
    let v: unknown = o;
    for (const k of p.split('.')) v = isObj(v) ? v[k] : undefined;
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  }
  return null;
}

function strAt(o: Obj, ...keys: string[]): string | null {
  for (const k of keys) if (typeof o[k] === 'string' && o[k] !== '') return o[k] as string;
  return null;
}

/** A count that a tool may give as a number or as the list of the things counted. */
function countAt(o: Obj, ...keys: string[]): number | null {
  for (const k of keys) {
    const v = o[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (Array.isArray(v)) return v.length;
  }
  return null;
}

/** Epoch ms from an ISO string or a number (epoch ms, or seconds since the window start below 1e11). */
export function parseTime(v: unknown, base = 0): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v >= 1e11 ? v : base + v * 1000;
  if (typeof v === 'string') {
    const ms = Date.parse(v);
    if (Number.isFinite(ms)) return ms;
    if (/^\d+(\.\d+)?$/.test(v.trim())) return parseTime(Number(v), base);
  }
  return null;
}

const TIME_KEYS = ['t', 'at', 'time', 'timestamp', 'sampled_at', 'started_at', 'start', 'ts'];

function ownTime(o: Obj, base: number): number | null {
  for (const k of TIME_KEYS) {
    const t = parseTime(o[k], base);
    if (t !== null) return t;
  }
  return null;
}

type Kind = 'http' | 'process' | 'log';

function kindFromName(kind: string | undefined): Kind | null {
  if (!kind) return null;
  const k = kind.toLowerCase();
  if (/http|probe|latency|request/.test(k)) return 'http';
  if (/process|proc|stats|cpu|mem/.test(k)) return 'process';
  if (/log/.test(k)) return 'log';
  return null;
}

/** Recognises an ops tool result by its fields. */
export function guessKind(d: Obj): Kind | null {
  const latency = isObj(d.latency_ms) || isObj(d.latency) || numAt(d, 'p95_ms', 'p95', 'latency_p95_ms') !== null;
  if (latency || (isObj(d.status_codes) && typeof d.url === 'string')) return 'http';
  if ((typeof d.file === 'string' || typeof d.path === 'string') && ('matches' in d || 'counts' in d || 'patterns' in d || 'error_count' in d || 'errors' in d || 'lines_scanned' in d)) return 'log';
  const proc = numAt(d, 'cpu_percent', 'cpu_pct', 'cpu.percent', 'rss_bytes', 'rss', 'memory.rss_bytes', 'memory.rss', 'rss_mb') !== null;
  if (proc && ('pid' in d || 'name' in d || 'command' in d || 'cpu_percent' in d)) return 'process';
  return null;
}

function toHttp(d: Obj, t: number, target: string | undefined): HttpSample {
  const url = strAt(d, 'url', 'target', 'endpoint') ?? target ?? 'unknown';
  const codesRaw = isObj(d.status_codes) ? d.status_codes : isObj(d.statuses) ? d.statuses : isObj(d.codes) ? d.codes : {};
  const statusCodes: Record<string, number> = {};
  // only real status codes: some tools also count "error" or "timeout" under this key
  for (const [code, n] of Object.entries(codesRaw)) if (/^\d{3}$/.test(code) && typeof n === 'number' && n > 0) statusCodes[code] = n;
  const byClass = (lo: number) => Object.entries(statusCodes).reduce((a, [c, n]) => (Number(c) >= lo && Number(c) < lo + 100 ? a + n : a), 0);
  const s5xx = byClass(500) || (numAt(d, 'status_5xx', 'errors_5xx', 'server_errors') ?? 0);
  const s4xx = byClass(400) || (numAt(d, 'status_4xx', 'errors_4xx', 'client_errors') ?? 0);
  const timeouts = countAt(d, 'timeouts', 'timed_out') ?? 0;
  const responded = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  const declared = numAt(d, 'count', 'requests', 'total', 'sent');
  const errorCount = countAt(d, 'errors', 'failed', 'failures');
  const requests = declared ?? responded + (errorCount ?? 0) + timeouts;
  // A request that got no status code and did not time out failed in transport (refused, reset).
  // Derived from the counts because tools differ on whether `errors` lists requests or messages.
  const errors = Math.max(0, requests - responded - timeouts);
  const lat = isObj(d.latency_ms) ? d.latency_ms : isObj(d.latency) ? d.latency : d;
  const pick = (name: string) => numAt(lat, name, `${name}_ms`) ?? numAt(d, `${name}_ms`, `latency_${name}_ms`);
  let errorText: string | null = null;
  const errorList = [d.error_samples, d.errors].find((v) => Array.isArray(v) && v.length > 0) as unknown[] | undefined;
  if (errorList) {
    const e = errorList[0];
    errorText = typeof e === 'string' ? e : isObj(e) ? (strAt(e, 'message', 'error', 'code') ?? null) : null;
  } else errorText = strAt(d, 'error', 'last_error');
  return {
    t,
    target: url,
    method: (strAt(d, 'method') ?? 'GET').toUpperCase(),
    requests,
    statusCodes,
    s5xx,
    s4xx,
    errors,
    timeouts,
    p50: pick('p50') ?? pick('median'),
    p95: pick('p95'),
    p99: pick('p99'),
    max: pick('max'),
    errorText,
  };
}

const MB = 1024 * 1024;

function toProcess(d: Obj, t: number, target: string | undefined): ProcessSample {
  const pid = numAt(d, 'pid');
  const name = strAt(d, 'name', 'command', 'comm', 'process');
  const label = target ?? (name && pid !== null ? `${name}#${pid}` : name ?? (pid !== null ? `pid ${pid}` : 'process'));
  let rss = numAt(d, 'rss_bytes', 'memory.rss_bytes', 'memory_bytes');
  if (rss === null) {
    const mb = numAt(d, 'rss_mb', 'memory.rss_mb', 'memory_mb');
    const kb = numAt(d, 'rss_kb', 'memory.rss_kb');
    const raw = numAt(d, 'rss', 'memory.rss');
    rss = mb !== null ? mb * MB : kb !== null ? kb * 1024 : raw;
  }
  return {
    t,
    target: label,
    cpu: numAt(d, 'cpu_percent', 'cpu_pct', 'cpu.percent', 'cpu'),
    rss,
    threads: numAt(d, 'threads', 'num_threads'),
    fds: numAt(d, 'open_fds', 'fds', 'num_fds'),
  };
}

function toLog(d: Obj, t: number, target: string | undefined): LogSample {
  let errors = numAt(d, 'error_count', 'errors', 'error_lines', 'matched', 'total_matches');
  if (errors === null && isObj(d.counts)) errors = Object.values(d.counts).reduce<number>((a, n) => a + (typeof n === 'number' ? n : 0), 0);
  if (errors === null && Array.isArray(d.patterns)) errors = d.patterns.reduce<number>((a, p) => a + (isObj(p) ? (numAt(p, 'count', 'matches') ?? 0) : 0), 0);
  if (errors === null && Array.isArray(d.matches)) errors = d.matches.length;
  const topRaw = Array.isArray(d.top_messages) ? d.top_messages : Array.isArray(d.top) ? d.top : [];
  const top = topRaw
    .map((m) => (isObj(m) ? { message: strAt(m, 'message', 'text', 'line', 'pattern') ?? '', count: numAt(m, 'count', 'n') ?? 1 } : { message: String(m), count: 1 }))
    .filter((m) => m.message !== '');
  return {
    t,
    target: target ?? strAt(d, 'file', 'path') ?? 'log',
    errors: errors ?? 0,
    incremental: d.incremental === true,
    ratePerMin: numAt(d, 'error_rate_per_min', 'errors_per_min', 'rate_per_min'),
    lines: numAt(d, 'lines_scanned', 'lines'),
    top,
    firstAt: parseTime(d.first_at ?? d.first_occurrence ?? (isObj(d.first) ? d.first.at : undefined)) ?? patternTime(d, 'first', Math.min),
    lastAt: parseTime(d.last_at ?? d.last_occurrence ?? (isObj(d.last) ? d.last.at : undefined)) ?? patternTime(d, 'last', Math.max),
  };
}

/** ops.log_scan gives first/last occurrences per pattern. */
function patternTime(d: Obj, which: 'first' | 'last', pick: (...xs: number[]) => number): number | null {
  if (!Array.isArray(d.patterns)) return null;
  const ts = d.patterns.map((p) => (isObj(p) && isObj(p[which]) ? parseTime(p[which].at) : null)).filter((t): t is number => t !== null);
  return ts.length ? pick(...ts) : null;
}

export function normalize(args: AnalyzeArgs): Normalized {
  const out: Normalized = { http: [], process: [], log: [], ignored: 0 };
  const base = args.started_at !== undefined ? (parseTime(args.started_at) ?? 0) : 0;
  const intervalMs = args.interval !== undefined ? (parseDuration(args.interval) ?? 0) : 0;

  const add = (kind: Kind | null, d: Obj, t: number, target: string | undefined): boolean => {
    if (kind === 'http') {
      // a probe of several URLs: one sample per URL
      const list = Array.isArray(d.results) ? d.results : Array.isArray(d.endpoints) ? d.endpoints : null;
      if (list && !guessKind({ ...d, results: undefined, endpoints: undefined })) {
        list.forEach((r) => isObj(r) && add('http', r, ownTime(r, base) ?? t, undefined));
        return true;
      }
      out.http.push(toHttp(d, t, target));
    } else if (kind === 'process') out.process.push(toProcess(d, t, target));
    else if (kind === 'log') out.log.push(toLog(d, t, target));
    else return false;
    return true;
  };

  args.samples.forEach((s: GenericSample, i) => {
    const t = (s.t !== undefined ? parseTime(s.t, base) : null) ?? ownTime(s.data, base) ?? base + i * intervalMs;
    if (!add(kindFromName(s.kind) ?? guessKind(s.data), s.data, t, s.target)) out.ignored++;
  });

  // Raw repeat output: walk it, recognising tool results, inheriting the time of the nearest
  // enclosing object that has one, else the iteration's place in the schedule.
  const walk = (v: unknown, t: number, depth: number): void => {
    if (depth > 6) return;
    if (Array.isArray(v)) {
      v.forEach((x) => walk(x, t, depth + 1));
      return;
    }
    if (!isObj(v)) return;
    // an earlier analysis among the iterations (a check step beside the probe): its summaries are not samples
    if (isObj(v.summary) && Array.isArray(v.findings) && isObj(v.window)) return;
    // a result without its own time (ops.log_scan has none) takes its iteration's: the object's own
    // time, else the earliest time among its direct children (the probe that ran beside it)
    const siblings = Object.values(v).filter(isObj).map((c) => ownTime(c, base)).filter((x): x is number => x !== null);
    const time = ownTime(v, base) ?? (siblings.length ? Math.min(...siblings) : t);
    const kind = guessKind(v) ?? (Array.isArray(v.results) && v.results.some((r) => isObj(r) && guessKind(r) === 'http') ? 'http' : null);
    if (kind) {
      add(kind, v, time, undefined);
      return;
    }
    const before = out.http.length + out.process.length + out.log.length;
    for (const child of Object.values(v)) walk(child, time, depth + 1);
    if (depth === 1 && out.http.length + out.process.length + out.log.length === before) out.ignored++;
  };
  args.iterations.forEach((it, i) => walk(it, base + i * intervalMs, 1));

  const byTime = <T extends { t: number }>(a: T, b: T) => a.t - b.t;
  out.http.sort(byTime);
  out.process.sort(byTime);
  out.log.sort(byTime);
  return out;
}
