import { formatDuration } from '../../config/duration.js';
import { AnalyzeInput, Thresholds, type AnalyzeInput as AnalyzeInputIn, type AnalyzeOutput, type Objectives, type Remediation, type RemediationSpec, type Verification, type SloResult, type EndpointSummary, type Finding, type LogSummary, type ProcessSummary, type Series, type Severity } from './schema.js';
import { normalize, type HttpSample, type LogSample, type Normalized, type ProcessSample } from './normalize.js';
import { downsample, linearRegression, max, mean, median, percentile, round } from './stats.js';

/**
 * Deterministic bottleneck analysis of sampled ops data (no LLM, no clock, no randomness): the same
 * samples always give the same findings in the same order. Each detector looks at one signal of one
 * target and reports a finding only when a threshold is crossed in a sustained way (or, for spikes
 * and bursts, clearly), so healthy data gives no findings.
 */

const SERIES_POINTS = 120;
const MB = 1024 * 1024;
const SEVERITY_RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

const iso = (t: number | null | undefined): string | null => (t === null || t === undefined || !Number.isFinite(t) ? null : new Date(t).toISOString());
const pct = (x: number): string => `${round(x * 100, 1)}%`;
const ms = (x: number): string => `${Math.round(x)} ms`;

function endpointOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return url;
  }
}

function groupBy<T extends { target: string }>(xs: T[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const list = m.get(x.target);
    if (list) list.push(x);
    else m.set(x.target, [x]);
  }
  return m;
}

function series(label: string, metric: string, unit: string, points: { t: number; v: number | null }[]): Series {
  return { label, metric, unit, points: downsample(points, SERIES_POINTS).map((p) => ({ t: iso(p.t) ?? '', v: p.v === null ? null : round(p.v, 2) })) };
}

interface Ctx {
  th: Thresholds;
  findings: Finding[];
}

function finding(f: Omit<Finding, 'id'>): Finding {
  return { id: `${f.kind}:${f.target}`, ...f };
}

// ---------------------------------------------------------------- HTTP

