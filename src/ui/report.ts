import { AnalyzeOutput, type Finding, type Series } from '../ops-server/analysis/schema.js';
import { formatDuration, table } from './format.js';

/**
 * The profiling report as text (`opstream report ID`): headline, findings table, each finding's
 * evidence and fix, the worst finding's series as a sparkline and a bar chart, and per-target
 * tables. Plain text without colour: it is pasted into tickets and chat. Times are the reader's
 * local time, with the zone named once per date-time ("2026-01-01 11:00:00 UTC+01:00"), so a pasted
 * report still says when.
 */

/** What the report shows about the run; all optional so an analysis can be rendered on its own. */
export interface ReportRun {
  id?: string;
  workflow?: string;
  /** The workflow's `name` ("SLO Monitoring"): the report is titled after it. */
  workflow_name?: string | null;
  status?: string;
  params?: Record<string, unknown>;
  started_at?: string | null;
  ended_at?: string | null;
}

export interface ReportOptions {
  /** Wrap width for prose (tables are not wrapped). */
  width?: number;
  /** Rows of the bar chart. */
  chartRows?: number;
}

const BLOCKS = '▁▂▃▄▅▆▇█';

/** One character per value, scaled between the series' min and max; gaps (null) print as a space. */
export function sparkline(values: readonly (number | null)[]): string {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (xs.length === 0) return '';
  const lo = Math.min(...xs), hi = Math.max(...xs);
  return values
    .map((v) => {
      if (v === null || !Number.isFinite(v)) return ' ';
      if (hi === lo) return BLOCKS[3];
      return BLOCKS[Math.min(BLOCKS.length - 1, Math.floor(((v - lo) / (hi - lo)) * BLOCKS.length))];
    })
    .join('');
}

/** Horizontal bars from zero, one row per point (labels left, values right). */
export function barChart(rows: readonly { label: string; value: number | null; text?: string }[], width = 40): string {
  const top = Math.max(0, ...rows.map((r) => r.value ?? 0));
  const labelW = Math.max(0, ...rows.map((r) => r.label.length));
  return rows
    .map((r) => {
      const len = r.value === null || top === 0 ? 0 : Math.max(r.value > 0 ? 1 : 0, Math.round((r.value / top) * width));
      const text = r.text ?? (r.value === null ? '-' : String(r.value));
      return `${r.label.padEnd(labelW)} │${'█'.repeat(len)}${' '.repeat(width - len)} ${text}`.trimEnd();
    })
    .join('\n');
}

/** Word-wraps to `width`; continuation lines get `hang` (default: the first line's indent). */
function wrap(text: string, width: number, indent: string, hang = indent): string {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && indent.length + line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.map((l, i) => (i === 0 ? indent : hang) + l).join('\n');
}

const num = (v: number): string => (Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10));

/** A value in its unit, as people read it. */
export function formatValue(v: number | null, unit: string): string {
  if (v === null) return '-';
  switch (unit) {
    case 'ratio':
      return `${num(v * 100)}%`;
    case 'ms':
      return `${num(v)} ms`;
    case '%':
      return `${num(v)}%`;
    case 'MB':
      return `${num(v)} MB`;
    case 'MB/min':
      return `${num(v)} MB/min`;
    case '/min':
      return `${num(v)}/min`;
    default:
      return `${num(v)}${unit ? ` ${unit}` : ''}`;
  }
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** HH:MM:SS in the local time zone. */
function time(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** The local zone at that instant as people write it: `UTC`, `UTC+05:30`, `UTC-08:00`. */
function zone(d: Date): string {
  const off = -d.getTimezoneOffset();
  if (off === 0) return 'UTC';
  const a = Math.abs(off);
  return `UTC${off > 0 ? '+' : '-'}${pad2(Math.floor(a / 60))}:${pad2(a % 60)}`;
}

/** Local date and time with the zone: `2026-01-01 11:00:00 UTC+01:00`. */
function dateTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${time(iso)} ${zone(d)}`;
}

/**
 * The report's title follows the workflow: its name ("SLO Monitoring report"), else its id made
 * readable; only an analysis rendered on its own says what kind it is from the analysis.
 */
export function reportTitle(analysis: Pick<AnalyzeOutput, 'slo'>, run: ReportRun = {}): string {
  const name = run.workflow_name?.trim() || (run.workflow ? run.workflow.replace(/[_-]+/g, ' ').replace(/^./, (c) => c.toUpperCase()) : analysis.slo ? 'SLO' : 'Profiling');
  return `${name} report`;
}

function when(f: Finding): string {
  const span = f.first_at === f.last_at ? time(f.first_at) : `${time(f.first_at)}-${time(f.last_at)}`;
  return `${span} (${f.samples_affected}/${f.samples_total})`;
}

function targetLabel(f: Finding): string {
  if (f.endpoint) return f.endpoint;
  return f.target;
}

function evidenceText(e: Finding['evidence']): string {
  return Object.entries(e)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k}=${typeof v === 'string' && /\s/.test(v) ? JSON.stringify(v) : v}`)
    .join('  ');
}

