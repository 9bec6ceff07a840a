import { chmodSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { userInfo } from 'node:os';
import {
  encodeFrame,
  isMethodName,
  isWireError,
  LineDecoder,
  MAX_FRAME_BYTES,
  methods,
  RequestEnvelope,
  WireError,
  type MethodName,
  type RequestId,
  type WatchItem,
} from '../protocol/index.js';
import type { DaemonContext } from './context.js';
import { handlers } from './handlers/index.js';
import type { Handler, RequestScope } from './handlers/types.js';

let connSeq = 0;

/**
 * A subscriber that stops reading must not grow the daemon: once this much is queued on its socket,
 * its subscriptions are dropped with a clear event (a watcher reconnects with its last cursor).
 */
export const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/** A feed item goes to every watcher: it is serialised once, not once per connection. */
const encodedItems = new WeakMap<object, string>();
function encodeItem(item: WatchItem): string {
  let s = encodedItems.get(item);
  if (s === undefined) encodedItems.set(item, (s = JSON.stringify(item)));
  return s;
}

/** One client connection: frames in, replies and subscription events out, on the same socket. */
class Connection {
  private readonly decoder = new LineDecoder();
  private readonly subs = new Map<string, () => void>();
  private subSeq = 0;
  private greeted = false;
  private actor: string;
  readonly id = ++connSeq;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: DaemonContext,
  ) {
    // The socket is 0600 in a 0700 dir, so the peer is this user; the hello says through which client.
    this.actor = `cli:${userInfo().username}`;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // A peer that vanishes mid-request is normal: drop its subscriptions, keep serving the others.
    socket.on('error', () => undefined);
    socket.on('close', () => this.dispose());
  }

  private onData(chunk: Buffer): void {
    for (const frame of this.decoder.push(chunk)) {
      if (frame.kind === 'oversize') {
        this.send({ id: null, error: new WireError('frame_too_large', `frame of ${frame.bytes}+ bytes is over the ${MAX_FRAME_BYTES} byte limit`).toJSON() });
        continue;
      }
      void this.onLine(frame.line);
    }
  }

  private async onLine(line: string): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      this.send({ id: null, error: new WireError('bad_json', 'frame is not valid JSON').toJSON() });
      return;
    }
    const env = RequestEnvelope.safeParse(json);
    const depth = nestedTooDeep(json);
    if (!env.success || depth) {
      const id = typeof (json as { id?: unknown })?.id === 'string' || typeof (json as { id?: unknown })?.id === 'number' ? (json as { id: RequestId }).id : null;
      const why = depth ? `frame nests deeper than ${MAX_NESTING} levels` : `not a request: ${env.error?.issues[0]?.message ?? 'bad shape'} (need {id, method, params})`;
      this.send({ id, error: new WireError('invalid_request', why).toJSON() });
      return;
    }
    const { id, method } = env.data;
    // params are never logged: they may carry secrets
    if (this.ctx.log.isLevelEnabled('debug')) this.ctx.log.debug({ conn: this.id, method }, 'request');
    try {
      const result = await this.dispatch(method, env.data.params);
      this.send({ id, result });
    } catch (e) {
      const err = toWire(e, this.ctx, method);
      this.ctx.log.debug({ conn: this.id, method, code: err.code }, 'request failed');
      this.send({ id, error: err.toJSON() });
    }
  }

  private async dispatch(method: string, rawParams: unknown): Promise<unknown> {
    if (!isMethodName(method)) throw new WireError('unknown_method', `unknown method "${method}"`);
    if (!this.greeted && method !== 'hello') throw new WireError('invalid_request', 'send hello first');
    const spec = methods[method];
    const parsed = spec.params.safeParse(rawParams ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new WireError('invalid_params', `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`);
    }
    if (method === 'hello') {
      this.greeted = true;
      const client = (parsed.data as { client: string }).client;
      this.actor = `${client}:${userInfo().username}`;
    }
    const handler = handlers[method] as Handler<MethodName>;
    return handler(parsed.data as never, this.scope());
  }

  private scope(): RequestScope {
    return {
      ctx: this.ctx,
      actor: this.actor,
      subscribe: (topic, filter) => {
        const sub = `s${this.id}.${++this.subSeq}`;
        this.subs.set(sub, this.ctx.bus.subscribe(topic, filter, (event, data) => this.push(sub, event, data)));
        return sub;
      },
      watch: (cursor) => this.watch(cursor),
      unsubscribe: (sub) => {
        const off = this.subs.get(sub);
        if (!off) return false;
        off();
        this.subs.delete(sub);
        return true;
      },
    };
  }

  /** A subscription frame, unless the peer has stopped reading (then the subscription ends). */
  private push(sub: string, event: string, data: unknown, cursor?: number): boolean {
    if (!this.subs.has(sub)) return false;
    if (this.socket.writableLength > MAX_QUEUED_BYTES) {
      this.subs.get(sub)?.();
      this.subs.delete(sub);
      const reason = `slow_consumer: over ${MAX_QUEUED_BYTES >> 20} MiB of events waited unread on this connection; the subscription was ended`;
      this.ctx.log.warn({ conn: this.id, sub }, 'dropped a subscription whose client stopped reading');
      this.send({ event: cursor === undefined ? 'subscription.dropped' : 'watch.dropped', sub, data: { reason, cursor: cursor ?? 0 } });
      return false;
    }
    if (event === 'watch') this.sendRaw(`{"event":"watch","sub":${JSON.stringify(sub)},"data":${encodeItem(data as WatchItem)}}\n`);
    else this.send({ event, sub, data });
    return true;
  }

  private sendRaw(frame: string): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    this.socket.write(frame);
  }

  private async watch(from: number | undefined): Promise<{ sub: string; cursor: number }> {
    const feed = this.ctx.feed;
    if (from !== undefined && from > feed.head) throw new WireError('invalid_params', `cursor ${from} is ahead of this daemon's feed (at ${feed.head}): its data was reset; watch again without a cursor`);
    if (from !== undefined && from + 1 < feed.oldest) throw new WireError('cursor_expired', `cursor ${from} is older than the retained feed (from ${feed.oldest}); watch again without a cursor for a fresh snapshot`);
    const sub = `s${this.id}.${++this.subSeq}`;
    let last = from ?? feed.head;
    let replaying = from !== undefined;
    const buffered: WatchItem[] = [];
    const emit = (item: WatchItem): void => {
      if (item.cursor <= last) return; // already sent (replayed, then published)
      if (this.push(sub, 'watch', item, last)) last = item.cursor;
    };
    this.subs.set(
      sub,
      feed.onPublish((item) => (replaying ? buffered.push(item) : emit(item))),
    );
    while (replaying && this.subs.has(sub)) {
      const page = await feed.replay(last, 500);
      for (const item of page) emit(item);
      if (page.length < 500) break;
    }
    replaying = false;
    for (const item of buffered) emit(item);
    return { sub, cursor: from === undefined ? last : last };
  }

  send(msg: unknown): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    this.socket.write(encodeFrame(msg));
  }

  dispose(): void {
    for (const off of this.subs.values()) off();
    this.subs.clear();
  }

  close(): void {
    this.dispose();
    this.socket.end();
    this.socket.destroySoon?.();
  }
}

