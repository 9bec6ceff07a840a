import { z } from 'zod';
import { fetchErrorText, isTimeout } from '../http.js';
import { round } from '../proc.js';
import { OpsToolError, type OpsTool } from '../tool.js';

const Input = z
  .object({
    url: z.url({ protocol: /^https?$/ }).describe('http(s) URL to probe'),
    count: z.number().int().min(1).max(10_000).default(10).describe('requests to send'),
    concurrency: z.number().int().min(1).max(100).default(1),
    method: z.enum(['GET', 'HEAD']).default('GET'),
    headers: z.record(z.string(), z.string()).default({}),
    timeout_ms: z.number().int().min(1).max(120_000).default(5_000).describe('per request'),
    fail_if_unreachable: z.boolean().default(true).describe('report an error (instead of data) when no request got any response'),
  })
  .strict();

const Output = z.object({
  url: z.string(),
  method: z.string(),
  started_at: z.string(),
  duration_ms: z.number(),
  count: z.number(),
  responses: z.number(),
  ok: z.number().describe('2xx and 3xx responses'),
  errors: z.number().describe('requests that got no response (connection errors)'),
  timeouts: z.number(),
  status_codes: z.record(z.string(), z.number()),
  latency_ms: z.object({ min: z.number().nullable(), mean: z.number().nullable(), p50: z.number().nullable(), p95: z.number().nullable(), p99: z.number().nullable(), max: z.number().nullable() }),
  error_samples: z.array(z.string()),
});

/** Reads a body to its end without keeping it: a huge answer costs time, not memory. */
async function drain(res: Response): Promise<void> {
  if (!res.body) return;
  const reader = res.body.getReader();
  while (!(await reader.read()).done);
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const tool: OpsTool<typeof Input, typeof Output> = {
  name: 'http_probe',
  title: 'HTTP probe',
  description: 'Sends N requests to a URL with the given concurrency and reports latency p50/p95/p99/max (over responses), status codes, connection errors and timeouts.',
  input: Input,
  output: Output,
  annotations: { readOnlyHint: true, idempotentHint: false, openWorldHint: true },
  async run(args, ctx) {
    const started = new Date();
    const t0 = performance.now();
    const latencies: number[] = [];
    const codes: Record<string, number> = {};
    const samples = new Set<string>();
    let errors = 0;
    let timeouts = 0;
    let next = 0;
    const one = async (): Promise<void> => {
      const t = performance.now();
      try {
        // redirect: 'manual': a probe measures the URL it was given; a 3xx is counted as that URL's answer, never followed
        const res = await fetch(args.url, { method: args.method, headers: args.headers, signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(args.timeout_ms)]), redirect: 'manual' });
        await drain(res); // the whole response counts, as a user waits for all of it
        latencies.push(performance.now() - t);
        codes[String(res.status)] = (codes[String(res.status)] ?? 0) + 1;
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        if (isTimeout(e)) timeouts++;
        else errors++;
        if (samples.size < 5) samples.add(fetchErrorText(e));
      }
    };
    const worker = async (): Promise<void> => {
      while (next < args.count) {
        next++;
        await one();
      }
    };
    await Promise.all(Array.from({ length: Math.min(args.concurrency, args.count) }, worker));
    if (latencies.length === 0 && args.fail_if_unreachable) {
      throw new OpsToolError(`${args.url} did not answer: ${[...samples].join('; ') || 'no response'} (${errors + timeouts} of ${args.count} requests failed)`, true);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const r = (v: number | null) => (v === null ? null : round(v, 3));
    const ok = Object.entries(codes).filter(([c]) => Number(c) < 400).reduce((a, [, n]) => a + n, 0);
    return {
      url: args.url,
      method: args.method,
      started_at: started.toISOString(),
      duration_ms: round(performance.now() - t0),
      count: args.count,
      responses: latencies.length,
      ok,
      errors,
      timeouts,
      status_codes: codes,
      latency_ms: {
        min: r(sorted[0] ?? null),
        mean: r(sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : null),
        p50: r(percentile(sorted, 50)),
        p95: r(percentile(sorted, 95)),
        p99: r(percentile(sorted, 99)),
        max: r(sorted[sorted.length - 1] ?? null),
      },
      error_samples: [...samples],
    };
  },
};

export default tool;