function analyzeEndpoint(ctx: Ctx, target: string, xs: HttpSample[]): EndpointSummary {
  const { th } = ctx;
  const endpoint = endpointOf(target);
  const method = xs[0].method;
  const label = `${method} ${endpoint}`;
  const n = xs.length;
  const requests = xs.reduce((a, s) => a + s.requests, 0);
  const statusCodes: Record<string, number> = {};
  for (const s of xs) for (const [c, k] of Object.entries(s.statusCodes)) statusCodes[c] = (statusCodes[c] ?? 0) + k;
  const s5xx = xs.reduce((a, s) => a + s.s5xx, 0);
  const errors = xs.reduce((a, s) => a + s.errors, 0);
  const timeouts = xs.reduce((a, s) => a + s.timeouts, 0);
  const failed = s5xx + errors + timeouts;

  // latency: each sample's p95 is one point of the series; the endpoint's level is their median
  const p95s = xs.map((s) => s.p95 ?? s.p99 ?? s.max);
  const p95Values = p95s.filter((v): v is number => v !== null);
  const p50 = median(xs.map((s) => s.p50).filter((v): v is number => v !== null));
  const p95 = median(p95Values);
  const p99 = median(xs.map((s) => s.p99 ?? s.max).filter((v): v is number => v !== null));
  const worst = max(xs.map((s) => s.max ?? s.p99 ?? s.p95).filter((v): v is number => v !== null));
  const latencySeries = series(label, 'p95 latency', 'ms', xs.map((s, i) => ({ t: s.t, v: p95s[i] })));

  if (p95 !== null && p95Values.length > 0) {
    const over = xs.filter((_, i) => (p95s[i] ?? 0) >= th.latency_p95_ms);
    const sustained = over.length / p95Values.length >= th.sustained_fraction && p95 >= th.latency_p95_ms;
    if (sustained) {
      ctx.findings.push(
        finding({
          kind: 'latency',
          severity: p95 >= th.latency_p95_critical_ms ? 'critical' : 'warning',
          title: `${label} is slow: p95 ${ms(p95)} (threshold ${ms(th.latency_p95_ms)}) in ${over.length} of ${n} samples`,
          target,
          endpoint,
          metric: 'latency_ms',
          percentile: 'p95',
          value: round(p95),
          threshold: th.latency_p95_ms,
          unit: 'ms',
          first_at: iso(over[0].t),
          last_at: iso(over[over.length - 1].t),
          samples_affected: over.length,
          samples_total: n,
          evidence: { p50_ms: p50 === null ? null : round(p50), p95_ms: round(p95), p99_ms: p99 === null ? null : round(p99), max_ms: worst === null ? null : round(worst), requests },
          suggested_fix:
            `Every request to ${endpoint} waits on something: look for a saturated resource it needs (a connection or thread pool that is too small, ` +
            `a lock, a slow or unindexed query, serialized fan-out calls). If the handler fans out to a pool, raise the pool size to at least the fan-out; ` +
            `profile one request to see where the time goes.`,
          series: latencySeries,
        }),
      );
    } else {
      // spikes: samples far above the endpoint's usual level and over the latency threshold
      const spikeAt = Math.max(th.latency_p95_ms, p95 * th.spike_factor);
      const spikes = xs.filter((_, i) => (p95s[i] ?? 0) >= spikeAt);
      if (spikes.length > 0) {
        const peak = max(spikes.map((s) => s.p95 ?? s.p99 ?? s.max ?? 0)) ?? 0;
        ctx.findings.push(
          finding({
            kind: 'latency_spike',
            severity: peak >= th.latency_p95_critical_ms || spikes.length >= 2 ? 'warning' : 'info',
            title: `${label} latency spiked to p95 ${ms(peak)} (usual ${ms(p95)}) in ${spikes.length} of ${n} samples`,
            target,
            endpoint,
            metric: 'latency_ms',
            percentile: 'p95',
            value: round(peak),
            threshold: round(spikeAt),
            unit: 'ms',
            first_at: iso(spikes[0].t),
            last_at: iso(spikes[spikes.length - 1].t),
            samples_affected: spikes.length,
            samples_total: n,
            evidence: { usual_p95_ms: round(p95), peak_p95_ms: round(peak), spike_factor: round(peak / Math.max(p95, 0.001)) },
            suggested_fix: `Intermittent slowness on ${endpoint}: correlate the spike times with GC pauses, CPU saturation, deploys, cron jobs or a dependency's latency; look at the slowest requests in the log around ${iso(spikes[0].t)}.`,
            series: latencySeries,
          }),
        );
      }
    }
  }

  if (requests > 0) {
    const rateSeries = series(label, 'failed requests', '%', xs.map((s) => ({ t: s.t, v: s.requests > 0 ? (100 * (s.s5xx + s.errors + s.timeouts)) / s.requests : null })));
    const rate5xx = s5xx / requests;
    const codes5xx = Object.entries(statusCodes).filter(([c]) => Number(c) >= 500).sort((a, b) => b[1] - a[1]);
    const top5xx = codes5xx[0]?.[0] ?? null;
    const bad = xs.filter((s) => s.s5xx > 0);

    if (errors > 0 && errors / requests >= 0.5) {
      const hit = xs.filter((s) => s.errors > 0);
      ctx.findings.push(
        finding({
          kind: 'unreachable',
          severity: 'critical',
          title: `${label} did not answer: ${errors} of ${requests} requests failed without a response`,
          target,
          endpoint,
          metric: 'connection_error_rate',
          percentile: null,
          value: round(errors / requests, 4),
          threshold: 0.5,
          unit: 'ratio',
          first_at: iso(hit[0].t),
          last_at: iso(hit[hit.length - 1].t),
          samples_affected: hit.length,
          samples_total: n,
          evidence: { requests, connection_errors: errors, error: xs.find((s) => s.errorText)?.errorText ?? null },
          suggested_fix: `Check that the service is running and listening on ${target} (process up, port, bind address, firewall); a restart loop or a crash shows in its log.`,
          series: rateSeries,
        }),
      );
    } else if (rate5xx >= th.error_rate) {
      const gateway = top5xx === '504' || top5xx === '502' || top5xx === '503';
      ctx.findings.push(
        finding({
          kind: 'error_rate',
          severity: rate5xx >= th.error_rate_critical ? 'critical' : 'warning',
          title: `${label} fails: ${pct(rate5xx)} 5xx (threshold ${pct(th.error_rate)})${top5xx ? `, mostly ${top5xx}` : ''}`,
          target,
          endpoint,
          metric: '5xx_rate',
          percentile: null,
          value: round(rate5xx, 4),
          threshold: th.error_rate,
          unit: 'ratio',
          first_at: iso(bad[0]?.t),
          last_at: iso(bad[bad.length - 1]?.t),
          samples_affected: bad.length,
          samples_total: n,
          evidence: { requests, status_5xx: s5xx, top_status: top5xx, ...Object.fromEntries(codes5xx.map(([c, k]) => [`status_${c}`, k])) },
          suggested_fix: gateway
            ? `${top5xx} means a dependency behind ${endpoint} did not answer in time: compare the dependency's latency with the client timeout configured for it (a timeout set below its normal latency fails every call), fix the timeout or the dependency, and add retries with backoff and a circuit breaker.`
            : `${endpoint} returns server errors: read the error lines in the service log at the same times, fix the failing code path, and add a test for it.`,
          series: rateSeries,
        }),
      );
    } else {
      // a burst: a few samples where most requests failed, while the window as a whole is fine
      const bursts = xs.filter((s) => s.requests > 0 && (s.s5xx + s.errors) / s.requests >= th.burst_rate && s.s5xx + s.errors >= 2);
      if (bursts.length > 0) {
        const failedInBursts = bursts.reduce((a, s) => a + s.s5xx + s.errors, 0);
        ctx.findings.push(
          finding({
            kind: 'error_burst',
            severity: 'warning',
            title: `${label} had ${bursts.length} error burst(s): ${failedInBursts} failed requests`,
            target,
            endpoint,
            metric: 'failed_requests',
            percentile: null,
            value: failedInBursts,
            threshold: th.burst_rate,
            unit: 'requests',
            first_at: iso(bursts[0].t),
            last_at: iso(bursts[bursts.length - 1].t),
            samples_affected: bursts.length,
            samples_total: n,
            evidence: { requests, status_5xx: s5xx, connection_errors: errors, burst_samples: bursts.length },
            suggested_fix: `Errors on ${endpoint} came in bursts: look for what happened at ${iso(bursts[0].t)} (a deploy, a restart, a dependency outage, pool exhaustion under load) in the service and dependency logs.`,
            series: rateSeries,
          }),
        );
      }
    }

    if (timeouts / requests >= th.timeout_rate) {
      const hit = xs.filter((s) => s.timeouts > 0);
      ctx.findings.push(
        finding({
          kind: 'timeouts',
          severity: timeouts / requests >= th.error_rate_critical ? 'critical' : 'warning',
          title: `${label} timed out on ${timeouts} of ${requests} requests (${pct(timeouts / requests)})`,
          target,
          endpoint,
          metric: 'timeout_rate',
          percentile: null,
          value: round(timeouts / requests, 4),
          threshold: th.timeout_rate,
          unit: 'ratio',
          first_at: iso(hit[0]?.t),
          last_at: iso(hit[hit.length - 1]?.t),
          samples_affected: hit.length,
          samples_total: n,
          evidence: { requests, timeouts, p99_ms: p99 === null ? null : round(p99) },
          suggested_fix: `Requests to ${endpoint} hang past the probe's timeout: find what they block on (a stuck dependency call without a timeout, an exhausted pool, a deadlock) and give every outbound call a timeout shorter than the caller's.`,
          series: rateSeries,
        }),
      );
    }
  }

  return {
    target,
    endpoint: label,
    samples: n,
    requests,
    p50_ms: p50 === null ? null : round(p50),
    p95_ms: p95 === null ? null : round(p95),
    p99_ms: p99 === null ? null : round(p99),
    max_ms: worst === null ? null : round(worst),
    error_rate: requests > 0 ? round(failed / requests, 4) : 0,
    status_codes: statusCodes,
  };
}

