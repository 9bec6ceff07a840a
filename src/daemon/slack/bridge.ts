import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { CompiledSlack } from '../../config/load.js';
import { WireError, type Notification, type Result, type SlackConnectionStatus } from '../../protocol/index.js';
import type { Service } from '../context.js';
import type { ChatServices } from '../chat/services.js';
import type { StoreOp } from '../store/store.js';
import { SlackChannel } from './channel.js';
import type { CommandDeps } from './commands.js';
import { SocketConnection, type Envelope } from './connection.js';
import { Inbound } from './inbound.js';
import { appManifest } from './manifest.js';
import { PrefsStore } from './prefs.js';
import { Responder } from './respond.js';
import { RunThreads } from './threads.js';
import { fatalText, tokenProblem } from './tokens.js';
import { platformCode, webClient } from './web.js';

/**
 * The Slack bridge: a channel of the notifier (outbound, through the durable outbox) plus the
 * inbound command path over Socket Mode. It runs when `slack.app_token` and `slack.bot_token` are
 * configured; tokens of the wrong kind are refused before anything is sent, and a token Slack
 * refuses stops the bridge with a clear error while the daemon stays up (`opstream status`).
 *
 * Two services, because the notifier and the engine sit between them in the start order:
 * `outbound` registers the Slack channel before the notifier starts (so pending Slack deliveries
 * resume into it), the bridge itself connects after the engine (so commands reach a running engine).
 */
export class SlackBridge implements Service {
  readonly name = 'slack';
  readonly cfg: CompiledSlack;
  private readonly log: Logger;
  private web!: WebClient;
  private threads!: RunThreads;
  private prefs!: PrefsStore;
  private conn: SocketConnection | null = null;
  private inbound: Inbound | null = null;
  private problem: string | null;
  private fatalError: string | null = null;
  private botUser: string | null = null;
  private team: string | null = null;
  private offFeed: (() => void) | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Ack-to-handled times and counts, for the benchmark. */
  readonly figures = { envelopes: 0 };

  constructor(
    private readonly services: ChatServices,
    cfg: CompiledSlack,
    log: Logger,
  ) {
    this.cfg = cfg;
    this.log = log;
    this.problem = tokenProblem(cfg);
  }


  /** Registers the Slack channel with the notifier and loads what the bridge stored. */
  readonly outbound: Service = {
    name: 'slack-outbound',
    start: async () => {
      // registered even with unusable tokens: pending Slack deliveries wait (retrying slowly) for a
      // fixed config instead of being given up on
      if (this.problem) this.log.error({ error: this.problem }, 'slack: not started');
      this.web = webClient(this.cfg, this.log);
      this.threads = new RunThreads(this.services, this.web, this.log, this.cfg.updateIntervalMs);
      this.prefs = new PrefsStore(this.services);
      await this.threads.load();
      await this.prefs.load();
      this.services.notifier.register(
        new SlackChannel({
          services: this.services,
          cfg: this.cfg,
          web: this.web,
          threads: this.threads,
          prefs: this.prefs,
          log: this.log,
          fatal: () => this.problem ?? this.fatalError,
          onFatal: (m) => this.fail(m),
        }),
      );
    },
    stop: async () => {
      await this.threads?.stop();
    },
  };

  /**
   * Clicks and slash commands recorded before their ack whose work a crash cut off: done now, as
   * if they had just arrived (each is checked against the run's state again, so one that did
   * happen after all is answered "already decided", not done twice).
   */
  private async replayHeld(): Promise<void> {
    const rows = (await this.services.repos.chat.slackInbox.entries()) as [string, Envelope][];
    if (rows.length === 0) return;
    this.log.info({ envelopes: rows.length }, 'slack: doing the clicks and commands a restart interrupted');
    for (const [, env] of rows) this.inbound?.handle({ ...env, received_at: Date.now() });
  }

