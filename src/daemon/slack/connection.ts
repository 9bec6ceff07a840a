import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { LogLevel, SocketModeClient, type Logger as SlackLogger } from '@slack/socket-mode';
import type { Logger } from 'pino';
import { fatalText, FATAL_ERRORS } from './tokens.js';
import { platformCode } from './web.js';

export type ConnectionState = 'starting' | 'connecting' | 'connected' | 'reconnecting' | 'stopped' | 'failed';

/** One Socket Mode envelope, already acked. */
export interface Envelope {
  type: string;
  envelope_id: string;
  body: Record<string, unknown>;
  retry_num?: number;
  retry_reason?: string;
  /** Date.now() when it arrived (before the ack). */
  received_at: number;
}

type SlackEvent = { ack: (p?: Record<string, unknown>) => Promise<void>; envelope_id: string; type: string; body: Record<string, unknown>; retry_num?: number; retry_reason?: string };

export interface ConnectionOptions {
  appToken: string;
  apiUrl: string;
  /** A pong must come back within this; also the base of the reconnect backoff. */
  pingTimeoutMs: number;
  /** No inbound frame for this long: the connection is dead even if TCP says otherwise. */
  idleTimeoutMs: number;
  /** Per apps.connections.open call. */
  requestTimeoutMs: number;
  log: Logger;
  /** Called after the ack was sent; must not block (work goes on after it returns). */
  onEnvelope(env: Envelope): void;
  /** For an envelope that must survive a crash after its ack: records it (resolves once durable), else null. */
  hold?(env: Envelope): Promise<void> | null;
  /** The app token was refused for good: the bridge stops (the daemon stays up). */
  onFatal(message: string): void;
  /** After each hello. */
  onConnected?(): void;
}

const PING_CHANNELS = ['undici:websocket:ping', 'undici:websocket:pong'];

/**
 * The Socket Mode connection, kept up across everything Slack does to it: `disconnect` frames
 * (warning, refresh_requested, link_disabled, too_many_websockets), dropped TCP, and a silent
 * connection that still looks open (the idle watchdog: no frame at all, pongs included, for
 * `idleTimeoutMs`). The official client runs with its own reconnects off: @slack/socket-mode 3.1
 * waits pingTimeout x failures before reconnecting, retries refused tokens forever and can reject
 * its internal start() unhandled; here every (re)connect is one awaited `start()` in one loop, with
 * a short backoff, and refused tokens stop it.
 *
 * Every envelope is acked before anything else happens to it (Slack wants the ack within 3 s and
 * re-sends otherwise); the work goes on after.
 */
export class SocketConnection {
  state: ConnectionState = 'starting';
  lastInboundAt: number | null = null;
  reconnects = 0;
  lastDisconnect: string | null = null;
  error: string | null = null;
  private readonly client: SocketModeClient;
  private stopping = false;
  private everConnected = false;
  private loop: Promise<void> | null = null;
  private wakeLoop: (() => void) | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private readonly onFrame = (): void => {
    this.lastInboundAt = Date.now();
  };

  constructor(private readonly o: ConnectionOptions) {
    this.client = new SocketModeClient({
      appToken: o.appToken,
      logger: this.clientLogger(),
      autoReconnectEnabled: false,
      clientPingTimeout: o.pingTimeoutMs,
      // only armed once Slack pings; generous, a busy laptop answers late
      serverPingTimeout: Math.max(30_000, o.pingTimeoutMs * 4),
      clientOptions: { slackApiUrl: o.apiUrl, retryConfig: { retries: 0 }, timeout: o.requestTimeoutMs },
    });
    this.client.on('ws_message', (data: unknown) => {
      this.onFrame();
      this.noteDisconnect(data);
      this.ackMalformedEvent(data);
    });
    // The client also emits each events_api envelope under its event's own type: an event typed
    // "connected" or "disconnected" must not move our state (the real ones carry no envelope).
    const fromEnvelope = (arg: unknown): boolean => typeof arg === 'object' && arg !== null && 'envelope_id' in arg;
    this.client.on('connected', (arg?: unknown) => {
      if (fromEnvelope(arg)) return;
      this.state = 'connected';
      this.everConnected = true;
      this.lastInboundAt = Date.now();
      this.o.log.info({ reconnects: this.reconnects }, 'slack: connected (Socket Mode)');
      this.o.onConnected?.();
    });
    this.client.on('disconnected', (arg?: unknown) => {
      if (fromEnvelope(arg)) return;
      if (this.stopping || this.state !== 'connected') return;
      this.reconnects++;
      this.state = 'reconnecting';
      this.o.log.info({ reason: this.lastDisconnect }, 'slack: connection closed; reconnecting');
      this.kickLoop();
    });
    this.client.on('error', (err: unknown) => this.o.log.debug({ err }, 'slack: websocket error'));
    this.client.on('slack_event', (e: SlackEvent) => void this.receive(e));
  }

