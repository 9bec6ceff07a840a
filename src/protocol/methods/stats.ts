import { z } from 'zod';
import { defineMethod } from '../messages.js';
import { RunStatus } from './daemon.js';

/**
 * `opstream stats --json` prints StatsJson. Run figures cover runs that ended in the window (by
 * hour: the start of the window is rounded down to the hour); tool and notification figures cover
 * every workflow. Durations are of succeeded runs, from a log histogram (within about 2.5%).
 */
const Quantiles = z.object({ count: z.number().int(), p50: z.number().nullable(), p95: z.number().nullable(), mean: z.number().nullable() });

export const WorkflowStats = z.object({
  workflow: z.string(),
  runs: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
  /** succeeded / (succeeded + failed); cancelled runs are left out. Null without any. */
  success_rate: z.number().nullable(),
  duration_ms: Quantiles,
  /** From each approval or input request to its answer (or its timeout), summed. */
  people_wait_ms: z.number(),
  tokens: z.object({ prompt: z.number(), completion: z.number(), total: z.number() }),
  tool_calls: z.number().int(),
});
export type WorkflowStats = z.infer<typeof WorkflowStats>;

export const ToolUseStats = z.object({
  tool: z.string(),
  calls: z.number().int(),
  /** Calls that failed or whose result was an error (isError). */
  errors: z.number().int(),
  error_rate: z.number().nullable(),
  p95_ms: z.number().nullable(),
  cache_hits: z.number().int(),
  cache_hit_rate: z.number().nullable(),
});
export type ToolUseStats = z.infer<typeof ToolUseStats>;

export const StatsJson = z.object({
  window: z.object({ since: z.string().nullable(), until: z.string(), workflow: z.string().nullable() }),
  runs: WorkflowStats.omit({ workflow: true }).extend({ active: z.record(RunStatus, z.number().int()) }),
  workflows: z.array(WorkflowStats),
  tools: z.array(ToolUseStats),
  notifications: z.object({ sent: z.record(z.string(), z.number().int()), failed: z.record(z.string(), z.number().int()) }),
  daemon: z.object({
    pid: z.number().int(),
    version: z.string(),
    uptime_ms: z.number(),
    rss_bytes: z.number(),
    heap_used_bytes: z.number(),
    store_bytes: z.number(),
    outbox_backlog: z.record(z.string(), z.number().int()),
    /** Where Prometheus can scrape these figures (config `metrics.listen`), or null when off. */
    metrics_url: z.string().nullable(),
  }),
  /** How long the daemon took to compute this. */
  took_ms: z.number(),
});
export type StatsJson = z.infer<typeof StatsJson>;

export const statsMethods = {
  /** `since`: a duration back from now (`7d`, `12h`) or `all`. */
  'stats.get': defineMethod(
    z.object({ workflow: z.string().min(1).max(200).optional(), since: z.string().max(40).default('7d') }).default({ since: '7d' }),
    StatsJson,
  ),
  /** The same figures (all time) in Prometheus text exposition format, as the metrics port serves them. */
  'stats.prometheus': defineMethod(z.object({}).strict().default({}), z.object({ content_type: z.string(), text: z.string() })),
} as const;
