import { z } from 'zod';
import { OpsToolError, type OpsTool } from '../tool.js';

// Turns the text outputs of the AWS Labs Application Signals MCP server
// (awslabs.cloudwatch-applicationsignals-mcp-server 0.1.40, github.com/awslabs/mcp tag
// 2026.08.20260810225031) into facts, so the AppSignals workflows decide breach, SLO, operation and
// slow dependency in OpStream's own code, with or without a model. The shapes parsed are that
// release's: list_slis' "SLI Status Report", audit_slos' banner + ListAuditFindings JSON,
// search_transaction_spans' dict (Logs Insights rows) and query_service_metrics' "Metrics for" text.
// The server reports most failures as ordinary text ("Error getting SLI status: ...", "AWS Error:",
// "API call failed: ..." in the audit JSON); those become one-line tool errors here, retryable when
// AWS throttled. The output reuses analyze_samples' `summary`, `findings` and `slo` shapes so status,
// report, notifications, Slack and the dashboard show it as they show the built-in SLO story.

const Input = z
  .object({
    service: z.string().min(1).describe('the Application Signals service name'),
    list_slis: z.string().optional().describe("appsignals.list_slis' text"),
    audit: z.string().optional().describe("appsignals.audit_slos' text"),
    dependency_spans: z.unknown().optional().describe('appsignals.search_transaction_spans result of the dependency query (spans_query)'),
    operation_spans: z.unknown().optional().describe('appsignals.search_transaction_spans result of the operation query (operations_query)'),
    metrics: z.array(z.unknown()).optional().describe("appsignals.query_service_metrics' texts (profile)"),
    window: z.union([z.string(), z.number().int().min(1000)]).default('1h').describe('span/audit window ending now: 1h, 30m, or ms'),
    breach_started_at: z.string().nullable().optional().describe('when the breach was first seen (re-checks: reports recovery and time to recovery)'),
    slow_factor: z.number().min(1).default(3).describe("a dependency is slow when its p99 is this many times the next one's and at least min_slow_ms"),
    min_slow_ms: z.number().min(0).default(200),
  })
  .strict();

const Dependency = z.object({ name: z.string(), operation: z.string().nullable(), calls: z.number().nullable(), avg_ms: z.number().nullable(), p99_ms: z.number().nullable(), slow: z.boolean() });
const Operation = z.object({ name: z.string(), calls: z.number().nullable(), avg_ms: z.number().nullable(), p99_ms: z.number().nullable(), faults: z.number().nullable() });
const MetricSummary = z.object({ metric: z.string(), statistic: z.string(), latest: z.number().nullable(), average: z.number().nullable(), maximum: z.number().nullable(), data_points: z.number().nullable(), percentiles_missing: z.boolean() });

const Output = z.object({
  service: z.string(),
  environment: z.string().nullable(),
  status: z.enum(['ok', 'breached', 'insufficient_data']),
  slis_read: z.boolean().describe('whether an SLI report (list_slis) was read: without one (profiling) status and slo say nothing about SLOs'),
  breached_slos: z.array(z.string()),
  slo_name: z.string().nullable().describe('the first breached SLO'),
  slo_targets: z.string().describe("audit_slos' slo_targets for the breached SLOs"),
  operation: z.string().nullable(),
  slow_dependency: Dependency.nullable(),
  dependencies: z.array(Dependency),
  operations: z.array(Operation),
  metrics: z.array(MetricSummary),
  window: z.object({ start_iso: z.string(), end_iso: z.string(), start_unix: z.number(), end_unix: z.number() }),
  spans_query: z.string(),
  operations_query: z.string(),
  worst_operations: z.string().describe('the three slowest operations, for messages'),
  worst_dependencies: z.string().describe('the three slowest dependencies, for messages'),
  notes: z.array(z.string()),
  summary: z.object({ headline: z.string(), healthy: z.boolean(), bottlenecks: z.number().int(), critical: z.number().int(), warning: z.number().int(), info: z.number().int(), root_cause: z.string().nullable() }),
  findings: z.array(z.record(z.string(), z.unknown())),
  slo: z.object({
    objectives: z.object({ availability_pct: z.number().nullable(), latency_ms: z.number().nullable(), latency_percentile: z.string() }),
    met: z.boolean(),
    status: z.enum(['met', 'breached', 'recovered', 'no_data']),
    checks: z.number().int(),
    breaching_checks: z.number().int(),
    availability_pct: z.number().nullable(),
    latency_ms: z.number().nullable(),
    reason: z.string().nullable(),
    breach_started_at: z.string().nullable(),
    recovered_at: z.string().nullable(),
    time_to_recovery_ms: z.number().nullable(),
    time_to_recovery: z.string().nullable(),
  }),
});