// ---------------------------------------------------------------- process

function analyzeProcess(ctx: Ctx, target: string, xs: ProcessSample[]): ProcessSummary {
  const { th } = ctx;
  const n = xs.length;
  const cpus = xs.map((s) => s.cpu).filter((v): v is number => v !== null);
  const cpuMedian = median(cpus);
  if (cpuMedian !== null && cpus.length > 0) {
    const over = xs.filter((s) => (s.cpu ?? 0) >= th.cpu_percent);
    if (cpuMedian >= th.cpu_percent && over.length / cpus.length >= th.sustained_fraction) {
      ctx.findings.push(
        finding({
          kind: 'cpu_saturation',
          severity: cpuMedian >= th.cpu_percent_critical ? 'critical' : 'warning',
          title: `${target} is CPU-bound: ${round(cpuMedian)}% of a core (median) in ${over.length} of ${n} samples (threshold ${th.cpu_percent}%)`,
          target,
          endpoint: null,
          metric: 'cpu_percent',
          percentile: 'p50',
          value: round(cpuMedian),
          threshold: th.cpu_percent,
          unit: '%',
          first_at: iso(over[0].t),
          last_at: iso(over[over.length - 1].t),
          samples_affected: over.length,
          samples_total: n,
          evidence: { cpu_median: round(cpuMedian), cpu_p95: round(percentile(cpus, 95) ?? 0), cpu_max: round(max(cpus) ?? 0), threads: xs[xs.length - 1].threads },
          suggested_fix:
            `Take a CPU profile of ${target} (node --cpu-prof or --inspect, perf, py-spy) to find the hot path. Busy CPU while request latency stays normal points at a ` +
            `background job or worker in a busy loop: restart that worker and fix the loop; if it is request work, scale out or cache.`,
          series: series(target, 'CPU', '%', xs.map((s) => ({ t: s.t, v: s.cpu }))),
        }),
      );
    }
  }

  const rssPoints = xs.filter((s) => s.rss !== null).map((s) => ({ x: (s.t - xs[0].t) / 1000, y: (s.rss as number) / MB, t: s.t }));
  const fit = rssPoints.length >= 3 ? linearRegression(rssPoints) : null;
  const first = rssPoints[0]?.y ?? null;
  const last = rssPoints[rssPoints.length - 1]?.y ?? null;
  if (fit && first !== null && rssPoints.length >= 3) {
    const spanS = rssPoints[rssPoints.length - 1].x - rssPoints[0].x;
    const growth = fit.slope * spanS;
    const minGrowth = Math.max(th.memory_growth_mb, (th.memory_growth_pct / 100) * first);
    if (fit.slope > 0 && fit.r2 >= th.memory_r2 && growth >= minGrowth) {
      const perMin = fit.slope * 60;
      ctx.findings.push(
        finding({
          kind: 'memory_growth',
          severity: growth >= first * 0.5 || perMin * 60 >= 1024 ? 'critical' : 'warning',
          title: `${target} memory grows ${round(perMin, 1)} MB/min (RSS ${round(first)} -> ${round(last ?? first)} MB, R² ${round(fit.r2, 2)})`,
          target,
          endpoint: null,
          metric: 'rss_growth_mb_per_min',
          percentile: null,
          value: round(perMin, 2),
          threshold: round((minGrowth / Math.max(spanS, 1)) * 60, 2),
          unit: 'MB/min',
          first_at: iso(rssPoints[0].t),
          last_at: iso(rssPoints[rssPoints.length - 1].t),
          samples_affected: rssPoints.length,
          samples_total: n,
          evidence: { rss_first_mb: round(first), rss_last_mb: round(last ?? first), growth_mb: round(growth), slope_mb_per_min: round(perMin, 2), r2: round(fit.r2, 3), projected_1h_mb: round((last ?? first) + perMin * 60) },
          suggested_fix:
            `Memory of ${target} rises steadily, the shape of a leak (an unbounded cache or queue, listeners or timers never removed, retained buffers). ` +
            `Take two heap snapshots a few minutes apart and compare what grew; bound the cache. As a stopgap, restart the leaking worker or process before it hits its memory limit.`,
          series: series(target, 'RSS', 'MB', xs.map((s) => ({ t: s.t, v: s.rss === null ? null : s.rss / MB }))),
        }),
      );
    }
  }

  return {
    target,
    samples: n,
    cpu_avg: cpus.length ? round(mean(cpus) ?? 0) : null,
    cpu_max: cpus.length ? round(max(cpus) ?? 0) : null,
    rss_first_mb: first === null ? null : round(first),
    rss_last_mb: last === null ? null : round(last),
    rss_slope_mb_per_min: fit ? round(fit.slope * 60, 2) : null,
  };
}

