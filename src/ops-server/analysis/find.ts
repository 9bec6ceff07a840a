import { z } from 'zod';
import { AnalyzeOutput, Finding, SloResult, Thresholds } from './schema.js';

/**
 * Both an analysis and an AppSignals facts output have a `summary` object, so text without the
 * word (and without a \u escape, the only way JSON spells a key's letters otherwise) holds
 * neither and is not parsed. A run's end looks through every step output: for a 500-step run of
 * tool calls, parsing and checking each was ~10 % of the daemon's main thread in the MCP chain
 * benchmark (bench/engine.bench.js stepsMcp, a CPU profile of 2026-12-05).
 */
const mayHoldSummary = (text: string): boolean => text.includes('summary') || text.includes('\\u');

const hasKeys = (v: unknown, ...keys: string[]): boolean => typeof v === 'object' && v !== null && !Array.isArray(v) && keys.every((k) => k in v);

const parseJson = (v: unknown): unknown => {
  if (typeof v !== 'string') return v;
  if (!mayHoldSummary(v)) return null;
  try {
    return JSON.parse(v) as unknown;
  } catch {
    return null;
  }
};

/**
 * The analysis among a run's step outputs: the step named `analyze` if it holds one, else the last
 * step whose output is an analysis (tool outputs may arrive as JSON text). Runs of the AppSignals
 * workflows hold ops.appsignals_facts outputs instead (possibly inside a watch's iterations): those
 * are read as an analysis too, so report, notifications, Slack and memory show them alike.
 */
export function findAnalysis(steps: readonly { id: string; output?: unknown }[]): { step: string; analysis: AnalyzeOutput } | null {
  const parse = (v: unknown): AnalyzeOutput | null => {
    const json = parseJson(v);
    // the schema's required top-level keys first: most outputs are not analyses
    if (!hasKeys(json, 'summary', 'window')) return null;
    const r = AnalyzeOutput.safeParse(json);
    return r.success ? r.data : null;
  };
  const ordered = [...steps.filter((s) => s.id === 'analyze'), ...[...steps].reverse()];
  for (const s of ordered) {
    const a = parse(s.output);
    if (a) return { step: s.id, analysis: a };
  }
  return findAppSignals(steps);
}

/** The fields of an ops.appsignals_facts output this reads (the tool's own schema is wider). */
const Facts = z.object({
  service: z.string(),
  environment: z.string().nullable(),
  status: z.enum(['ok', 'breached', 'insufficient_data']),
  /** false: facts of a profile, which read no SLI report (absent in outputs recorded before it was added) */
  slis_read: z.boolean().optional(),
  breached_slos: z.array(z.string()),
  slo_name: z.string().nullable(),
  operation: z.string().nullable(),
  slow_dependency: z.object({ name: z.string(), operation: z.string().nullable(), calls: z.number().nullable(), avg_ms: z.number().nullable(), p99_ms: z.number().nullable() }).nullable(),
  dependencies: z.array(z.object({ name: z.string(), operation: z.string().nullable(), calls: z.number().nullable(), avg_ms: z.number().nullable(), p99_ms: z.number().nullable(), slow: z.boolean() })),
  operations: z.array(z.object({ name: z.string(), calls: z.number().nullable(), avg_ms: z.number().nullable(), p99_ms: z.number().nullable(), faults: z.number().nullable() })),
  window: z.object({ start_iso: z.string(), end_iso: z.string() }),
  worst_operations: z.string(),
  worst_dependencies: z.string(),
  notes: z.array(z.string()),
  summary: AnalyzeOutput.shape.summary,
  findings: z.array(z.record(z.string(), z.unknown())),
  slo: SloResult,
});
type Facts = z.infer<typeof Facts>;

/** Every facts output in execution order: step outputs, a watch's finished iterations, re-checks. */
function collectFacts(v: unknown, out: Facts[], depth = 0): void {
  if (depth > 8 || v === null || typeof v !== 'object') return;
  if (Array.isArray(v)) {
    for (const x of v) collectFacts(x, out, depth + 1);
    return;
  }
  // the schema's required keys first: most objects are not facts
  const f = hasKeys(v, 'service', 'summary', 'slo') ? Facts.safeParse(v) : null;
  if (f?.success) {
    out.push(f.data);
    return;
  }
  for (const x of Object.values(v)) collectFacts(x, out, depth + 1);
}

function findAppSignals(steps: readonly { id: string; output?: unknown }[]): { step: string; analysis: AnalyzeOutput } | null {
  const all: { step: string; facts: Facts }[] = [];
  for (const s of steps) {
    const found: Facts[] = [];
    collectFacts(parseJson(s.output), found);
    for (const f of found) all.push({ step: s.id, facts: f });
  }
  const latest = all.at(-1);
  if (!latest) return null;
  // the incident is the last diagnosis of a breach (it names the dependency); a later re-check
  // of the same breach says whether and when the SLO was restored
  const incident = [...all].reverse().find((x) => x.facts.status === 'breached' && (x.facts.slow_dependency !== null || x.facts.dependencies.length > 0));
  const main = incident ?? [...all].reverse().find((x) => x.facts.operations.length > 0 || x.facts.dependencies.length > 0) ?? latest;
  const f = main.facts;
  const after = incident && latest !== incident && latest.facts.slo.breach_started_at === f.slo.breach_started_at ? latest.facts : null;
  const slo = after ? { ...f.slo, ...after.slo, reason: f.slo.reason, latency_ms: f.slo.latency_ms } : f.slo;
  const findings = f.findings.flatMap((x) => {
    const r = Finding.safeParse({ endpoint: null, percentile: 'p99', remediation: null, ...x });
    return r.success ? [r.data] : [];
  });
  const from = f.window.start_iso, to = f.window.end_iso;
  const summary = after && after.slo.status === 'recovered' ? { ...f.summary, headline: `${f.summary.headline} (restored in ${after.slo.time_to_recovery})` } : f.summary;
  return {
    step: main.step,
    analysis: {
      summary,
      window: { from, to, duration_ms: Math.max(0, Date.parse(to) - Date.parse(from)) || 0, samples: { http: 0, process: 0, log: 0, ignored: 0 } },
      findings,
      endpoints: [],
      processes: [],
      logs: [],
      thresholds: Thresholds.parse({}),
      slo: f.slis_read !== false && (f.breached_slos.length > 0 || f.status !== 'ok' || after || !f.operations.length) ? slo : null,
      appsignals: {
        service: f.service,
        environment: f.environment,
        status: after ? after.status : f.status,
        slo_name: f.slo_name,
        breached_slos: f.breached_slos,
        operation: f.operation,
        slow_dependency: f.slow_dependency,
        dependencies: f.dependencies,
        operations: f.operations,
        worst_operations: f.worst_operations,
        worst_dependencies: f.worst_dependencies,
        notes: f.notes,
      },
    },
  };
}
