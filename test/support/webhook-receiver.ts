import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedHook {
  at: number;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  json: Record<string, unknown>;
  /** What this receiver answered (null while hanging). */
  status: number | null;
  /** The body it answered with. */
  answer?: string;
}

/** How to answer the next requests, in order; the last one repeats. `hang` never answers. */
export type HookReply = number | 'hang' | { status: number; headers?: Record<string, string>; body?: string };

/**
 * Answering as Microsoft Teams does (set with `startWebhookReceiver(script, { teams })`):
 * - `connector`, the classic Office 365 incoming webhook: 200 with the body `1` when it took the
 *   message; 400 `Bad payload received by generic incoming webhook.` for a body that is not a
 *   message; and, because it answers before Teams has the message, a refusal by Teams itself as
 *   a 200 whose body says `Webhook message delivery failed with error: Microsoft Teams endpoint
 *   returned HTTP error 413 ...` (413 over ~28 KB, 429 when throttled).
 * - `workflows`, a Power Automate "When a Teams webhook request is received" trigger: 202 with an
 *   empty body; 400 with a JSON error for a body that is not a message; 413 over the size limit.
 * A script entry still decides the answer to a well-formed message (use the helpers below).
 */
export type TeamsMode = 'connector' | 'workflows';

/** Teams refuses messages over about 28 KB. */
export const TEAMS_MAX_BYTES = 28 * 1024;

export const teamsReply = {
  ok: { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: '1' },
  accepted: { status: 202, headers: { 'content-type': 'text/plain' }, body: '' },
  badPayload: { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Bad payload received by generic incoming webhook.' },
  throttled: (retryAfter = '1'): HookReply => ({ status: 429, headers: { 'content-type': 'text/plain; charset=utf-8', 'retry-after': retryAfter }, body: 'Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-loopback,cv=AbCdEf.0' }),
  /** The classic connector's 200 that is not a success. */
  refusedIn200: (code: number): HookReply => ({ status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: `Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error ${code} with ContextId tcid=0,server=msgapi-loopback,cv=AbCdEf.0..` }),
};

/** What Teams answers before any script: a body that is not a Teams message, or one too large. */
function teamsRefusal(mode: TeamsMode, body: string, json: Record<string, unknown>): Exclude<HookReply, number | 'hang'> | null {
  if (Buffer.byteLength(body) > TEAMS_MAX_BYTES) return mode === 'connector' ? (teamsReply.refusedIn200(413) as { status: number; body: string }) : { status: 413, body: '{"error":{"code":"MessageTooLarge","message":"The message is too large."}}' };
  const att = Array.isArray(json.attachments) ? (json.attachments as Record<string, unknown>[]) : [];
  const ok = json.type === 'message' && att.length > 0 && att.every((a) => a.contentType === 'application/vnd.microsoft.card.adaptive' && (a.content as Record<string, unknown> | undefined)?.type === 'AdaptiveCard');
  if (ok) return null;
  return mode === 'connector' ? teamsReply.badPayload : { status: 400, headers: { 'content-type': 'application/json' }, body: '{"error":{"code":"InvalidRequestContent","message":"The request content is not a Teams message with an Adaptive Card attachment."}}' };
}

/**
 * A local webhook receiver as a real one would be: it records every POST, can answer with a script
 * of statuses (500 then 200, 410, 429 with Retry-After, or no answer at all), and dedupes by the
 * Idempotency-Key header the way the webhook docs tell receivers to.
 */
export async function startWebhookReceiver(script: HookReply[] = [200], opts: { teams?: TeamsMode } = {}): Promise<{
  url: string;
  received: ReceivedHook[];
  /** Accepted (2xx) requests, one per idempotency key. */
  accepted(): ReceivedHook[];
  setScript(s: HookReply[]): void;
  /** Resolves when `n` requests (any answer) have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedHook[]>;
  verify(h: ReceivedHook, secret: string): boolean;
  close(): Promise<void>;
}> {
  let plan = [...script];
  const received: ReceivedHook[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        // recorded as received anyway
      }
      const refused = opts.teams ? teamsRefusal(opts.teams, body, json) : null;
      const reply = refused ?? (plan.length > 1 ? plan.shift()! : plan[0]);
      const h: ReceivedHook = { at: Date.now(), path: req.url ?? '/', headers: req.headers, body, json, status: null };
      received.push(h);
      for (const w of [...waiters]) if (received.length >= w.n) w.resolve();
      if (reply === 'hang') return;
      const r = typeof reply === 'number' ? { status: reply } : reply;
      h.status = r.status;
      h.answer = r.body ?? JSON.stringify({ ok: r.status < 300 });
      res.writeHead(r.status, { 'content-type': 'application/json', ...(r.headers ?? {}) });
      res.end(h.answer);
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    accepted() {
      const seen = new Set<string>();
      return received.filter((h) => {
        const key = String(h.headers['idempotency-key']);
        // the classic Teams connector's "200, but delivery failed" took nothing
        if (h.status === null || h.status >= 300 || /delivery failed/i.test(h.answer ?? '') || seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    },
    setScript(s) {
      plan = [...s];
    },
    waitFor(n, timeoutMs = 30_000) {
      if (received.length >= n) return Promise.resolve(received);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`webhook receiver: ${received.length} of ${n} requests after ${timeoutMs}ms`)), timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(t);
            resolve(received);
          },
        });
      });
    },
    verify(h, secret) {
      const ts = String(h.headers['x-opstream-timestamp']);
      const want = `sha256=${createHmac('sha256', secret).update(`${ts}.${h.body}`).digest('hex')}`;
      return h.headers['x-opstream-signature'] === want;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