function chart(s: Series, rows: number): string {
  const pts = s.points;
  const vals = pts.map((p) => p.v);
  const xs = vals.filter((v): v is number => v !== null);
  const lo = xs.length ? Math.min(...xs) : null;
  const hi = xs.length ? Math.max(...xs) : null;
  const out = [`${s.metric} of ${s.label} (${s.unit}), ${pts.length} samples ${time(pts[0]?.t)}-${time(pts[pts.length - 1]?.t)}`];
  out.push(`  ${sparkline(vals)}  min ${formatValue(lo, s.unit)}  max ${formatValue(hi, s.unit)}`);
  // the bar chart: at most `rows` rows, each bucket showing its largest value
  const size = Math.max(1, Math.ceil(pts.length / rows));
  const bars: { label: string; value: number | null; text: string }[] = [];
  for (let i = 0; i < pts.length; i += size) {
    const bucket = pts.slice(i, i + size);
    const v = bucket.reduce<number | null>((m, p) => (p.v === null ? m : m === null ? p.v : Math.max(m, p.v)), null);
    bars.push({ label: `  ${time(bucket[0].t)}`, value: v, text: formatValue(v, s.unit) });
  }
  out.push(barChart(bars, 40));
  return out.join('\n');
}

/**
 * The finding whose series a chart should show (the CLI's bar chart, Slack's PNG): the most severe
 * one with a series; among equals, one that moves says more than a flat line.
 */
export function worstCharted(analysis: AnalyzeOutput): Finding | undefined {
  const charted = analysis.findings.filter((f) => f.series && f.series.points.length > 0);
  const moves = (f: Finding) => new Set(f.series?.points.map((p) => p.v)).size > 1;
  return charted.find((f) => f.severity === charted[0]?.severity && moves(f)) ?? charted[0];
}