  /**
   * Ack first (Slack allows 3 s; the work may take longer), except that an envelope the bridge
   * must not lose (a click, a slash command) is recorded before its ack, so a daemon killed
   * between the ack and the work does it on its next start instead of dropping it.
   */
  private async receive(e: SlackEvent): Promise<void> {
    const env: Envelope = { type: e.type, envelope_id: e.envelope_id, body: e.body ?? {}, retry_num: e.retry_num, retry_reason: e.retry_reason, received_at: Date.now() };
    const held = this.o.hold?.(env);
    if (held) {
      // a store that cannot record in 2 s must not cost the ack: then it is acked unrecorded
      const recorded = await Promise.race([
        held.then(
          () => true,
          (err: unknown) => {
            this.o.log.warn({ err, envelope: e.envelope_id }, 'slack: could not record an envelope before its ack');
            return false;
          },
        ),
        delay(2000).then(() => false),
      ]);
      if (!recorded) this.o.log.warn({ envelope: e.envelope_id }, 'slack: envelope acked without a record (a crash now would lose it)');
    }
    // duplicates are acked too: the inbound side drops them
    e.ack().catch((err: unknown) => this.o.log.warn({ err, envelope: e.envelope_id }, 'slack: could not ack an envelope (Slack will re-send it)'));
    try {
      this.o.onEnvelope(env);
    } catch (err) {
      this.o.log.error({ err }, 'slack: envelope handler failed');
    }
  }