// ---------------------------------------------------------------- logs

function analyzeLog(ctx: Ctx, target: string, xs: LogSample[], windowMs: number): LogSummary {
  const { th } = ctx;
  const n = xs.length;
  // Incremental scans count only new lines, so they add up. A scan of the file (or its tail) counts
  // everything in it, old lines too: what happened in the window is the growth from the first scan
  // to the last (the latest count when the file shrank, i.e. was rotated, or with a single scan).
  const incremental = xs.every((s) => s.incremental);
  const first = xs[0];
  const last = xs[n - 1];
  const cumulative = !incremental && n >= 2 && last.errors >= first.errors;
  const total = incremental ? xs.reduce((a, s) => a + s.errors, 0) : cumulative ? last.errors - first.errors : last.errors;
  const perSample = xs.map((s, i) => (incremental ? s.errors : i === 0 ? (cumulative ? 0 : s.errors) : Math.max(0, s.errors - xs[i - 1].errors)));
  const hit = xs.filter((_, i) => perSample[i] > 0);
  let firstAt = hit[0]?.t ?? null;
  let lastAt = hit[hit.length - 1]?.t ?? null;
  if (!cumulative) {
    firstAt = min(xs.map((s) => s.firstAt)) ?? firstAt;
    lastAt = maxOf(xs.map((s) => s.lastAt)) ?? lastAt;
  }
  // the tool's own rate when it gives one; else errors over the window (at least a minute)
  const spanMs = cumulative || incremental ? windowMs : firstAt !== null && lastAt !== null && lastAt > firstAt ? lastAt - firstAt : windowMs;
  const rate = last.ratePerMin ?? (total > 0 ? total / Math.max(spanMs / 60_000, 1 / 60) : 0);
  const tops = new Map<string, number>();
  if (incremental) for (const s of xs) for (const m of s.top) tops.set(m.message, (tops.get(m.message) ?? 0) + m.count);
  else {
    for (const m of last.top) tops.set(m.message, m.count);
    if (cumulative) for (const m of first.top) tops.set(m.message, (tops.get(m.message) ?? 0) - m.count);
  }
  const top = [...tops.entries()]
    .filter(([, c]) => c > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 5)
    .map(([message, count]) => ({ message, count }));

  if (total >= th.log_errors_min && rate >= th.log_errors_per_min) {
    ctx.findings.push(
      finding({
        kind: 'log_errors',
        severity: rate >= th.log_errors_per_min_critical ? 'critical' : 'warning',
        title: `${target}: ${total} new error lines (${round(rate, 1)}/min)${top[0] ? `, top: "${clip(top[0].message, 100)}"` : ''}`,
        target,
        endpoint: null,
        metric: 'log_errors_per_min',
        percentile: null,
        value: round(rate, 2),
        threshold: th.log_errors_per_min,
        unit: '/min',
        first_at: iso(firstAt),
        last_at: iso(lastAt),
        samples_affected: hit.length,
        samples_total: n,
        evidence: { error_lines: total, per_min: round(rate, 2), top_message: top[0]?.message ?? null, top_count: top[0]?.count ?? null },
        suggested_fix: `Read the most frequent error${top[0] ? ` ("${top[0].message.slice(0, 120)}")` : ''} and fix its cause first; errors that match failing endpoints or a dependency name point at the component to look at.`,
        series: series(target, 'new error lines', 'lines', xs.map((s, i) => ({ t: s.t, v: perSample[i] }))),
      }),
    );
  }
  return { target, samples: n, errors: total, errors_per_min: total > 0 ? round(rate, 2) : 0, top_messages: top };
}