/** Renders the analysis (the output of ops.analyze_samples) with the run it came from. */
export function renderReport(analysis: AnalyzeOutput, run: ReportRun = {}, opts: ReportOptions = {}): string {
  const width = opts.width ?? 100;
  const out: string[] = [];
  const title = [reportTitle(analysis, run), run.id, run.workflow ? `(${run.workflow}${run.status ? `, ${run.status}` : ''})` : run.status ? `(${run.status})` : undefined].filter(Boolean).join(' ');
  out.push(title);
  const target = run.params?.service ?? run.params?.url ?? run.params?.urls;
  if (target !== undefined) out.push(`Service: ${Array.isArray(target) ? target.join(', ') : String(target)}`);
  const w = analysis.window;
  const s = w.samples;
  const aws = analysis.appsignals;
  if (aws) out.push(`Window: ${dateTime(w.from)} to ${time(w.to)} (${formatDuration(w.duration_ms)}), from CloudWatch Application Signals${aws.environment ? ` (${aws.environment})` : ''}`);
  else
    out.push(
      `Window: ${dateTime(w.from)} to ${time(w.to)} (${formatDuration(w.duration_ms)}), ` +
        `${s.http + s.process + s.log} samples: ${s.http} http, ${s.process} process, ${s.log} log${s.ignored ? `, ${s.ignored} unrecognised` : ''}`,
    );
  out.push('');
  out.push(analysis.summary.headline + (analysis.summary.info ? ` (and ${analysis.summary.info} note${analysis.summary.info === 1 ? '' : 's'})` : ''));
  if (analysis.summary.root_cause) out.push(wrap(`Likely root cause: ${analysis.summary.root_cause}`, width, '', '  '));
  const slo = analysis.slo;
  if (aws) out.push(...appSignalsLines(aws, slo, width));
  else if (slo) {
    const obj = [
      slo.objectives.availability_pct !== null ? `availability >= ${slo.objectives.availability_pct}%` : null,
      slo.objectives.latency_ms !== null ? `${slo.objectives.latency_percentile} <= ${formatValue(slo.objectives.latency_ms, 'ms')}` : null,
    ].filter(Boolean);
    out.push(
      wrap(
        `SLO ${slo.status.toUpperCase().replace('_', ' ')} (${obj.join(', ')}): observed availability ${formatValue(slo.availability_pct, '%')}, ` +
          `${slo.objectives.latency_percentile} ${formatValue(slo.latency_ms, 'ms')} over ${slo.checks} check(s), ${slo.breaching_checks} breaching`,
        width,
        '',
        '  ',
      ),
    );
    if (slo.breach_started_at) {
      out.push(
        wrap(
          `Breach since ${dateTime(slo.breach_started_at)}: ${slo.reason ?? ''}` +
            (slo.recovered_at ? `; restored at ${time(slo.recovered_at)}, time to recovery ${slo.time_to_recovery}` : '; not restored yet'),
          width,
          '',
          '  ',
        ),
      );
    }
  }

  if (analysis.findings.length > 0) {
    out.push('', 'Findings');
    out.push(
      table(
        ['#', 'SEVERITY', 'KIND', 'TARGET', 'METRIC', 'VALUE', 'THRESHOLD', 'WHEN (samples)'],
        analysis.findings.map((f, i) => [
          i + 1,
          f.severity.toUpperCase(),
          f.kind,
          targetLabel(f),
          f.percentile ? `${f.metric} ${f.percentile}` : f.metric,
          formatValue(f.value, f.unit),
          formatValue(f.threshold, f.unit),
          when(f),
        ]),
      )
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
    out.push('');
    analysis.findings.forEach((f, i) => {
      out.push(wrap(`${i + 1}. [${f.severity}] ${f.title}`, width, '', '   '));
      out.push(`   when: ${dateTime(f.first_at)} to ${time(f.last_at)}, ${f.samples_affected} of ${f.samples_total} samples`);
      out.push(wrap(`evidence: ${evidenceText(f.evidence)}`, width, '   '));
      out.push(wrap(`fix: ${f.suggested_fix}`, width, '   '));
      out.push('');
    });
    const worst = worstCharted(analysis);
    if (worst?.series) {
      out.push(`Worst series (finding ${analysis.findings.indexOf(worst) + 1}): ${chart(worst.series, opts.chartRows ?? 12)}`);
      out.push('');
    }
  } else out.push('');

  if (aws && aws.operations.length > 0) {
    out.push('Operations (worst first)');
    out.push(indent(table(['OPERATION', 'CALLS', 'AVG', 'P99', 'FAULTS'], aws.operations.map((o) => [o.name, o.calls ?? '-', formatValue(o.avg_ms, 'ms'), formatValue(o.p99_ms, 'ms'), o.faults ?? '-']))));
    out.push('');
  }
  if (aws && aws.dependencies.length > 0) {
    out.push('Dependencies (worst first)');
    out.push(indent(table(['DEPENDENCY', 'OPERATION', 'CALLS', 'AVG', 'P99', ''], aws.dependencies.map((d) => [d.name, d.operation ?? '-', d.calls ?? '-', formatValue(d.avg_ms, 'ms'), formatValue(d.p99_ms, 'ms'), d.slow ? 'SLOW' : '']))));
    out.push('');
  }
  if (aws && aws.notes.length > 0) {
    out.push('Notes');
    for (const n of aws.notes) out.push(wrap(`- ${n}`, width, '  ', '    '));
    out.push('');
  }
  if (analysis.endpoints.length > 0) {
    out.push('Endpoints');
    out.push(
      indent(
        table(
          ['ENDPOINT', 'SAMPLES', 'REQUESTS', 'P50', 'P95', 'P99', 'MAX', 'FAILED', 'STATUS CODES'],
          analysis.endpoints.map((e) => [
            e.endpoint,
            e.samples,
            e.requests,
            formatValue(e.p50_ms, 'ms'),
            formatValue(e.p95_ms, 'ms'),
            formatValue(e.p99_ms, 'ms'),
            formatValue(e.max_ms, 'ms'),
            formatValue(e.error_rate, 'ratio'),
            Object.entries(e.status_codes).map(([c, n]) => `${c}:${n}`).join(' ') || '-',
          ]),
        ),
      ),
    );
    out.push('');
  }
  if (analysis.processes.length > 0) {
    out.push('Processes');
    out.push(
      indent(
        table(
          ['PROCESS', 'SAMPLES', 'CPU AVG', 'CPU MAX', 'RSS FIRST', 'RSS LAST', 'RSS TREND'],
          analysis.processes.map((p) => [
            p.target,
            p.samples,
            formatValue(p.cpu_avg, '%'),
            formatValue(p.cpu_max, '%'),
            formatValue(p.rss_first_mb, 'MB'),
            formatValue(p.rss_last_mb, 'MB'),
            formatValue(p.rss_slope_mb_per_min, 'MB/min'),
          ]),
        ),
      ),
    );
    out.push('');
  }
  if (analysis.logs.length > 0) {
    out.push('Logs');
    out.push(
      indent(
        table(
          ['FILE', 'SAMPLES', 'ERROR LINES', 'PER MIN', 'TOP MESSAGE'],
          analysis.logs.map((l) => [l.target, l.samples, l.errors, formatValue(l.errors_per_min, '/min'), l.top_messages[0] ? `${l.top_messages[0].count}x ${l.top_messages[0].message.slice(0, 60)}` : '-']),
        ),
      ),
    );
    out.push('');
  }
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

/** The SLO lines of an Application Signals report: the SLO by name, its operation, the slow dependency, recovery. */
function appSignalsLines(aws: NonNullable<AnalyzeOutput['appsignals']>, slo: AnalyzeOutput['slo'], width: number): string[] {
  const out: string[] = [];
  if (aws.breached_slos.length > 0 || slo) {
    const status = slo ? slo.status.toUpperCase().replace('_', ' ') : aws.status.toUpperCase();
    const names = aws.breached_slos.length ? aws.breached_slos.join(', ') : (aws.slo_name ?? 'all SLOs');
    out.push(wrap(`SLO ${names}: ${status}${aws.operation ? ` on ${aws.operation}` : ''}`, width, '', '  '));
  }
  const d = aws.slow_dependency;
  if (d) out.push(wrap(`Slow dependency: ${d.name}${d.operation ? ` ${d.operation}` : ''} p99 ${formatValue(d.p99_ms, 'ms')}${d.avg_ms !== null ? `, avg ${formatValue(d.avg_ms, 'ms')}` : ''}${d.calls !== null ? ` over ${d.calls} calls` : ''}`, width, '', '  '));
  if (slo?.breach_started_at) {
    out.push(
      wrap(
        `Breach since ${dateTime(slo.breach_started_at)}` + (slo.recovered_at ? `; restored at ${time(slo.recovered_at)}, time to recovery ${slo.time_to_recovery}` : '; not restored yet'),
        width,
        '',
        '  ',
      ),
    );
  }
  out.push(wrap(`Worst operations: ${aws.worst_operations}`, width, '', '  '));
  out.push(wrap(`Worst dependencies: ${aws.worst_dependencies}`, width, '', '  '));
  return out;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

export { findAnalysis } from '../ops-server/analysis/find.js';