  async start(): Promise<void> {
    if (this.problem) return;
    // the bot token first: a refused one stops the bridge before it listens to anything
    if (!(await this.whoAmI())) return;
    const responder = new Responder(this.web, this.log);
    const commands: CommandDeps = {
      services: this.services,
      cfg: this.cfg,
      prefs: this.prefs,
      web: this.web,
      log: this.log,
      status: () => this.status(),
      whereFor: (user) => this.whereFor(user),
    };
    this.inbound = new Inbound({
      services: this.services,
      cfg: this.cfg,
      web: this.web,
      threads: this.threads,
      log: this.log,
      responder,
      commands,
      botUserId: () => this.botUser,
      onHandled: (env) => {
        this.figures.envelopes++;
        if (HELD.has(env.type)) void this.services.store.commit([this.services.repos.chat.slackInbox.delOp(env.envelope_id)]).catch((err: unknown) => this.log.warn({ err }, 'slack: could not clear a handled envelope'));
      },
    });
    await this.replayHeld();
    this.offFeed = this.services.feed.onPublish((item) => this.threads.onFeed(item));
    this.conn = new SocketConnection({
      appToken: this.cfg.app_token ?? '',
      apiUrl: this.cfg.api_url ?? 'https://slack.com/api/',
      pingTimeoutMs: this.cfg.pingTimeoutMs,
      idleTimeoutMs: this.cfg.idleTimeoutMs,
      requestTimeoutMs: this.cfg.timeoutMs,
      log: this.log,
      onEnvelope: (env) => this.inbound?.handle(env),
      hold: (env) => (HELD.has(env.type) ? this.services.store.commit([this.services.repos.chat.slackInbox.putOp(env.envelope_id, heldValue(env))]) : null),
      onFatal: (m) => this.fail(m),
      // Slack unreachable at start: the bot's own user id (to ignore its messages) is learned now
      onConnected: () => void (this.botUser ? undefined : this.whoAmI()),
    });
    this.conn.start();
    this.sweepTimer = setInterval(() => void this.sweep(), 3_600_000);
    this.sweepTimer.unref();
    void this.sweep();
    void this.threads.reconcile().catch((err: unknown) => this.log.warn({ err }, 'slack: could not bring run threads up to date'));
  }

  /** auth.test with the bot token; false when Slack refused it (the bridge is then stopped). */
  private async whoAmI(): Promise<boolean> {
    try {
      const auth = await this.web.auth.test();
      this.botUser = (auth.user_id as string | undefined) ?? null;
      this.team = (auth.team as string | undefined) ?? null;
      return true;
    } catch (e) {
      const code = platformCode(e);
      if (code && ['invalid_auth', 'not_authed', 'token_revoked', 'account_inactive', 'not_allowed_token_type'].includes(code)) {
        this.fail(fatalText(code, 'bot'));
        return false;
      }
      this.log.warn({ err: (e as Error).message }, 'slack: auth.test failed; going on (the bot user id is learned once connected)');
      return true;
    }
  }

  /**
   * Bookkeeping that outlives its use: delivery markers of notifications past `notify.retention`
   * (their outbox entries are gone by then) and redelivery guards of commands older than a day.
   * Run threads stay: a question in an old run's thread still finds its run.
   */
  private async sweep(): Promise<void> {
    const ctx = this.services;
    try {
      const keep = ctx.config.notify.retentionMs;
      const cutoff = String(Date.now() - (keep ?? Date.now())).padStart(15, '0');
      const ops: StoreOp[] = [];
      // no notifications rule: their markers are kept like the notifications themselves
      const chat = ctx.repos.chat;
      for (const table of keep === null ? [] : [chat.batchedOf('slack'), chat.slackSent]) {
        for (const [id] of await table.entries('', cutoff)) ops.push(table.delOp(id));
      }
      const day = Date.now() - 86_400_000;
      for (const [id, v] of await chat.slackCommands.entries()) if (!v.at || Date.parse(v.at) < day) ops.push(chat.slackCommands.delOp(id));
      if (ops.length) await ctx.store.commit(ops);
    } catch (err) {
      this.log.warn({ err }, 'slack: bookkeeping sweep failed');
    }
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.offFeed?.();
    await this.conn?.stop();
    await this.inbound?.stop();
  }

