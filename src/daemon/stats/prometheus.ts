import type { StatsService } from './service.js';

type PromClient = typeof import('prom-client');

let loaded: { client: PromClient; process: import('prom-client').Registry } | null = null;

/** prom-client is loaded the first time metrics are asked for, not at every daemon start. */
async function promClient(): Promise<NonNullable<typeof loaded>> {
  if (loaded) return loaded;
  const client = (await import('prom-client')).default as unknown as PromClient;
  const processReg = new client.Registry();
  // the daemon process itself: resident memory, CPU, heap, event loop lag, open fds (Linux)
  client.collectDefaultMetrics({ register: processReg, prefix: 'opstream_daemon_' });
  loaded = { client, process: processReg };
  return loaded;
}

const sec = (ms: number | null): number => (ms === null ? NaN : ms / 1000);

/**
 * The figures of `opstream stats --since all` in Prometheus text exposition format (one fresh
 * registry per scrape, filled from the daemon's aggregates, plus the process's default metrics).
 */
export async function prometheusText(ctx: { stats: Pick<StatsService, 'get'> }): Promise<{ content_type: string; text: string }> {
  const { client, process: processReg } = await promClient();
  const s = await ctx.stats.get({ since: 'all' });
  const reg = new client.Registry();
  const counter = (name: string, help: string, labelNames: string[] = []) => new client.Counter({ name, help, labelNames, registers: [reg] });
  const gauge = (name: string, help: string, labelNames: string[] = []) => new client.Gauge({ name, help, labelNames, registers: [reg] });

  const finished = counter('opstream_runs_finished_total', 'Runs that ended, by workflow and outcome.', ['workflow', 'outcome']);
  const duration = gauge('opstream_run_duration_seconds', 'Duration of succeeded runs: quantiles over all time (log histogram, within 2.5%).', ['workflow', 'quantile']);
  const wait = counter('opstream_people_wait_seconds_total', 'Time runs spent waiting for an approval or input.', ['workflow']);
  const tokens = counter('opstream_llm_tokens_total', 'LLM tokens used by finished runs.', ['workflow', 'kind']);
  const toolCallsByWf = counter('opstream_run_tool_calls_total', 'Tool calls made by finished runs.', ['workflow']);
  for (const w of s.workflows) {
    finished.inc({ workflow: w.workflow, outcome: 'succeeded' }, w.succeeded);
    finished.inc({ workflow: w.workflow, outcome: 'failed' }, w.failed);
    finished.inc({ workflow: w.workflow, outcome: 'cancelled' }, w.cancelled);
    if (w.duration_ms.count > 0) {
      duration.set({ workflow: w.workflow, quantile: '0.5' }, sec(w.duration_ms.p50));
      duration.set({ workflow: w.workflow, quantile: '0.95' }, sec(w.duration_ms.p95));
    }
    wait.inc({ workflow: w.workflow }, w.people_wait_ms / 1000);
    tokens.inc({ workflow: w.workflow, kind: 'prompt' }, w.tokens.prompt);
    tokens.inc({ workflow: w.workflow, kind: 'completion' }, w.tokens.completion);
    toolCallsByWf.inc({ workflow: w.workflow }, w.tool_calls);
  }
  const active = gauge('opstream_runs_active', 'Runs not finished yet, by status.', ['status']);
  for (const st of ['queued', 'running', 'waiting', 'paused'] as const) active.set({ status: st }, s.runs.active[st] ?? 0);

  const calls = counter('opstream_tool_calls_total', 'MCP tool calls, by tool.', ['tool']);
  const errors = counter('opstream_tool_errors_total', 'MCP tool calls that failed or returned an error.', ['tool']);
  const hits = counter('opstream_tool_cache_hits_total', 'MCP tool calls answered from the result cache.', ['tool']);
  const p95 = gauge('opstream_tool_latency_p95_seconds', 'p95 latency of uncached MCP tool calls.', ['tool']);
  for (const t of s.tools) {
    calls.inc({ tool: t.tool }, t.calls);
    errors.inc({ tool: t.tool }, t.errors);
    hits.inc({ tool: t.tool }, t.cache_hits);
    if (t.p95_ms !== null) p95.set({ tool: t.tool }, t.p95_ms / 1000);
  }
  const sent = counter('opstream_notifications_sent_total', 'Notifications a channel confirmed.', ['channel']);
  const failed = counter('opstream_notifications_failed_total', 'Notifications given up on, per channel.', ['channel']);
  for (const [c, n] of Object.entries(s.notifications.sent)) sent.inc({ channel: c }, n);
  for (const [c, n] of Object.entries(s.notifications.failed)) failed.inc({ channel: c }, n);
  const backlog = gauge('opstream_outbox_backlog', 'Notifications waiting for delivery, per channel.', ['channel']);
  for (const [c, n] of Object.entries(s.daemon.outbox_backlog)) backlog.set({ channel: c }, n);
  gauge('opstream_daemon_uptime_seconds', 'Seconds since the daemon started.').set(s.daemon.uptime_ms / 1000);
  gauge('opstream_store_bytes', 'Size of the LevelDB store on disk.').set(s.daemon.store_bytes);

  const merged = client.Registry.merge([reg, processReg]);
  return { content_type: merged.contentType, text: await merged.metrics() };
}