function clip(text: string, n: number): string {
  return text.length <= n ? text : `${text.slice(0, n - 1)}…`;
}

function min(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? Math.min(...v) : null;
}
function maxOf(xs: (number | null)[]): number | null {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? Math.max(...v) : null;
}

// ---------------------------------------------------------------- correlation and summary

function overlaps(a: Finding, b: Finding): boolean {
  if (!a.first_at || !a.last_at || !b.first_at || !b.last_at) return false;
  return a.first_at <= b.last_at && b.first_at <= a.last_at;
}

/** Findings of requests that fail: the log's errors say why, even too few for a finding of their own. */
const FAILING: ReadonlySet<string> = new Set(['error_rate', 'error_burst', 'timeouts', 'unreachable']);

/** The most severe finding, with the other findings that happened at the same time as evidence. */
function rootCause(findings: Finding[], logs: LogSummary[]): string | null {
  const serious = findings.filter((f) => f.severity !== 'info');
  if (serious.length === 0) return null;
  const primary = serious[0];
  const related = serious.slice(1).filter((f) => overlaps(primary, f));
  let text = primary.title;
  if (related.length > 0) text += `; at the same time: ${related.map((f) => `${f.kind} on ${f.endpoint ?? f.target}`).join(', ')}`;
  const log = findings.find((f) => f.kind === 'log_errors' && f !== primary && typeof f.evidence.top_message === 'string');
  // a breach that began during a check fails a few of its requests only: their few error lines
  // (fewer than log_errors_min) still name the cause
  const top = log
    ? String(log.evidence.top_message)
    : FAILING.has(primary.kind)
      ? logs.flatMap((l) => l.top_messages).sort((a, b) => b.count - a.count)[0]?.message
      : undefined;
  if (top !== undefined) text += `; most frequent log error: "${top.slice(0, 120)}"`;
  return text;
}