/**
 * Deeper than any real request: a value nested thousands of levels deep parses, but overflows the
 * stack of whatever walks it next (schema checks, the store's encoder), so it is refused here.
 */
export const MAX_NESTING = 100;

/** Iterative, so the check itself cannot overflow. */
function nestedTooDeep(root: unknown): boolean {
  const stack: [unknown, number][] = [[root, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d >= MAX_NESTING) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, d + 1]);
  }
  return false;
}

function toWire(e: unknown, ctx: DaemonContext, method: string): WireError {
  if (isWireError(e)) return e instanceof WireError ? e : WireError.fromJSON(e as never);
  ctx.log.error({ err: e, method }, 'request failed');
  return new WireError('internal', `internal error: ${(e as Error)?.message ?? String(e)} (details in the daemon log)`);
}

/** The protocol edge: every frame is parsed here and nowhere else. */
export class SocketServer {
  private server: Server | null = null;
  private readonly conns = new Set<Connection>();

  constructor(private readonly ctx: DaemonContext) {}

  async listen(path: string): Promise<void> {
    const server = createServer((socket) => {
      const conn = new Connection(socket, this.ctx);
      this.conns.add(conn);
      socket.on('close', () => this.conns.delete(conn));
    });
    // umask covers the window between bind and chmod: the socket is never more open than 0600.
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(old);
    }
    chmodSync(path, 0o600);
    server.on('error', (err) => this.ctx.log.error({ err }, 'socket server error'));
    this.server = server;
  }

  get connections(): number {
    return this.conns.size;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.conns) c.close();
    await closed;
  }
}