type Dep = z.infer<typeof Dependency>;

/** The server's failure texts, as one line; throttling is retryable. */
function failIfError(tool: string, text: string): void {
  const t = text.trim();
  const m = /^(Error getting SLI status: |AWS Error: |Error: )(.*)$/s.exec(t);
  if (m) throw awsError(tool, m[2]);
  if (/^Service '.*' not found in Application Signals\.$/.test(t)) throw new OpsToolError(`${tool}: ${t}`);
}

function awsError(tool: string, message: string): OpsToolError {
  const line = message.split('\n')[0].trim();
  if (/Unable to locate credentials|NoCredentialsError|ExpiredToken|InvalidClientTokenId|UnrecognizedClientException/.test(line)) {
    return new OpsToolError(`${tool}: no usable AWS credentials (${line}); set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in mcpServers.appsignals.env, or run \`aws sso login\``);
  }
  if (/ThrottlingException|Rate exceeded|TooManyRequests/.test(line)) return new OpsToolError(`${tool}: AWS throttled the call (${line}); try again later or check less often`, true);
  if (/AccessDenied|not authorized/.test(line)) return new OpsToolError(`${tool}: AWS denied the call (${line}); see the README's IAM permissions`);
  return new OpsToolError(`${tool}: ${line}`);
}

interface SliReport {
  service: string;
  environment: string;
  status: 'ok' | 'breached' | 'insufficient_data';
  breached: string[];
  /** A healthy service's SLO count ("- 2 SLO(s) healthy"); 0: it has no SLOs (the report still says OK). */
  healthy_slos: number | null;
}

/** Parses list_slis' "SLI Status Report" text into one entry per service. */
export function parseSliReport(text: string): SliReport[] {
  failIfError('list_slis', text);
  if (text.trim() === 'No services found in Application Signals.') return [];
  if (!text.startsWith('SLI Status Report')) throw new OpsToolError(`list_slis: unexpected output (not an SLI Status Report): ${text.slice(0, 80)}`);
  const out: SliReport[] = [];
  let section: SliReport['status'] | null = null;
  let current: SliReport | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (/BREACHED SERVICES:$/.test(line)) section = 'breached';
    else if (/HEALTHY SERVICES:$/.test(line)) section = 'ok';
    else if (/INSUFFICIENT DATA:$/.test(line)) section = 'insufficient_data';
    else if (section && line.startsWith('• ')) {
      const m = /^• (.+?) \(([^)]*)\)/.exec(line);
      if (!m) continue;
      const healthy = /\) - (\d+) SLO\(s\) healthy$/.exec(line);
      current = { service: m[1], environment: m[2], status: section, breached: [], healthy_slos: healthy ? Number(healthy[1]) : null };
      out.push(current);
    } else if (section === 'breached' && current && /^ {4}- /.test(line)) current.breached.push(line.slice(6).trim());
  }
  return out;
}

interface AuditFinding {
  KeyAttributes?: Record<string, string>;
  Operation?: string;
  Type?: string;
  AuditorResults?: { Auditor?: string; Description?: string; Severity?: string }[];
  DependencyGraph?: { Nodes?: { Name?: string; Operation?: string; Duration?: number; Type?: string; KeyAttributes?: Record<string, string> }[] };
}

/** audit_slos' text: a banner, then the ListAuditFindings JSON (then, for wildcards, pagination text). */
export function parseAudit(text: string): AuditFinding[] {
  failIfError('audit_slos', text);
  const start = text.indexOf('{');
  if (start < 0) throw new OpsToolError(`audit_slos: unexpected output (no findings JSON): ${text.slice(0, 80)}`);
  let depth = 0;
  let end = -1;
  let inStr = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      end = i;
      break;
    }
  }
  let parsed: { AuditFindings?: AuditFinding[]; ListAuditFindingsErrors?: { error?: string }[] };
  try {
    parsed = JSON.parse(text.slice(start, end + 1)) as typeof parsed;
  } catch {
    throw new OpsToolError('audit_slos: the findings JSON does not parse');
  }
  const errs = parsed.ListAuditFindingsErrors ?? [];
  if (errs.length > 0 && (parsed.AuditFindings ?? []).length === 0) throw awsError('audit_slos', String(errs[0].error ?? 'failed').replace(/^API call failed: /, ''));
  return parsed.AuditFindings ?? [];
}