function timeWindow(n: Normalized): { from: number | null; to: number | null } {
  const ts = [...n.http, ...n.process, ...n.log].map((s) => s.t);
  return ts.length ? { from: Math.min(...ts), to: Math.max(...ts) } : { from: null, to: null };
}

// ---------------------------------------------------------------- SLO

/** Each HTTP sample is one check of the objectives; the window's last breach episode gives the time to recovery. */
function evaluateSlo(o: Objectives, xs: HttpSample[]): SloResult {
  const objectives = { availability_pct: o.availability_pct ?? null, latency_ms: o.latency_ms ?? null, latency_percentile: o.latency_percentile };
  const checks = xs.map((s) => {
    const good = Object.entries(s.statusCodes).reduce((a, [c, k]) => (Number(c) < 500 ? a + k : a), 0);
    const availability = s.requests > 0 ? (100 * good) / s.requests : null;
    const latency = o.latency_percentile === 'p50' ? s.p50 : o.latency_percentile === 'p99' ? (s.p99 ?? s.max) : (s.p95 ?? s.p99 ?? s.max);
    const reasons: string[] = [];
    if (o.availability_pct !== undefined && availability !== null && availability < o.availability_pct) reasons.push(`availability ${round(availability, 2)}% < ${o.availability_pct}%`);
    if (o.latency_ms !== undefined && latency !== null && latency > o.latency_ms) reasons.push(`${o.latency_percentile} latency ${ms(latency)} > ${ms(o.latency_ms)}`);
    return { s, good, availability, latency, reasons };
  });
  if (checks.length === 0) {
    return { objectives, met: false, status: 'no_data', checks: 0, breaching_checks: 0, availability_pct: null, latency_ms: null, reason: null, breach_started_at: null, recovered_at: null, time_to_recovery_ms: null, time_to_recovery: null };
  }
  const requests = xs.reduce((a, s) => a + s.requests, 0);
  const good = checks.reduce((a, c) => a + c.good, 0);
  const breaching = checks.filter((c) => c.reasons.length > 0);
  const lastBad = checks.map((c) => c.reasons.length > 0).lastIndexOf(true);
  // the episode that ended last: from the first breach after the previous good stretch
  let start = lastBad;
  while (start > 0 && checks[start - 1].reasons.length > 0) start--;
  const recovered = lastBad >= 0 && lastBad < checks.length - 1 ? checks[lastBad + 1] : null;
  const met = checks[checks.length - 1].reasons.length === 0;
  const ttr = recovered && start >= 0 ? recovered.s.t - checks[start].s.t : null;
  const latencies = checks.map((c) => c.latency).filter((v): v is number => v !== null);
  const first = breaching[0];
  return {
    objectives,
    met,
    status: breaching.length === 0 ? 'met' : met ? 'recovered' : 'breached',
    checks: checks.length,
    breaching_checks: breaching.length,
    availability_pct: requests > 0 ? round((100 * good) / requests, 3) : null,
    latency_ms: latencies.length ? round(median(latencies) ?? 0) : null,
    reason: first ? `${first.reasons.join(' and ')} on ${first.s.method} ${endpointOf(first.s.target)}` : null,
    breach_started_at: start >= 0 ? iso(checks[start].s.t) : null,
    recovered_at: recovered ? iso(recovered.s.t) : null,
    time_to_recovery_ms: ttr,
    time_to_recovery: ttr === null ? null : formatDuration(ttr),
  };
}

// ---------------------------------------------------------------- remediations

/** `remediations` keys a finding answers to, most specific first: kind:/path, /path, kind. */
function remediationKeys(f: Finding): string[] {
  const keys: string[] = [];
  if (f.endpoint) {
    const path = f.endpoint.split('?')[0];
    keys.push(`${f.kind}:${f.endpoint}`, `${f.kind}:${path}`, f.endpoint, path);
  }
  keys.push(f.kind);
  return [...new Set(keys)];
}

function compactJson(v: unknown): string {
  return v === undefined ? '' : JSON.stringify(v);
}

