import { analyzeSamples } from '../analysis/analyze.js';
import { AnalyzeInput, AnalyzeOutput } from '../analysis/schema.js';
import type { OpsTool } from '../tool.js';

export { analyzeSamples } from '../analysis/analyze.js';

/**
 * `ops.analyze_samples`: bottlenecks in sampled probe / process / log data, found deterministically
 * (the same samples give the same findings). The analysis is a pure function in ../analysis; this
 * file only exposes it as a tool.
 */
const tool: OpsTool<typeof AnalyzeInput, typeof AnalyzeOutput> = {
  name: 'analyze_samples',
  title: 'Analyze samples',
  description:
    'Finds performance bottlenecks in a series of samples without an LLM: per-endpoint latency percentiles over time and spikes, ' +
    '5xx rates and error bursts, timeouts, unreachable targets, CPU saturation, memory growth (linear trend), log error rates. ' +
    'Pass `iterations` (the output of a repeat step that ran ops.http_probe / ops.process_stats / ops.log_scan) and/or ' +
    '`samples` ([{t, kind, target, data}]). Each finding has kind, target/endpoint, metric, percentile, value, threshold, ' +
    'first/last time, severity, evidence and a suggested fix.',
  input: AnalyzeInput,
  output: AnalyzeOutput,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  run: async (args) => analyzeSamples(args),
};

export default tool;