/** search_transaction_spans' dict (structured content, or its JSON text, or an error text). */
function spanRows(tool: string, v: unknown, notes: string[]): Record<string, string>[] {
  if (v === undefined || v === null) return [];
  let o: unknown = v;
  if (typeof v === 'string') {
    try {
      o = JSON.parse(v);
    } catch {
      throw awsError(tool, v.replace(/^Error executing tool \w+: /, ''));
    }
  }
  // FastMCP may wrap a tool's dict as { result: {...} } in structured content; the text is the dict
  if (o && typeof o === 'object' && 'result' in o && !('status' in o)) o = (o as { result: unknown }).result;
  const d = o as { status?: string; message?: string; results?: Record<string, string>[] };
  if (d.status === 'Complete') return Array.isArray(d.results) ? d.results : [];
  notes.push(`${tool}: ${d.status ?? 'no status'}${d.message ? ` (${d.message.split('. ')[0]})` : ''}`);
  return [];
}

const num = (s: unknown): number | null => {
  const n = typeof s === 'number' ? s : typeof s === 'string' && s.trim() !== '' ? Number(s) : NaN;
  return Number.isFinite(n) ? Math.round(n * 10) / 10 : null;
};

function parseMetrics(texts: unknown[], notes: string[]): z.infer<typeof MetricSummary>[] {
  const out: z.infer<typeof MetricSummary>[] = [];
  for (const t of texts) {
    if (typeof t !== 'string') continue;
    failIfError('query_service_metrics', t);
    const head = /^Metrics for .+ - (\w+)$/m.exec(t);
    if (!head) {
      // a quiet service ("No data points found for metric 'Latency' ... in the last 1 hour(s).") or
      // one without metrics: said, not dropped
      notes.push(`query_service_metrics: ${t.trim().split('\n')[0].slice(0, 200)}`);
      continue;
    }
    const std = /^(\w+) Statistics:\n• Latest: ([\d.]+)\n• Average: ([\d.]+)\n• Maximum: ([\d.]+)/m.exec(t);
    const pct = /^p\d+ Statistics:/m.test(t);
    out.push({ metric: head[1], statistic: std?.[1] ?? 'unknown', latest: num(std?.[2]), average: num(std?.[3]), maximum: num(std?.[4]), data_points: num(/• Data Points: (\d+)/.exec(t)?.[1]), percentiles_missing: !pct });
  }
  return out;
}