function resolveRemediation(f: Finding, specs: Record<string, RemediationSpec>, baseUrl: string | undefined): Remediation | null {
  const key = remediationKeys(f).find((k) => Object.prototype.hasOwnProperty.call(specs, k));
  if (key === undefined) return null;
  const spec = specs[key];
  let url: string;
  if (spec.url) url = spec.url;
  else {
    // a path is on the service the finding is about, else on base_url
    const base = f.endpoint !== null && /^https?:\/\//.test(f.target) ? f.target : baseUrl;
    if (!base) return null;
    url = new URL(spec.path ?? '/', base).toString();
  }
  const shownUrl = spec.path ?? url;
  const body = spec.method === 'GET' ? undefined : spec.body;
  return {
    key,
    finding_id: f.id,
    finding_title: f.title,
    subject: `${measuredLabel(f, { query: true })} ${formatMetric(f.value, f.unit)} (limit ${formatMetric(f.threshold, f.unit)})`,
    kind: f.kind,
    target: f.target,
    endpoint: f.endpoint,
    metric: f.metric,
    percentile: f.percentile,
    value: f.value,
    threshold: f.threshold,
    unit: f.unit,
    method: spec.method,
    url,
    ...(body === undefined ? {} : { body }),
    description: spec.description ?? null,
    call: `${spec.method} ${shownUrl}${body === undefined ? '' : ` ${compactJson(body)}`}`,
  };
}

function formatMetric(v: number, unit: string): string {
  if (unit === 'ms') return ms(v);
  if (unit === 'ratio') return pct(v);
  if (unit === '%' || unit.startsWith('/')) return `${round(v, 2)}${unit}`;
  return `${round(v, 2)} ${unit}`;
}

/** What people call a metric, in words (the metric id stays in the data). */
const METRIC_WORDS: Record<string, string> = {
  latency_ms: 'latency',
  connection_error_rate: 'connection error rate',
  '5xx_rate': '5xx rate',
  failed_requests: 'failed requests',
  timeout_rate: 'timeout rate',
  error_rate: 'error rate',
  cpu_percent: 'CPU',
  rss_growth_mb_per_min: 'memory growth',
  log_errors_per_min: 'log errors',
};

/**
 * Which measurement a verdict is about, whole: where (the endpoint's path, else the process or
 * log), the metric and its percentile: `/api/search p95 latency`, `checkout#4242 CPU p50`.
 */
export function measuredLabel(m: { target: string; endpoint: string | null; metric: string; percentile: string | null }, o: { query?: boolean } = {}): string {
  const words = METRIC_WORDS[m.metric] ?? m.metric.replace(/_/g, ' ');
  if (m.endpoint) return `${o.query ? m.endpoint : m.endpoint.split('?')[0]}${m.percentile ? ` ${m.percentile}` : ''} ${words}`;
  return `${m.target} ${words}${m.percentile ? ` ${m.percentile}` : ''}`;
}

/** What the finding's metric is in the new samples: the same signal and statistic the detector read. */
function observed(r: Remediation, endpoints: EndpointSummary[], processes: ProcessSummary[], logs: LogSummary[], data: Normalized): { value: number | null; samples: number } {
  if (r.endpoint !== null) {
    const e = endpoints.find((x) => x.target === r.target);
    if (!e) return { value: null, samples: 0 };
    const xs = data.http.filter((s) => s.target === r.target);
    const requests = xs.reduce((a, s) => a + s.requests, 0);
    let value: number | null;
    if (r.metric === 'latency_ms') value = r.percentile === 'p50' ? e.p50_ms : r.percentile === 'p99' ? (e.p99_ms ?? e.max_ms) : e.p95_ms;
    else if (r.metric === '5xx_rate') value = requests ? xs.reduce((a, s) => a + s.s5xx, 0) / requests : null;
    else if (r.metric === 'timeout_rate') value = requests ? xs.reduce((a, s) => a + s.timeouts, 0) / requests : null;
    else if (r.metric === 'connection_error_rate') value = requests ? xs.reduce((a, s) => a + s.errors, 0) / requests : null;
    else value = e.error_rate;
    return { value: value === null ? null : round(value, 4), samples: e.samples };
  }
  if (r.kind === 'cpu_saturation' || r.kind === 'memory_growth') {
    const p = processes.find((x) => x.target === r.target) ?? processes[0];
    if (!p) return { value: null, samples: 0 };
    if (r.kind === 'memory_growth') return { value: p.rss_slope_mb_per_min, samples: p.samples };
    // the finding is the median (p50) CPU: compare it with the median of the new samples, not their mean
    const cpus = data.process.filter((s) => s.target === p.target).map((s) => s.cpu).filter((v): v is number => v !== null);
    const m = median(cpus);
    return { value: m === null ? null : round(m), samples: p.samples };
  }
  const l = logs.find((x) => x.target === r.target) ?? logs[0];
  return l ? { value: l.errors_per_min, samples: l.samples } : { value: null, samples: 0 };
}

