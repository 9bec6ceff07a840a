import { connect, type Socket } from 'node:net';
import { parseDuration } from '../config/duration.js';
import { resolvePaths, socketDirProblem, type Paths } from '../config/paths.js';
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
   * How long to wait for each reply, in ms (0: no limit). Default: OPSTREAM_TIMEOUT, else 30 s for
   * the CLI and the dashboard (the methods that do long work on purpose, such as `runs.ask`, get
   * more unless a limit was given) and no limit for other clients (tests, bench).
   * Subscriptions and `runs.watch` feeds are not limited: only their first reply is.
   */
  requestTimeoutMs?: number;
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

export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/**
 * Methods that do long work on purpose get a longer default limit (never more than the user's own
 * limit when one was given). A method whose params carry `timeout_ms` (tools.call, slack.test) is
 * given that plus a grace, so the daemon's own timeout answers first, with its own message.
 */
const LONG_METHOD_MS: Partial<Record<MethodName, number>> = {
  'runs.ask': 10 * 60_000,
  'runs.replay': 30 * 60_000,
  'tools.call': 10 * 60_000,
  'slack.test': 3 * 60_000,
  'store.gc': 10 * 60_000,
  'memory.search': 2 * 60_000,
};
const OWN_TIMEOUT_GRACE_MS = 10_000;

/** The per-request limit from OPSTREAM_TIMEOUT ("30s", "2m", seconds; 0 = none), or null when unset. */
export function timeoutFromEnv(env: NodeJS.ProcessEnv): number | null {
  const text = env.OPSTREAM_TIMEOUT;
  if (text === undefined || text.trim() === '') return null;
  return parseTimeout(text, 'OPSTREAM_TIMEOUT');
}

/** `--timeout` / OPSTREAM_TIMEOUT text to ms; a usage error (exit 2) when it is not a duration. */
export function parseTimeout(text: string, what: string): number {
  const ms = parseDuration(text);
  if (ms === null) throw new LocalError(`${what} must be a duration such as 30s or 2m (0 waits without a limit), not "${text}"`, { exitCode: 2 });
  return ms;
}

function formatWait(ms: number): string {
  return ms < 1000 ? `${ms} ms` : ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Number((ms / 1000).toFixed(1))} s`;
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
  /** The per-request limit (ms, 0 = none) and whether the user chose it (then it binds every method). */
  private timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS;
  private timeoutExplicit = false;
  /** What the daemon this call started tightened on its way up (permissions), one line each. */
  notices: string[] = [];
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
    const chosen = opts.requestTimeoutMs ?? timeoutFromEnv(env);
    let notices: string[] = [];
    for (let attempt = 0; ; attempt++) {
      // Who may have made the socket's directory decides who answers us: a directory another user
      // owns or can write to may hold their socket, which would read our requests and approvals.
      const problem = socketDirProblem(paths.runDir);
      if (problem) throw new LocalError(problem, { exitCode: 1 });
      let socket: Socket;
      try {
        socket = await socketConnect(paths.socket);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw new LocalError(`cannot reach the daemon at ${paths.socket}: ${(e as Error).message}`);
        if (code === 'ECONNREFUSED') removeStaleSocket(paths);
        if (!autoStart) throw new LocalError(`the daemon is not running (no answer on ${paths.socket}); start it with: opstream daemon start`, { exitCode: 1 });
        if (attempt >= 3) throw new LocalError(`could not reach the daemon at ${paths.socket} after starting it`, { retryable: true });
        // a first start may index an older store (about 10 s per 100,000 runs): at least a minute
        const out = await spawnDaemon(paths, env, Math.max(60_000, opts.startTimeoutMs ?? 0, chosen ?? 0));
        if (out.kind === 'already') await waitForSocket(paths.socket, timeout);
        else notices = out.notices;
        continue;
      }
      const client = new DaemonClient(socket, paths);
      client.schemas = schemas;
      client.notices = notices;
      if (chosen !== null) {
        client.timeoutMs = chosen;
        client.timeoutExplicit = true;
      } else if (!['cli', 'tui'].includes(opts.client ?? 'cli')) {
        // programs (tests, bench) drive heavy loads on purpose and have their own deadlines
        client.timeoutMs = 0;
      }
      try {
        client.hello = await client.request('hello', { protocol: PROTOCOL_VERSION, version: PACKAGE_VERSION, client: opts.client ?? 'cli' });
      } catch (e) {
        // an open socket would keep the CLI process alive after it printed the error
        client.close();
        throw e;
      }
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

  /**
   * One request. It fails with a LocalError naming the method, the socket and the log when no reply
   * came within the limit (see `requestTimeoutMs`; `opts.timeoutMs` overrides it for this call, 0:
   * no limit); a reply that comes later is dropped.
   */
  request<M extends MethodName>(method: M, params: ParamsIn<M>, opts: { timeoutMs?: number } = {}): Promise<Result<M>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = `c${++this.seq}`;
    const limit = opts.timeoutMs ?? this.limitFor(method, params);
    return new Promise<Result<M>>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle =
        <T>(fn: (v: T) => void) =>
        (v: T): void => {
          if (timer) clearTimeout(timer);
          fn(v);
        };
      this.pending.set(id, { method, resolve: settle(resolve as (v: unknown) => void), reject: settle(reject) });
      if (limit > 0) {
        timer = setTimeout(() => {
          if (!this.pending.delete(id)) return;
          reject(
            new LocalError(`the daemon did not answer \`${method}\` within ${formatWait(limit)} (socket ${this.paths.socket}); check \`opstream daemon status\` or the log ${this.paths.logFile}`, {
              retryable: true,
            }),
          );
        }, limit);
      }
      this.socket.write(encodeFrame({ id, method, params }));
    });
  }

  private limitFor(method: MethodName, params: unknown): number {
    if (this.timeoutMs === 0) return 0;
    const own = (params as { timeout_ms?: unknown } | null)?.timeout_ms;
    if (typeof own === 'number' && own > 0) return Math.max(own + OWN_TIMEOUT_GRACE_MS, this.timeoutMs);
    if (this.timeoutExplicit) return this.timeoutMs;
    return Math.max(this.timeoutMs, LONG_METHOD_MS[method] ?? 0);
  }

  /** True when the daemon closed this connection within `ms` (after `daemon.shutdown`, say). */
  async waitClosed(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
    const closed = await Promise.race([this.closed.then(() => true as const), timedOut]);
    clearTimeout(timer);
    return closed;
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
