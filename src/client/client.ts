import { connect, type Socket } from 'node:net';
import { resolvePaths, type Paths } from '../config/paths.js';
// Only zod-free protocol modules at run time: this file is on every CLI call's path. The zod
// schemas (protocol/index.js) are imported as types, or loaded lazily when replies are validated.
import { encodeFrame, LineDecoder } from '../protocol/framing.js';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../protocol/version.js';
import { WireError } from '../protocol/wire-error.js';
import type { ClientKind, EventTopic, HelloResult, MethodName, methods, ParamsIn, Result, WatchItem } from '../protocol/index.js';
import type { z } from 'zod';
import { LocalError } from './errors.js';
import { readFrame, readHello } from './frames.js';
import { pidAlive, removeStaleSocket, spawnDaemon, waitForSocket } from './spawn-daemon.js';

export interface ConnectOptions {
  env?: NodeJS.ProcessEnv;
  /** Start the daemon when none answers (default true). */
  autoStart?: boolean;
  client?: z.infer<typeof ClientKind>;
  /** Accept a daemon of another version (used by `daemon stop` and `daemon status`). */
  allowMismatch?: boolean;
  startTimeoutMs?: number;
  /**
   * Check every result against its method's zod schema. Default: on for long-lived clients (TUI,
   * Slack, tests, bench), off for the CLI (`client: 'cli'`, the default kind). Deliberate trade-off:
   * a CLI call lives for one or two requests and talks only to a daemon of exactly its own package
   * version (hello checks it), so that daemon's handlers were typed against the very same schemas;
   * loading zod to re-check them would cost more than the rest of the call (`opstream status` has
   * a budget of 2x `node -e 0`). Frames and the hello reply are still checked by hand
   * (./frames.ts), and validation switches on by itself when a daemon of another version is accepted
   * (`allowMismatch`). The daemon's own edge parses every incoming frame with zod regardless.
   */
  validateResults?: boolean;
}

type ResultSchemas = typeof methods;

type EventHandler = (event: string, data: unknown) => void;

interface PendingRequest {
  method: MethodName;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

function socketConnect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** A connection to the per-user daemon: requests by id, plus events on subscriptions. */
export class DaemonClient {
  private readonly decoder = new LineDecoder(64 * 1024 * 1024);
  private readonly pending = new Map<string, PendingRequest>();
  private readonly subs = new Map<string, EventHandler>();
  /** Events that arrived before their subscribe reply (the daemon may push first). */
  private readonly early = new Map<string, [string, unknown][]>();
  private seq = 0;
  private closedError: LocalError | null = null;
  /** Set when results are validated; loaded lazily so that the CLI never imports zod. */
  private schemas: ResultSchemas | null = null;
  hello!: HelloResult;

  private constructor(
    private readonly socket: Socket,
    readonly paths: Paths,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose());
  }

  /** Connects, starting the daemon or clearing a stale socket when needed, and says hello. */
  static async connect(opts: ConnectOptions = {}): Promise<DaemonClient> {
    const env = opts.env ?? process.env;
    const paths = resolvePaths(env);
    const autoStart = opts.autoStart ?? true;
    const timeout = opts.startTimeoutMs ?? 20_000;
    const schemas = (opts.validateResults ?? (opts.client ?? 'cli') !== 'cli') ? await loadSchemas() : null;
    for (let attempt = 0; ; attempt++) {
      let socket: Socket;
      try {
        socket = await socketConnect(paths.socket);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw new LocalError(`cannot reach the daemon at ${paths.socket}: ${(e as Error).message}`);
        if (code === 'ECONNREFUSED') removeStaleSocket(paths);
        if (!autoStart) throw new LocalError(`the daemon is not running (no answer on ${paths.socket}); start it with: opstream daemon start`, { exitCode: 1 });
        if (attempt >= 3) throw new LocalError(`could not reach the daemon at ${paths.socket} after starting it`, { retryable: true });
        const out = await spawnDaemon(paths, env);
        if (out.kind === 'already') await waitForSocket(paths.socket, timeout);
        continue;
      }
      const client = new DaemonClient(socket, paths);
      client.schemas = schemas;
      client.hello = await client.request('hello', { protocol: PROTOCOL_VERSION, version: PACKAGE_VERSION, client: opts.client ?? 'cli' });
      const matches = client.hello.protocol === PROTOCOL_VERSION && client.hello.version === PACKAGE_VERSION;
      if (matches) return client;
      if (opts.allowMismatch) {
        // Another version's replies are not ours by construction: check them.
        client.schemas ??= await loadSchemas();
        return client;
      }
      await client.replaceMismatchedDaemon();
      if (!autoStart) throw new LocalError('the daemon was restarted for a version change; run the command again', { retryable: true });
    }
  }

