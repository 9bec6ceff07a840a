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
}

/** How to answer the next requests, in order; the last one repeats. `hang` never answers. */
export type HookReply = number | 'hang' | { status: number; headers?: Record<string, string>; body?: string };

/**
 * A local webhook receiver as a real one would be: it records every POST, can answer with a script
 * of statuses (500 then 200, 410, 429 with Retry-After, or no answer at all), and dedupes by the
 * Idempotency-Key header the way the webhook docs tell receivers to.
 */
export async function startWebhookReceiver(script: HookReply[] = [200]): Promise<{
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
      const reply = plan.length > 1 ? plan.shift()! : plan[0];
      const h: ReceivedHook = { at: Date.now(), path: req.url ?? '/', headers: req.headers, body, json, status: null };
      received.push(h);
      for (const w of [...waiters]) if (received.length >= w.n) w.resolve();
      if (reply === 'hang') return;
      const r = typeof reply === 'number' ? { status: reply } : reply;
      h.status = r.status;
      res.writeHead(r.status, { 'content-type': 'application/json', ...(r.headers ?? {}) });
      res.end(r.body ?? JSON.stringify({ ok: r.status < 300 }));
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
        if (h.status === null || h.status >= 300 || seen.has(key)) return false;
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