  /** Stops the bridge for good (until the config is fixed); the daemon and other channels go on. */
  private fail(message: string): void {
    if (this.fatalError) return;
    this.fatalError = message;
    this.log.error({ error: message }, 'slack: the bridge stopped');
    void this.conn?.stop();
  }

  status(): SlackConnectionStatus {
    const error = this.problem ?? this.fatalError ?? this.conn?.error ?? null;
    const c = this.conn;
    return {
      state: error ? 'failed' : c ? c.state : 'starting',
      last_message_at: c?.lastInboundAt ? new Date(c.lastInboundAt).toISOString() : null,
      reconnects: c?.reconnects ?? 0,
      error,
      last_disconnect: c?.lastDisconnect ?? null,
      team: this.team,
      bot_user: this.botUser,
    };
  }

  /** Where runs started by `user` report, in words for a reply. */
  private whereFor(user: string): string {
    const p = this.prefs.get(user);
    const ch = this.cfg.channels?.default;
    if (p.deliver === 'dm' || !ch) return 'in a DM to you';
    return `in a thread in ${/^[CG][A-Z0-9]+$/.test(ch) ? `<#${ch}>` : ch}`;
  }

  manifest(): Result<'slack.manifest'> {
    return { manifest: appManifest(this.cfg) };
  }

  /** `opstream slack test`: a DM through the outbox, answered with Slack's receipt (or why not). */
  async test(p: { user?: string; timeout_ms: number }, actor: string): Promise<Result<'slack.test'>> {
    const why = this.problem ?? this.fatalError;
    if (why) throw new WireError('unavailable', `the Slack bridge is not running: ${why}`);
    const user = p.user ?? Object.entries(this.cfg.users ?? {}).find(([, r]) => r === 'admin')?.[0];
    if (!user) throw new WireError('invalid_params', 'say whom to DM: opstream slack test --user U0123ABCD (or list an admin under slack.users)');
    const ctx = this.services;
    let resolveDone!: (v: Notification['channels'][string]) => void;
    const done = new Promise<Notification['channels'][string]>((r) => (resolveDone = r));
    let id = '';
    const early: { id: string; channel: string; delivery: Notification['channels'][string] }[] = [];
    const off = ctx.bus.subscribe('notifications', undefined, (event, data) => {
      const dd = data as { id: string; channel: string; delivery: Notification['channels'][string] };
      if (event !== 'delivery' || dd.channel !== 'slack') return;
      if (!id) early.push(dd);
      else if (dd.id === id && dd.delivery.state !== 'pending') resolveDone(dd.delivery);
    });
    try {
      const n = await ctx.notifier.send({ kind: 'test', level: 'info', title: 'OpStream test message', text: `If you can read this, OpStream can reach you on Slack. Sent by ${actor} with \`opstream slack test\`.`, channel: user });
      id = n.id;
      if (!n.channels.slack) throw new WireError('unavailable', 'the notifier did not route the test to Slack (is the bridge running?)');
      const hit = early.find((e) => e.id === id && e.delivery.state !== 'pending');
      if (hit) resolveDone(hit.delivery);
      const t = new Promise<null>((r) => setTimeout(() => r(null), p.timeout_ms).unref());
      const st = await Promise.race([done, t]);
      await ctx.store.commit([], { actor, action: 'slack.test', target: `slack:${user}` });
      return { notification: n.id, to: user, state: st?.state ?? 'pending', receipt: st?.receipt ?? null, error: st?.last_error ?? (st ? null : `no answer from Slack within ${p.timeout_ms} ms (still pending in the outbox)`) };
    } finally {
      off();
    }
  }
}

/** Envelopes recorded before their ack (see SocketConnection.receive): people's clicks and commands. */
const HELD = new Set(['interactive', 'slash_commands']);

/** What is kept of an envelope: what the handlers read, without Slack's (deprecated) verification token. */
function heldValue(env: Envelope): Envelope {
  const { token: _token, ...body } = env.body;
  return { type: env.type, envelope_id: env.envelope_id, body, received_at: env.received_at };
}