  /** An idle daemon of another version is stopped so a matching one can start; a busy one is left alone. */
  private async replaceMismatchedDaemon(): Promise<void> {
    const h = this.hello;
    const what = `the running daemon is version ${h.version} (protocol ${h.protocol}); this CLI is ${PACKAGE_VERSION} (protocol ${PROTOCOL_VERSION})`;
    if (h.active_runs > 0) {
      this.close();
      throw new LocalError(`${what} and it has ${h.active_runs} active run(s). Runs are durable: run \`opstream daemon stop\` and then repeat this command, and they resume in the new daemon`, { exitCode: 1 });
    }
    await this.request('daemon.shutdown', { reason: `replaced by CLI ${PACKAGE_VERSION}` }).catch(() => undefined);
    this.close();
    await waitForExit(h.pid, 15_000);
  }

  request<M extends MethodName>(method: M, params: ParamsIn<M>): Promise<Result<M>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = `c${++this.seq}`;
    return new Promise<Result<M>>((resolve, reject) => {
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(encodeFrame({ id, method, params }));
    });
  }

  /** Subscribes to a bus topic; events for it are handed to `onEvent` until `unsubscribe` or close. */
  async subscribe(topic: EventTopic, filter: Record<string, string> | undefined, onEvent: EventHandler): Promise<string> {
    const { sub } = await this.request('subscribe', { topic, filter });
    this.subs.set(sub, onEvent);
    for (const [event, data] of this.early.get(sub) ?? []) onEvent(event, data);
    this.early.delete(sub);
    return sub;
  }

  /**
   * `runs.watch`: the active runs and a cursor, then every feed item after it to `onItem`, in order.
   * Pass the last cursor seen to resume after a reconnect (no gap, no repeat).
   */
  async watch(opts: { cursor?: number; snapshot?: boolean; states?: boolean }, onItem: (item: WatchItem) => void, onDropped?: (reason: string, cursor: number) => void): Promise<Result<'runs.watch'>> {
    let sub: string | null = null;
    const WatchItemSchema = (await import('../protocol/events.js')).WatchItem;
    const handler: EventHandler = (event, data) => {
      if (event === 'watch') {
        // the socket edge: a pushed item is a typed run event (or notification) or it is dropped
        const item = WatchItemSchema.safeParse(data);
        if (item.success) onItem(item.data);
      }
      else if (event === 'watch.dropped') onDropped?.((data as { reason: string }).reason, (data as { cursor: number }).cursor);
    };
    // frames of a replay arrive before the reply: the early-event buffer holds them by sub id
    const res = await this.request('runs.watch', opts);
    sub = res.sub;
    this.subs.set(sub, handler);
    for (const [event, data] of this.early.get(sub) ?? []) handler(event, data);
    this.early.delete(sub);
    return res;
  }

  // Order matters: `closed` must be initialised after `onClosed` so it can replace it.
  private onClosed: () => void = () => undefined;
  /** Resolves when the daemon closes this connection (e.g. it stopped). */
  readonly closed: Promise<void> = new Promise((resolve) => {
    this.onClosed = resolve;
  });

  private onData(chunk: Buffer): void {
    for (const frame of this.decoder.push(chunk)) {
      if (frame.kind === 'oversize') continue;
      let msg;
      try {
        msg = readFrame(JSON.parse(frame.line));
      } catch {
        continue;
      }
      if (!msg) continue;
      if (msg.kind === 'event') {
        const handler = this.subs.get(msg.sub);
        if (handler) handler(msg.event, msg.data);
        else {
          const list = this.early.get(msg.sub) ?? [];
          list.push([msg.event, msg.data]);
          this.early.set(msg.sub, list);
        }
        continue;
      }
      if (msg.id === null) continue;
      const p = this.pending.get(String(msg.id));
      if (!p) continue;
      this.pending.delete(String(msg.id));
      if (msg.kind === 'error') {
        p.reject(WireError.fromJSON(msg.error));
        continue;
      }
      // The client is an edge too: what the daemon sent is checked against the method's schema
      // (or, for a CLI call to a daemon of its own version, only by hand: see `validateResults`).
      if (this.schemas) {
        const parsed = this.schemas[p.method].result.safeParse(msg.result);
        if (parsed.success) p.resolve(parsed.data);
        else p.reject(new LocalError(`the daemon's reply to ${p.method} did not match the protocol: ${parsed.error.issues[0]?.message}`));
      } else if (p.method === 'hello') {
        const hello = readHello(msg.result);
        if (hello) p.resolve(hello);
        else p.reject(new LocalError(`the daemon's reply to hello did not match the protocol`));
      } else p.resolve(msg.result);
    }
  }

  private onClose(): void {
    this.closedError ??= new LocalError('the connection to the daemon closed', { retryable: true });
    for (const p of this.pending.values()) p.reject(this.closedError);
    this.pending.clear();
    this.onClosed();
  }

  close(): void {
    this.closedError ??= new LocalError('the client closed the connection');
    this.socket.end();
    this.socket.destroy();
  }
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  while (pidAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
  return true;
}

/** The zod schemas of every method's result (and zod itself): only for clients that validate. */
async function loadSchemas(): Promise<ResultSchemas> {
  return (await import('../protocol/methods/index.js')).methods;
}

export { resolvePaths };
