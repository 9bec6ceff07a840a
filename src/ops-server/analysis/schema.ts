import { z } from 'zod';

/**
 * Input and output of `ops.analyze_samples`. The input takes samples in two forms so a workflow can
 * pass what it has without reshaping it:
 * - `samples`: a generic list of `{ t, kind, target, data }` (data = one ops tool result), and
 * - `iterations`: the raw output of a `repeat` step (a list of iterations, each a tool result or an
 *   object of tool results keyed by step id, nested at any depth); each result's kind is recognised
 *   from its fields (http_probe, process_stats, log_scan).
 */

/** ISO time, epoch ms, or seconds since the start of the window (numbers below 1e11). */
export const SampleTime = z.union([z.string().min(1), z.number()]);

export const GenericSample = z.object({
  t: SampleTime.optional(),
  kind: z.string().min(1).optional().describe('http_probe | process_stats | log_scan (guessed from data when absent)'),
  target: z.string().optional().describe('URL, process or file the sample is about (read from data when absent)'),
  data: z.record(z.string(), z.unknown()),
});
export type GenericSample = z.infer<typeof GenericSample>;

export const Thresholds = z
  .object({
    latency_p95_ms: z.number().positive().default(500).describe('sustained p95 latency at or above this is a bottleneck (warning)'),
    latency_p95_critical_ms: z.number().positive().default(2000),
    spike_factor: z.number().min(1).default(4).describe('a sample p95 this many times the endpoint median (and over latency_p95_ms) is a spike'),
    error_rate: z.number().min(0).max(1).default(0.05).describe('share of 5xx responses over the window (warning)'),
    error_rate_critical: z.number().min(0).max(1).default(0.25),
    burst_rate: z.number().min(0).max(1).default(0.5).describe('share of failed requests in one sample that is a burst'),
    timeout_rate: z.number().min(0).max(1).default(0.05),
    cpu_percent: z.number().positive().default(70).describe('sustained CPU % of one core (warning)'),
    cpu_percent_critical: z.number().positive().default(90),
    memory_growth_mb: z.number().min(0).default(16).describe('RSS growth over the window below this is noise'),
    memory_growth_pct: z.number().min(0).default(10).describe('and below this % of the starting RSS'),
    memory_r2: z.number().min(0).max(1).default(0.7).describe('how linear the growth must be to call it a trend'),
    log_errors_min: z.number().int().min(1).default(5),
    log_errors_per_min: z.number().min(0).default(1),
    log_errors_per_min_critical: z.number().min(0).default(30),
    sustained_fraction: z.number().min(0).max(1).default(0.5).describe('share of samples over a threshold that makes it sustained'),
  })
  .strict();
export type Thresholds = z.infer<typeof Thresholds>;

export const Objectives = z
  .object({
    availability_pct: z.number().min(0).max(100).optional().describe('share of requests answered without a 5xx, connection error or timeout, e.g. 99.5'),
    latency_ms: z.number().positive().optional().describe('the latency percentile of every check must stay at or below this'),
    latency_percentile: z.enum(['p50', 'p95', 'p99']).default('p95'),
  })
  .strict()
  .refine((o) => o.availability_pct !== undefined || o.latency_ms !== undefined, { message: 'give availability_pct and/or latency_ms' });
export type Objectives = z.infer<typeof Objectives>;

/**
 * A machine-usable fix: one HTTP call to the service's own admin hook. `path` is resolved against
 * the finding's URL (HTTP findings) or `base_url`; `url` is used as is.
 */
