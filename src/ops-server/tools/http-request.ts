import { z } from 'zod';
import { fetchErrorText, fetchWithinOrigin, isTimeout, MAX_REDIRECTS, readCapped, type Fetched } from '../http.js';
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
    max_body_bytes: z.number().int().min(0).max(10 * 1024 * 1024).default(1024 * 1024).describe('response body read up to this size (at most 10 MiB); the rest is not read'),
  })
  .strict();

const Output = z.object({
  url: z.string().describe('the URL asked for'),
  final_url: z.string().describe('the URL that gave this answer (differs from url only after redirects within its origin)'),
  method: z.string(),
  status: z.number(),
  location: z.string().nullable().describe("the answer's Location header, resolved (a redirect that was not followed)"),
  redirects: z.array(z.object({ status: z.number(), url: z.string(), location: z.string() })).describe('redirects followed (GET only, same origin, at most 5)'),
  redirect_not_followed: z.string().nullable().describe('why the redirect in this answer was not followed'),
  ok: z.boolean(),
  headers: z.record(z.string(), z.string()),
  body: z.string(),
  json: z.unknown().optional(),
  body_bytes: z.number().describe('bytes of the body read (reading stops past max_body_bytes)'),
  body_truncated: z.boolean(),
  duration_ms: z.number(),
});

const tool: OpsTool<typeof Input, typeof Output> = {
  name: 'http_request',
  title: 'HTTP request',
  description:
    'One HTTP call (method, headers, body) for remediation hooks: restart endpoints, webhooks, feature flags. Returns status, headers and body. ' +
    'Sends the caller\'s idempotency key as Idempotency-Key on non-GET requests unless a header sets it. Marked destructive: never cached. ' +
    `Redirects: only a GET follows them, at most ${MAX_REDIRECTS} and only within the URL's origin (scheme, host, port); otherwise the 3xx is the answer, with its location.`,
  input: Input,
  output: Output,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
  async run(args, ctx) {
    if (args.body !== undefined && args.json !== undefined) throw new OpsToolError('give body or json, not both');
    const headers: Record<string, string> = { ...args.headers };
    const has = (h: string) => Object.keys(headers).some((k) => k.toLowerCase() === h);
    let body: string | undefined = args.body;
    if (args.json !== undefined) {
      body = JSON.stringify(args.json);
      if (!has('content-type')) headers['content-type'] = 'application/json';
    }
    if (ctx.idempotencyKey && args.method !== 'GET' && args.method !== 'HEAD' && !has('idempotency-key')) headers['Idempotency-Key'] = ctx.idempotencyKey;
    const t0 = performance.now();
    let got: Fetched;
    let buf: Buffer;
    let truncated: boolean;
    try {
      got = await fetchWithinOrigin(args.url, { method: args.method, headers, body, signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(args.timeout_ms)]) });
      ({ buf, truncated } = await readCapped(got.res, args.max_body_bytes));
    } catch (e) {
      if (isTimeout(e)) throw new OpsToolError(`${args.method} ${args.url} got no answer within ${args.timeout_ms} ms`, true);
      throw new OpsToolError(`${args.method} ${args.url} failed: ${fetchErrorText(e)}`, true);
    }
    const res = got.res;
    const kept = buf.toString('utf8');
    let json: unknown;
    if ((res.headers.get('content-type') ?? '').includes('json') && !truncated) {
      try {
        json = JSON.parse(kept);
      } catch {
        // not JSON after all: the text is there
      }
    }
    return {
      url: args.url,
      final_url: got.finalUrl,
      method: args.method,
      status: res.status,
      location: got.location,
      redirects: got.redirects,
      redirect_not_followed: got.notFollowed,
      ok: res.ok,
      headers: Object.fromEntries(res.headers.entries()),
      body: kept,
      ...(json === undefined ? {} : { json }),
      body_bytes: buf.length,
      body_truncated: truncated,
      duration_ms: round(performance.now() - t0),
    };
  },
};

export default tool;
