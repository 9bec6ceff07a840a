import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { CompiledConfig } from '../../config/load.js';
import type { Service } from '../context.js';
import type { StatsService } from './service.js';
import { prometheusText } from './prometheus.js';

/**
 * Whether the request carries `Authorization: Bearer <token>`. Both sides are hashed first so the
 * comparison takes the same time whatever the length or the first wrong byte (timingSafeEqual
 * needs equal lengths, and an early exit would tell a prober how much of a guess was right).
 */
export function bearerMatches(req: IncomingMessage, tokenDigest: Buffer): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
  const given = createHash('sha256')
    .update(m?.[1] ?? '')
    .digest();
  return timingSafeEqual(given, tokenDigest) && m !== null;
}

/**
 * The opt-in Prometheus endpoint (config `metrics: { listen: "127.0.0.1:9464", token? }`): GET
 * /metrics, nothing else served; on a loopback address unless a token guards it (config refuses
 * others), and with a token only to scrapes that send it. The token is never logged.
 */
export class MetricsServer implements Service {
  readonly name = 'metrics';
  private server: Server | null = null;

  constructor(private readonly d: { log: Logger; config: Pick<CompiledConfig, 'metrics'>; stats: Pick<StatsService, 'get' | 'metricsUrl'> }) {}

  async start(): Promise<void> {
    const ctx = this.d;
    const listen = ctx.config.metrics;
    if (!listen) return;
    const tokenDigest = listen.token === null ? null : createHash('sha256').update(listen.token).digest();
    const server = createServer((req, res) => {
      if (tokenDigest && !bearerMatches(req, tokenDigest)) {
        // the same answer for a missing and a wrong token; the attempt is logged without either
        ctx.log.debug({ remote: req.socket.remoteAddress, had_authorization: req.headers.authorization !== undefined }, 'metrics scrape refused: no valid bearer token');
        res.writeHead(401, { 'www-authenticate': 'Bearer realm="opstream metrics"', 'content-type': 'text/plain' }).end('a bearer token is required (metrics.token)\n');
        return;
      }
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at /metrics\n');
        return;
      }
      prometheusText(ctx).then(
        (m) => res.writeHead(200, { 'content-type': m.content_type }).end(req.method === 'HEAD' ? undefined : m.text),
        (err) => {
          ctx.log.error({ err }, 'metrics scrape failed');
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics failed; see the daemon log\n');
        },
      );
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(listen.port, listen.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      // the daemon still runs without its metrics; the log says why and `opstream stats` shows none
      const err = e as NodeJS.ErrnoException;
      ctx.log.error({ err, listen: listen.text }, `metrics endpoint not started: ${err.code === 'EADDRINUSE' ? `${listen.text} is in use` : err.message}`);
      return;
    }
    const a = server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    ctx.stats.metricsUrl = `http://${host}:${a.port}/metrics`;
    ctx.log.info({ url: ctx.stats.metricsUrl, bearer_token: listen.token !== null }, 'metrics endpoint listening');
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