export const RemediationSpec = z
  .object({
    method: z.enum(['POST', 'PUT', 'PATCH', 'DELETE', 'GET']).default('POST'),
    path: z.string().regex(/^\//, 'a path starts with /, e.g. /admin/pool').optional(),
    url: z.url({ protocol: /^https?$/ }).optional(),
    body: z.unknown().optional().describe('JSON body of the call'),
    description: z.string().max(300).optional().describe('what the call does, for the approval prompt'),
  })
  .strict()
  .refine((r) => Boolean(r.path) !== Boolean(r.url), { message: 'give exactly one of path (on the service) or url' });
export type RemediationSpec = z.infer<typeof RemediationSpec>;

/** What a finding measured, where: shared by a finding and the remediation resolved for it. */
const Measured = {
  target: z.string().describe('URL, process (name#pid) or log file'),
  endpoint: z.string().nullable().describe('path of an HTTP target'),
  metric: z.string(),
  percentile: z.string().nullable(),
  value: z.number(),
  threshold: z.number(),
  unit: z.string(),
};

/** A remediation resolved for one finding: what the approval shows and what ops.http_request gets. */
export const Remediation = z.object({
  key: z.string().describe('the `remediations` key that matched'),
  finding_id: z.string(),
  finding_title: z.string(),
  /** Short: what is wrong where, e.g. `/api/search?q=a p95 latency 1214 ms (limit 500 ms)`. */
  subject: z.string(),
  kind: z.string(),
  ...Measured,
  method: z.string(),
  url: z.string(),
  body: z.unknown().optional(),
  description: z.string().nullable(),
  /** e.g. `POST /admin/pool {"size":20}`. */
  call: z.string(),
});
export type Remediation = z.infer<typeof Remediation>;

export const Verification = z.object({
  finding_id: z.string(),
  /** The finding is gone from the new samples (and there were samples of its target). */
  confirmed: z.boolean(),
  /** What was measured, where (the finding's): the verdict names it whole. */
  target: z.string(),
  endpoint: z.string().nullable(),
  metric: z.string(),
  percentile: z.string().nullable(),
  /** e.g. `/api/search p95 latency`, `checkout#4242 CPU p50`. */
  label: z.string(),
  before: z.number(),
  after: z.number().nullable(),
  unit: z.string(),
  /** The measured effect with units, e.g. `/api/search p95 latency 640 ms -> 70 ms`; null without new samples. */
  effect: z.string().nullable(),
  samples: z.number().int(),
  /** e.g. `Fix confirmed: /api/search p95 latency 640 ms -> 70 ms`. */
  text: z.string(),
});
export type Verification = z.infer<typeof Verification>;

export const AnalyzeInput = z.object({
  samples: z.array(GenericSample).default([]),
  iterations: z.array(z.unknown()).default([]).describe('the output of a repeat step, as is'),
  started_at: SampleTime.optional().describe('start of the window, for samples that carry no time of their own'),
  interval: z.union([z.string(), z.number()]).optional().describe('time between iterations (e.g. "1m", or seconds), for samples without times'),
  thresholds: Thresholds.partial().default({}),
  objectives: Objectives.optional().describe('SLO objectives: each HTTP sample is a check; reports breach, recovery and time to recovery'),
  remediations: z
    .record(z.string().min(1), RemediationSpec)
    .default({})
    .describe('fixes by finding: keys "kind:/path" (latency:/api/search), "/path" or "kind" (cpu_saturation), most specific first'),
  base_url: z.url({ protocol: /^https?$/ }).optional().describe('the service, for remediation paths of findings that are not about a URL'),
  verify: Remediation.optional().describe('a remediation applied before these samples were taken: the output says whether its finding is gone'),
});
export type AnalyzeInput = z.input<typeof AnalyzeInput>;
export type AnalyzeArgs = z.output<typeof AnalyzeInput>;

export const Severity = z.enum(['info', 'warning', 'critical']);
export type Severity = z.infer<typeof Severity>;

export const FindingKind = z.enum(['latency', 'latency_spike', 'error_rate', 'error_burst', 'timeouts', 'unreachable', 'cpu_saturation', 'memory_growth', 'log_errors']);
export type FindingKind = z.infer<typeof FindingKind>;

export const SeriesPoint = z.object({ t: z.string(), v: z.number().nullable() });
export const Series = z.object({ label: z.string(), metric: z.string(), unit: z.string(), points: z.array(SeriesPoint) });
export type Series = z.infer<typeof Series>;

export const Finding = z.object({
  id: z.string().describe('kind:target, stable across runs'),
  kind: FindingKind,
  severity: Severity,
  title: z.string(),
  ...Measured,
  first_at: z.string().nullable(),
  last_at: z.string().nullable(),
  samples_affected: z.number().int(),
  samples_total: z.number().int(),
  evidence: z.record(z.string(), z.union([z.number(), z.string(), z.null()])),
  suggested_fix: z.string(),
  series: Series.nullable(),
  /** Set when `remediations` maps this finding to a call (absent in analyses stored before it existed). */
  remediation: Remediation.nullable().optional(),
});
export type Finding = z.infer<typeof Finding>;

export const EndpointSummary = z.object({
  target: z.string(),
  endpoint: z.string(),
  samples: z.number().int(),
  requests: z.number().int(),
  p50_ms: z.number().nullable(),
  p95_ms: z.number().nullable(),
  p99_ms: z.number().nullable(),
  max_ms: z.number().nullable(),
  error_rate: z.number(),
  status_codes: z.record(z.string(), z.number()),
});
export type EndpointSummary = z.infer<typeof EndpointSummary>;

export const ProcessSummary = z.object({
  target: z.string(),
  samples: z.number().int(),
  cpu_avg: z.number().nullable(),
  cpu_max: z.number().nullable(),
  rss_first_mb: z.number().nullable(),
  rss_last_mb: z.number().nullable(),
  rss_slope_mb_per_min: z.number().nullable(),
});
export type ProcessSummary = z.infer<typeof ProcessSummary>;

export const LogSummary = z.object({
  target: z.string(),
  samples: z.number().int(),
  errors: z.number().int(),
  errors_per_min: z.number().nullable(),
  top_messages: z.array(z.object({ message: z.string(), count: z.number() })),
});
export type LogSummary = z.infer<typeof LogSummary>;

export const SloResult = z.object({
  objectives: z.object({ availability_pct: z.number().nullable(), latency_ms: z.number().nullable(), latency_percentile: z.string() }),
  /** The latest check met every objective. */
  met: z.boolean(),
  status: z.enum(['met', 'breached', 'recovered', 'no_data']).describe('recovered: breached earlier in the window, met now'),
  checks: z.number().int(),
  breaching_checks: z.number().int(),
  availability_pct: z.number().nullable().describe('observed over the window'),
  latency_ms: z.number().nullable().describe('observed: median of the checks\' percentile'),
  reason: z.string().nullable().describe('why the first breaching check breached'),
  breach_started_at: z.string().nullable(),
  recovered_at: z.string().nullable(),
  time_to_recovery_ms: z.number().nullable(),
  time_to_recovery: z.string().nullable().describe('e.g. 2m13s'),
});
export type SloResult = z.infer<typeof SloResult>;

export const AnalyzeOutput = z.object({
  summary: z.object({
    headline: z.string(),
    healthy: z.boolean(),
    bottlenecks: z.number().int().describe('findings of severity warning or critical'),
    critical: z.number().int(),
    warning: z.number().int(),
    info: z.number().int(),
    root_cause: z.string().nullable().describe('the most severe finding with what coincides with it'),
  }),
  window: z.object({
    from: z.string().nullable(),
    to: z.string().nullable(),
    duration_ms: z.number(),
    samples: z.object({ http: z.number().int(), process: z.number().int(), log: z.number().int(), ignored: z.number().int() }),
  }),
  findings: z.array(Finding),
  endpoints: z.array(EndpointSummary),
  processes: z.array(ProcessSummary),
  logs: z.array(LogSummary),
  thresholds: Thresholds,
  slo: SloResult.nullable(),
  /** The remediation of the most severe finding that has one (optional: older stored analyses lack it). */
  remediation: Remediation.nullable().optional(),
  /** With `verify`: whether the fix took. */
  verification: Verification.nullable().optional(),
  /** Set when the facts came from CloudWatch Application Signals (ops.appsignals_facts), not from samples. */
  appsignals: z
    .object({
      service: z.string(),
      environment: z.string().nullable(),
      status: z.string(),
      slo_name: z.string().nullable(),
      breached_slos: z.array(z.string()),
      operation: z.string().nullable(),
      slow_dependency: z.object({ name: z.string(), operation: z.string().nullable(), calls: z.number().nullable(), avg_ms: z.number().nullable(), p99_ms: z.number().nullable() }).nullable(),
      dependencies: z.array(z.object({ name: z.string(), operation: z.string().nullable(), calls: z.number().nullable(), avg_ms: z.number().nullable(), p99_ms: z.number().nullable(), slow: z.boolean() })),
      operations: z.array(z.object({ name: z.string(), calls: z.number().nullable(), avg_ms: z.number().nullable(), p99_ms: z.number().nullable(), faults: z.number().nullable() })),
      worst_operations: z.string(),
      worst_dependencies: z.string(),
      notes: z.array(z.string()),
    })
    .optional(),
});
export type AnalyzeOutput = z.infer<typeof AnalyzeOutput>;