function verifyFix(r: Remediation, findings: Finding[], endpoints: EndpointSummary[], processes: ProcessSummary[], logs: LogSummary[], data: Normalized): Verification {
  const what = measuredLabel(r);
  const { value, samples } = observed(r, endpoints, processes, logs, data);
  const still = findings.find((f) => f.id === r.finding_id && f.severity !== 'info');
  const before = formatMetric(r.value, r.unit);
  const effect = value === null ? null : `${what} ${before} -> ${formatMetric(value, r.unit)}`;
  let text: string;
  let confirmed = false;
  if (effect === null || samples === 0) text = `Fix not confirmed: no new samples of ${r.endpoint ?? r.target} to check ${what} (was ${before})`;
  else if (still) text = `Fix not confirmed: ${effect} (still over the ${formatMetric(r.threshold, r.unit)} threshold)`;
  else {
    confirmed = true;
    text = `Fix confirmed: ${effect}`;
  }
  return {
    finding_id: r.finding_id,
    confirmed,
    target: r.target,
    endpoint: r.endpoint,
    metric: r.metric,
    percentile: r.percentile,
    label: what,
    before: r.value,
    after: value,
    unit: r.unit,
    effect: samples === 0 ? null : effect,
    samples,
    text,
  };
}

/** The analysis itself: a pure function of its input. */
export function analyzeSamples(input: AnalyzeInputIn): AnalyzeOutput {
  const args = AnalyzeInput.parse(input);
  // objectives set the matching thresholds unless those were given: a finding then explains a breach
  const fromObjectives: Partial<Thresholds> = {};
  if (args.objectives?.availability_pct !== undefined) fromObjectives.error_rate = Math.max(0.0001, 1 - args.objectives.availability_pct / 100);
  if (args.objectives?.latency_ms !== undefined && args.objectives.latency_percentile === 'p95') fromObjectives.latency_p95_ms = args.objectives.latency_ms;
  const th = Thresholds.parse({ ...fromObjectives, ...args.thresholds });
  const data = normalize(args);
  const ctx: Ctx = { th, findings: [] };
  const { from, to } = timeWindow(data);
  const windowMs = from !== null && to !== null ? to - from : 0;

  const endpoints = [...groupBy(data.http)].map(([target, xs]) => analyzeEndpoint(ctx, target, xs));
  const processes = [...groupBy(data.process)].map(([target, xs]) => analyzeProcess(ctx, target, xs));
  const logs = [...groupBy(data.log)].map(([target, xs]) => analyzeLog(ctx, target, xs, windowMs));

  const findings = ctx.findings.sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || (a.first_at ?? '').localeCompare(b.first_at ?? '') || a.id.localeCompare(b.id));
  const mapped = Object.keys(args.remediations).length > 0;
  if (mapped) for (const f of findings) f.remediation = f.severity === 'info' ? null : resolveRemediation(f, args.remediations, args.base_url);
  const count = (s: Severity) => findings.filter((f) => f.severity === s).length;
  const bottlenecks = count('critical') + count('warning');
  const total = data.http.length + data.process.length + data.log.length;
  const headline =
    total === 0
      ? 'No samples to analyze'
      : bottlenecks > 0
        ? `Found ${bottlenecks} performance bottleneck${bottlenecks === 1 ? '' : 's'}`
        : `No performance bottlenecks found in ${total} samples`;

  return {
    summary: { headline, healthy: bottlenecks === 0, bottlenecks, critical: count('critical'), warning: count('warning'), info: count('info'), root_cause: rootCause(findings, logs) },
    window: { from: iso(from), to: iso(to), duration_ms: windowMs, samples: { http: data.http.length, process: data.process.length, log: data.log.length, ignored: data.ignored } },
    findings,
    endpoints,
    processes,
    logs,
    thresholds: th,
    slo: args.objectives ? evaluateSlo(args.objectives, data.http) : null,
    ...(mapped ? { remediation: findings.find((f) => f.remediation)?.remediation ?? null } : {}),
    ...(args.verify ? { verification: verifyFix(args.verify, findings, endpoints, processes, logs, data) } : {}),
  };
}