  /** Starts connecting in the background; `state` says how it goes. */
  start(): void {
    for (const c of PING_CHANNELS) subscribe(c, this.onFrame);
    const every = Math.max(200, Math.min(5000, Math.floor(this.o.idleTimeoutMs / 4)));
    this.watchdog = setInterval(() => this.checkIdle(), every);
    this.watchdog.unref();
    this.kickLoop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.watchdog) clearInterval(this.watchdog);
    for (const c of PING_CHANNELS) unsubscribe(c, this.onFrame);
    this.wakeLoop?.();
    await this.forceClose();
    // a start() in flight may still connect: the loop closes it again when it returns
    if (this.loop) await Promise.race([this.loop, delay(5000)]);
    if (this.state !== 'failed') this.state = 'stopped';
  }

  private kickLoop(): void {
    if (this.loop || this.stopping) return;
    this.loop = this.connectLoop().finally(() => {
      this.loop = null;
    });
  }

  private async connectLoop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      this.state = this.everConnected ? 'reconnecting' : 'connecting';
      try {
        await withTimeout(this.client.start(), Math.max(10_000, this.o.pingTimeoutMs * 2), () => void this.forceClose());
        if (this.stopping) {
          await this.forceClose();
          return;
        }
        return;
      } catch (e) {
        if (this.stopping) return;
        const code = platformCode(e);
        if (code && FATAL_ERRORS.has(code)) {
          this.fail(fatalText(code, 'app'));
          return;
        }
        failures++;
        // Slack recycles connections routinely: the first retry is quick, then back off
        const wait = Math.min(30_000, 250 * 2 ** Math.min(failures - 1, 8));
        this.o.log.info({ err: e instanceof Error ? e.message : String(e ?? 'closed before hello'), retry_in_ms: wait }, 'slack: could not connect; retrying');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          this.wakeLoop = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wakeLoop = null;
      }
    }
  }

  private fail(message: string): void {
    this.state = 'failed';
    this.error = message;
    this.o.log.error({ error: message }, 'slack: the bridge stopped');
    this.stopping = true;
    void this.forceClose();
    this.o.onFatal(message);
  }

  /** A dead connection can look alive: nothing inbound (not even a pong) for idleTimeoutMs. */
  private checkIdle(): void {
    if (this.state !== 'connected' || this.lastInboundAt === null) return;
    const idle = Date.now() - this.lastInboundAt;
    if (idle <= this.o.idleTimeoutMs) return;
    this.lastDisconnect = 'idle watchdog';
    this.o.log.warn({ idle_ms: idle }, 'slack: no frame from Slack for too long; reconnecting');
    void this.forceClose();
  }

  /**
   * Closes the current socket at once. The client's disconnect() sends a close frame and waits up
   * to 30 s for the answer a dead peer never sends; a second call while it is closing tears it down.
   */
  private async forceClose(): Promise<void> {
    const first = this.client.disconnect().catch(() => undefined);
    const done = await Promise.race([first.then(() => true), delay(1000).then(() => false)]);
    if (!done) await Promise.race([this.client.disconnect().catch(() => undefined), delay(1000)]);
  }

  /**
   * The client reads `payload.event.type` of every events_api envelope before it acks, and throws
   * (unacked, so Slack re-sends it) when there is no event: those are acked here and dropped.
   */
  private ackMalformedEvent(data: unknown): void {
    if (typeof data !== 'string' || !data.includes('"events_api"')) return;
    let f: { type?: unknown; envelope_id?: unknown; payload?: { event?: { type?: unknown } } };
    try {
      f = JSON.parse(data) as typeof f;
    } catch {
      return;
    }
    if (f?.type !== 'events_api' || typeof f.envelope_id !== 'string') return;
    const ev = f.payload?.event;
    if (typeof ev === 'object' && ev !== null) return;
    this.o.log.warn({ envelope: f.envelope_id }, 'slack: an events_api envelope without an event; acked and ignored');
    const send = (this.client as unknown as { send?: (id: string, payload?: unknown) => Promise<void> }).send;
    void send?.call(this.client, f.envelope_id).catch(() => undefined);
  }

  private noteDisconnect(data: unknown): void {
    if (typeof data !== 'string' || !data.includes('"disconnect"')) return;
    try {
      const f = JSON.parse(data) as { type?: string; reason?: string };
      if (f.type === 'disconnect') this.lastDisconnect = f.reason ?? 'disconnect';
    } catch {
      // not JSON: the client ignores it too
    }
  }

  /** The client's own log lines, at debug, except the ones that explain a reconnect. */
  private clientLogger(): SlackLogger {
    let level = LogLevel.INFO;
    const log = this.o.log;
    const line = (m: unknown[]): string => m.map(String).join(' ');
    return {
      debug: () => undefined,
      info: (...m: unknown[]) => log.debug(line(m)),
      warn: (...m: unknown[]) => {
        const text = line(m);
        if (text.includes("pong wasn't received")) this.lastDisconnect = 'pong timeout';
        else if (text.includes("ping wasn't received")) this.lastDisconnect = 'server ping timeout';
        log.info(`slack client: ${text}`);
      },
      error: (...m: unknown[]) => log.debug(`slack client: ${line(m)}`),
      setLevel: (l: LogLevel) => {
        level = l;
      },
      getLevel: () => level,
      setName: () => undefined,
    };
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** `p`, or a rejection after `ms` (calling `onTimeout` first so `p` settles too). */
function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timer = new Promise<never>((_r, reject) => {
    t = setTimeout(() => {
      onTimeout();
      reject(new Error(`no hello from Slack within ${ms} ms`));
    }, ms);
  });
  p.catch(() => undefined);
  return Promise.race([p, timer]).finally(() => clearTimeout(t));
}
