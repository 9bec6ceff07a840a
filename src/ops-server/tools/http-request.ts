import { z } from 'zod';
import { fetchErrorText, isTimeout } from '../http.js';
import { round } from '../proc.js';
import { OpsToolError, type OpsTool } from '../tool.js';

const Input = z
  .object({
    url: z.url({ protocol: /^https?$/ }),
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']).default('GET'),
    headers: z.record(z.string(), z.string()).default({}),
    body: z.string().max(10 * 1024 * 1024).optional().describe('raw request body'),
    json: z.unknown().optional().describe('a JSON body (sets content-type); instead of body'),
    timeout_ms: z.number().int().min(1).max(300_000).default(10_000),
    max_body_bytes: z.number().int().min(0).max(10 * 1024 * 1024).default(1024 * 1024).describe('response body kept up to this size'),
  })
  .strict()
  .refine((a) => a.body === undefined || a.json === undefined, { message: 'give body or json, not both' });

const Output = z.object({
  url: z.string(),
  method: z.string(),
  status: z.number(),
  ok: z.boolean(),
  headers: z.record(z.string(), z.string()),
  body: z.string(),
  json: z.unknown().optional(),
  body_bytes: z.number(),
  body_truncated: z.boolean(),
  duration_ms: z.number(),
});

const tool: OpsTool<typeof Input, typeof Output> = {
  name: 'http_request',
  title: 'HTTP request',
  description:
    'One HTTP call (method, headers, body) for remediation hooks: restart endpoints, webhooks, feature flags. Returns status, headers and body. ' +
    'Sends the caller\'s idempotency key as Idempotency-Key on non-GET requests unless a header sets it. Marked destructive: never cached.',
  input: Input,
  output: Output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  async run(args, ctx) {
    const headers: Record<string, string> = { ...args.headers };
    const has = (h: string) => Object.keys(headers).some((k) => k.toLowerCase() === h);
    let body: string | undefined = args.body;
    if (args.json !== undefined) {
      body = JSON.stringify(args.json);
      if (!has('content-type')) headers['content-type'] = 'application/json';
    }
    if (ctx.idempotencyKey && args.method !== 'GET' && args.method !== 'HEAD' && !has('idempotency-key')) headers['Idempotency-Key'] = ctx.idempotencyKey;
    const t0 = performance.now();
    let res: Response;
    try {
      res = await fetch(args.url, { method: args.method, headers, body, signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(args.timeout_ms)]) });
    } catch (e) {
      if (isTimeout(e)) throw new OpsToolError(`${args.method} ${args.url} got no answer within ${args.timeout_ms} ms`, true);
      throw new OpsToolError(`${args.method} ${args.url} failed: ${fetchErrorText(e)}`, true);
    }
    const buf = Buffer.from(await res.arrayBuffer());
    const kept = buf.subarray(0, args.max_body_bytes).toString('utf8');
    let json: unknown;
    if ((res.headers.get('content-type') ?? '').includes('json') && buf.length <= args.max_body_bytes) {
      try {
        json = JSON.parse(kept);
      } catch {
        // not JSON after all: the text is there
      }
    }
    return {
      url: args.url,
      method: args.method,
      status: res.status,
      ok: res.ok,
      headers: Object.fromEntries(res.headers.entries()),
      body: kept,
      ...(json === undefined ? {} : { json }),
      body_bytes: buf.length,
      body_truncated: buf.length > args.max_body_bytes,
      duration_ms: round(performance.now() - t0),
    };
  },
};

export default tool;