function parseDuration(s: string | number): number {
  if (typeof s === 'number') return s;
  const m = /^(\d+)\s*(s|m|h|d)$/.exec(s.trim());
  if (!m) throw new OpsToolError(`window "${s}" is not a duration like 30m or 1h`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'] * 1000;
}

function human(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s}s`;
}

const q = (s: string): string => JSON.stringify(s);

const tool: OpsTool<typeof Input, typeof Output> = {
  name: 'appsignals_facts',
  title: 'Application Signals facts',
  description:
    "Reads the AWS Labs Application Signals MCP server's outputs (list_slis, audit_slos, search_transaction_spans, query_service_metrics) and returns the facts: " +
    'breached SLOs of the service, the operation, the slow dependency (and the healthy ones), worst operations, plus the span queries and time window for the next calls. ' +
    'Its summary/findings/slo fields have analyze_samples\' shapes. Fails with a one-line reason on the server\'s error texts (no credentials, unknown service, throttling).',
  input: Input,
  output: Output,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  // a rejected promise, not a synchronous throw, for the server's error texts
  run: (args) => new Promise((resolve) => resolve(facts(args))),
};

function facts(args: z.output<typeof Input>): z.output<typeof Output> {
  const notes: string[] = [];
  const end = Date.now();
  const start = end - parseDuration(args.window);
  // +00:00, not Z: the server parses with Python's datetime.fromisoformat, which rejects Z before 3.11
  const iso = (t: number): string => new Date(t).toISOString().replace(/\.\d+Z$/, '+00:00');
  const window = { start_iso: iso(start), end_iso: iso(end), start_unix: Math.floor(start / 1000), end_unix: Math.floor(end / 1000) };

  let environment: string | null = null;
  let status: 'ok' | 'breached' | 'insufficient_data' = 'ok';
  let breached: string[] = [];
  if (args.list_slis !== undefined) {
    const reports = parseSliReport(args.list_slis);
    const mine = reports.find((r) => r.service === args.service);
    if (!mine) {
      const known = reports.map((r) => r.service);
      throw new OpsToolError(`service "${args.service}" is not in Application Signals${known.length ? ` (services: ${known.join(', ')})` : ' (no services found)'}`);
    }
    // the server reports a service without SLOs as OK ("0 SLO(s) healthy"): watching it would say
    // "all SLOs met" forever, so this is said at the first check instead
    if (mine.status === 'ok' && mine.healthy_slos === 0) {
      throw new OpsToolError(`service "${args.service}" has no SLOs in Application Signals, so there is nothing to watch: create one (CloudWatch console: Application Signals > Service Level Objectives) or watch a service that has one`);
    }
    environment = mine.environment;
    status = mine.status;
    breached = mine.breached;
  }

  // the breach's operation and dependency graph from the audit (SLO + trace auditors)
  let operation: string | null = null;
  let graphSlow: { name: string; operation: string | null; ms: number } | null = null;
  const auditNotes: string[] = [];
  if (args.audit !== undefined) {
    const findings = parseAudit(args.audit).filter((f) => !f.KeyAttributes?.Name || f.KeyAttributes.Name === args.service);
    const latency = findings.find((f) => f.Type === 'Latency') ?? findings[0];
    operation = latency?.Operation ?? null;
    const nodes = (latency?.DependencyGraph?.Nodes ?? []).filter((n) => n.Name !== args.service && typeof n.Duration === 'number');
    nodes.sort((a, b) => (b.Duration ?? 0) - (a.Duration ?? 0));
    if (nodes[0]) {
      const name = nodes[0].Type === 'AWS::Resource' ? `${nodes[0].KeyAttributes?.ResourceType ?? nodes[0].Name} ${nodes[0].KeyAttributes?.Identifier ?? ''}`.trim() : (nodes[0].Name ?? '');
      graphSlow = { name, operation: nodes[0].Operation ?? null, ms: Math.round((nodes[0].Duration ?? 0) * 1000) };
    }
    for (const f of findings) for (const r of f.AuditorResults ?? []) if (r.Severity && /CRITICAL|HIGH/.test(r.Severity)) auditNotes.push(`${r.Auditor}: ${String(r.Description).split('\n')[0].replace(/\s*see a \[sample trace\].*$/, '')}`);
  }

  // the dependencies from spans: the slow one stands out from the others
  const dependencies: Dep[] = spanRows('search_transaction_spans', args.dependency_spans, notes)
    .map((r) => ({ name: String(r['attributes.aws.remote.service'] ?? 'unknown'), operation: r['attributes.aws.remote.operation'] ?? null, calls: num(r.calls), avg_ms: num(r.avg_ms), p99_ms: num(r.p99_ms), slow: false }))
    .sort((a, b) => (b.p99_ms ?? 0) - (a.p99_ms ?? 0));
  if (dependencies.length > 0) {
    const [top, next] = dependencies;
    const p = top.p99_ms ?? 0;
    if (p >= args.min_slow_ms && (next === undefined || p >= args.slow_factor * (next.p99_ms ?? 0))) top.slow = true;
  } else if (graphSlow) {
    dependencies.push({ name: graphSlow.name, operation: graphSlow.operation, calls: null, avg_ms: null, p99_ms: graphSlow.ms, slow: graphSlow.ms >= args.min_slow_ms });
    notes.push('no span rows: the dependency comes from the audit\'s dependency graph');
  }
  const slow = dependencies.find((d) => d.slow) ?? null;
  if (slow && graphSlow && graphSlow.name !== slow.name) notes.push(`the audit's dependency graph points at ${graphSlow.name}, the spans at ${slow.name}`);

  const operations = spanRows('search_transaction_spans', args.operation_spans, notes)
    .map((r) => ({ name: String(r['attributes.aws.local.operation'] ?? 'unknown'), calls: num(r.calls), avg_ms: num(r.avg_ms), p99_ms: num(r.p99_ms), faults: num(r.faults) }))
    .sort((a, b) => (b.p99_ms ?? 0) - (a.p99_ms ?? 0));
  const metrics = parseMetrics(args.metrics ?? [], notes);
  if (metrics.some((m) => m.percentiles_missing)) notes.push('query_service_metrics returned no percentiles (a known bug of the pinned server release); latency percentiles come from spans');

  const isBreached = status === 'breached';
  const sloName = breached[0] ?? null;
  const op = operation ?? (operations[0]?.name ?? null);
  const reason = isBreached ? `SLO ${breached.join(', ')} breached${op ? ` on ${op}` : ''}` : null;
  const rootCause = isBreached
    ? slow
      ? `dependency ${slow.name}${slow.operation ? ` (${slow.operation})` : ''} is slow: p99 ${slow.p99_ms} ms${slow.avg_ms !== null ? `, avg ${slow.avg_ms} ms` : ''}${op ? `, called by ${op}` : ''}`
      : 'no single slow dependency found in spans or the audit'
    : null;
  const findings = slow
    ? [
        {
          id: `latency:${slow.name}`,
          kind: 'latency',
          severity: isBreached ? 'critical' : 'warning',
          title: `${slow.name}${slow.operation ? ` ${slow.operation}` : ''} is slow (p99 ${slow.p99_ms} ms)`,
          target: slow.name,
          metric: 'p99_ms',
          value: slow.p99_ms,
          threshold: args.min_slow_ms,
          unit: 'ms',
          first_at: window.start_iso,
          last_at: window.end_iso,
          samples_affected: slow.calls ?? 0,
          samples_total: dependencies.reduce((n, d) => n + (d.calls ?? 0), 0),
          evidence: { operation: op, dependency_operation: slow.operation, avg_ms: slow.avg_ms, p99_ms: slow.p99_ms, healthy_dependencies: dependencies.filter((d) => !d.slow).map((d) => d.name).join(', ') || null },
          // a profile read no SLOs: it names what stands out, not an SLO it never looked at
          suggested_fix: isBreached
            ? `Look at ${slow.name}: its latency is what breaks ${sloName ?? 'the SLO'}.`
            : `Look at ${slow.name} first: its p99 (${slow.p99_ms} ms) stands out from the other dependencies${op ? ` of ${op}` : ''}.`,
          series: null,
        },
      ]
    : [];

  const now = new Date(end).toISOString();
  const started = args.breach_started_at ?? null;
  const recovered = !isBreached && status === 'ok' && started !== null;
  const ttr = recovered ? end - Date.parse(started) : null;
  const slo = {
    objectives: { availability_pct: null, latency_ms: null, latency_percentile: 'p99' },
    met: status === 'ok',
    status: status === 'insufficient_data' ? ('no_data' as const) : isBreached ? ('breached' as const) : recovered ? ('recovered' as const) : ('met' as const),
    checks: 1,
    breaching_checks: isBreached ? 1 : 0,
    availability_pct: null,
    latency_ms: slow?.p99_ms ?? null,
    reason,
    breach_started_at: isBreached ? (started ?? now) : started,
    recovered_at: recovered ? now : null,
    time_to_recovery_ms: ttr,
    time_to_recovery: ttr === null ? null : human(ttr),
  };
  const worstOp = operations[0];
  const headline = isBreached
    ? `${args.service}: ${reason}; ${rootCause}`
    : args.metrics || args.operation_spans
      ? `${args.service}: worst operation ${worstOp ? `${worstOp.name} (p99 ${worstOp.p99_ms} ms)` : 'unknown'}${dependencies[0] ? `, slowest dependency ${dependencies[0].name} (p99 ${dependencies[0].p99_ms} ms)` : ''}`
      : `${args.service}: ${status === 'ok' ? 'all SLOs met' : 'not enough data for its SLOs'}`;

  const sloTargets = JSON.stringify(breached.map((n) => ({ Type: 'slo', Data: { Slo: { SloName: n } } })));
  return {
    service: args.service,
    environment,
    status,
    slis_read: args.list_slis !== undefined,
    breached_slos: breached,
    slo_name: sloName,
    slo_targets: sloTargets,
    operation: op,
    slow_dependency: slow,
    dependencies,
    operations,
    metrics,
    window,
    spans_query: `filter attributes.aws.local.service = ${q(args.service)} and kind = "CLIENT" | stats count(*) as calls, avg(durationNano) / 1000000 as avg_ms, pct(durationNano, 99) / 1000000 as p99_ms by attributes.aws.remote.service, attributes.aws.remote.operation | sort p99_ms desc | limit 20`,
    operations_query: `filter attributes.aws.local.service = ${q(args.service)} and kind = "SERVER" | stats count(*) as calls, avg(durationNano) / 1000000 as avg_ms, pct(durationNano, 99) / 1000000 as p99_ms, sum(status.code = "ERROR") as faults by attributes.aws.local.operation | sort p99_ms desc | limit 20`,
    worst_operations: operations.slice(0, 3).map((o) => `${o.name} p99 ${o.p99_ms} ms (${o.calls ?? '?'} calls${o.faults ? `, ${o.faults} faults` : ''})`).join('; ') || 'none seen',
    worst_dependencies: dependencies.slice(0, 3).map((d) => `${d.name}${d.operation ? ` ${d.operation}` : ''} p99 ${d.p99_ms} ms${d.slow ? ' (slow)' : ''}`).join('; ') || 'none seen',
    notes: [...auditNotes, ...notes],
    summary: { headline, healthy: !isBreached, bottlenecks: findings.length, critical: findings.filter((f) => f.severity === 'critical').length, warning: findings.filter((f) => f.severity === 'warning').length, info: 0, root_cause: rootCause },
    findings,
    slo,
  };
}

export default tool;
