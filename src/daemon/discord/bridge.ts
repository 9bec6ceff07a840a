import { Client, DiscordAPIError, Events, GatewayIntentBits, InteractionResponseType, InteractionType, MessageFlags, Routes, type REST } from 'discord.js';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { CompiledDiscord } from '../../config/load.js';
import { WireError, type DiscordStatus } from '../../protocol/index.js';
import { execute, NEEDS, plainReply, refuse, type ChatCaller, type ChatCommand, type ChatDeps, type ChatOutcome, type ChatReply } from '../chat/commands.js';
import { staleApproval } from '../chat/approvals.js';
import { threadReply } from '../chat/conversation.js';
import { Dedupe } from '../chat/dedupe.js';
import { commandFromWords, mapIntent, NEUTRAL_VOCABULARY } from '../chat/intent.js';
import { allows, platformActor, roleIn } from '../chat/roles.js';
import type { Service } from '../context.js';
import type { ChatServices } from '../chat/services.js';
import { commandDefinition, parseButtonId, parseSubcommand, type InteractionOption } from './command.js';
import { replyMessage, type DiscordMessage } from './render.js';
import { DiscordChannel } from './channel.js';
import { loggingStrategy } from './gateway.js';
import { describeError, DiscordThreads, isUnknownChannel } from './threads.js';
import type { MetaTable } from '../repos/meta-table.js';

/** What the bridge reads of an INTERACTION_CREATE (parsed at the edge; anything else is skipped and logged). */
const Interaction = z.object({
  id: z.string().regex(/^\d+$/),
  token: z.string().min(1),
  type: z.number().int(),
  application_id: z.string(),
  channel_id: z.string().optional(),
  member: z.object({ user: z.object({ id: z.string().regex(/^\d+$/) }) }).optional(),
  user: z.object({ id: z.string().regex(/^\d+$/) }).optional(),
  data: z
    .object({ name: z.string().optional(), options: z.array(z.custom<InteractionOption>((v) => typeof v === 'object' && v !== null)).optional(), custom_id: z.string().optional() })
    .passthrough()
    .optional(),
});
type Interaction = z.infer<typeof Interaction>;

/** What the bridge reads of a MESSAGE_CREATE (the content is there only when the message mentions the bot). */
const Message = z.object({
  id: z.string().regex(/^\d+$/),
  channel_id: z.string().regex(/^\d+$/),
  content: z.string(),
  author: z.object({ id: z.string().regex(/^\d+$/), bot: z.boolean().optional() }),
  mentions: z.array(z.object({ id: z.string() })).optional(),
});
type Message = z.infer<typeof Message>;

/** Discord's interaction tokens (defer, edit, follow-ups) live 15 minutes. */
const TOKEN_LIFE_MS = 15 * 60_000;

/** `discord_ix:<id>`: `pending` with the interaction (its token) until answered, then `done` with the time only. */
interface IxRecord {
  at: string;
  state?: 'pending' | 'done';
  ix?: unknown;
}

/**
 * The native Discord bridge: discord.js opens the gateway (intents Guilds + GuildMessages only: the
 * bot reads interactions, not message content) and resumes it across reconnects, so interactions sent
 * while it was away are replayed; each is acted on once (interaction ids remembered in memory and in
 * the store). Interactions are acknowledged at once (a deferred response, within Discord's 3 s) and
 * answered by editing that response. Commands go through the chat-neutral layer (chat/commands.ts)
 * with the actor `discord:<user id>`. The bot token is handed to discord.js only: it never reaches a
 * log line, an audit entry or a message.
 */
export class DiscordBridge implements Service {
  readonly name = 'discord';
  private client: Client | null = null;
  private threads!: DiscordThreads;
  private readonly seen = new Dedupe();
  private offFeed: (() => void) | null = null;
  private state: DiscordStatus['state'] = 'starting';
  private error: string | null;
  private reconnects = 0;
  private lastDispatchAt: number | null = null;
  private botUser: string | null = null;
  private registered = false;
  private readonly inflight = new Set<Promise<void>>();
  /** Interactions claimed by this daemon (recorded as pending), until answered. */
  private readonly claimed = new Set<string>();
  /** Interactions a restart interrupted, being finished now -> when they were received. */
  private readonly replaying = new Map<string, number>();
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Interaction received -> deferred ack answered, per interaction (for the benchmark). */
  readonly ackLatencies: number[] = [];

  constructor(
    private readonly services: ChatServices,
    readonly cfg: CompiledDiscord,
    private readonly log: Logger,
  ) {
    this.error = cfg.token ? null : 'discord.token is not set (write it as "${DISCORD_TOKEN}" and export the bot token)';
  }

  /** Interactions and messages seen (the chat state's `discordInteractions`): each acts once. */
  private get ixRows(): MetaTable<IxRecord> {
    return this.services.repos.chat.discordInteractions as MetaTable<IxRecord>;
  }


  private rest(): REST {
    if (!this.client) throw new WireError('unavailable', 'the Discord bridge is not running');
    return this.client.rest;
  }

  /**
   * Before the notifier starts: the run threads and the notifier's Discord channel (so pending
   * Discord deliveries resume into it), with a REST client that has the token but no gateway yet.
   * Registered even without a token: pending deliveries wait (retrying slowly) for a fixed config.
   */
  readonly outbound: Service = {
    name: 'discord-outbound',
    start: async () => {
      this.threads = new DiscordThreads(this.services, () => this.rest(), this.cfg.channel, this.cfg.updateIntervalMs, this.log);
      await this.threads.load();
      if (!this.error) {
        this.client = new Client({ intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages], rest: { api: this.cfg.api_url }, ws: { buildStrategy: loggingStrategy(this.log) } });
        this.client.rest.setToken(this.cfg.token!);
      }
      this.services.notifier.register(new DiscordChannel({ services: this.services, rest: () => this.rest(), threads: this.threads, channel: this.cfg.channel, levels: this.cfg.notifications?.levels ?? null, quiet: this.cfg.quiet, fatal: () => (!this.cfg.token || this.state === 'failed' ? (this.error ?? 'the bridge stopped') : null) }));
    },
    stop: async () => {
      await this.threads?.stop();
    },
  };

  async start(): Promise<void> {
    if (this.error || !this.client) {
      this.state = 'failed';
      this.log.error({ error: this.error }, 'discord: not started');
      return;
    }
    const client = this.client;
    client.on(Events.Raw, (p: { t?: string; d?: unknown }) => this.onDispatch(p));
    client.on(Events.ShardReady, () => {
      if (this.state === 'reconnecting') this.reconnects++;
      this.state = 'connected';
    });
    client.on(Events.ShardResume, () => {
      this.reconnects++;
      this.state = 'connected';
      this.log.info('discord: gateway session resumed');
    });
    client.on(Events.ShardReconnecting, () => (this.state = 'reconnecting'));
    client.on(Events.ShardDisconnect, (ev: { code: number }) => {
      this.state = 'failed';
      this.error = `the gateway closed the session for good (code ${ev.code})`;
      this.log.error({ code: ev.code }, 'discord: gateway closed for good');
    });
    client.on(Events.Error, (e: Error) => this.log.warn({ error: e.message }, 'discord: client error'));
    this.offFeed = this.services.feed.onPublish((item) => this.threads.onFeed(item));
    this.sweepTimer = setInterval(() => void this.sweep(), 3_600_000);
    this.sweepTimer.unref();
    void this.sweep();
    this.state = 'connecting';
    // not awaited: the daemon starts whether Discord answers or not; the state says how it went
    void client
      .login(this.cfg.token)
      .then(async () => {
        this.botUser = client.user?.id ?? null;
        await this.register();
        await this.replayPending();
      })
      .catch((e: unknown) => {
        this.state = 'failed';
        this.error = `Discord refused to connect: ${describeError(e)}`;
        this.log.error({ error: this.error }, 'discord: the bridge stopped');
      });
  }

  /** `/opstream` in the guild (instant) or globally; a refused registration is said, the bridge goes on. */
  private async register(): Promise<void> {
    const route = this.cfg.guild_id ? Routes.applicationGuildCommands(this.cfg.application_id, this.cfg.guild_id) : Routes.applicationCommands(this.cfg.application_id);
    try {
      await this.rest().put(route, { body: commandDefinition() });
      this.registered = true;
      this.log.info({ scope: this.cfg.guild_id ? `guild ${this.cfg.guild_id}` : 'global' }, 'discord: /opstream registered');
    } catch (e) {
      this.error = `could not register /opstream: ${describeError(e)}`;
      this.log.error({ error: this.error }, 'discord: command registration failed');
    }
  }

  /** Interaction ids older than a day are forgotten: Discord's interaction tokens live 15 minutes, a replay comes within the session. */
  private async sweep(): Promise<void> {
    try {
      const day = Date.now() - 86_400_000;
      const seen = this.services.repos.chat.discordInteractions;
      const old = (await seen.entries()).filter(([, v]) => !v.at || Date.parse(v.at) < day);
      if (old.length) await this.services.store.commit(old.map(([id]) => seen.delOp(id)));
    } catch (err) {
      this.log.warn({ error: describeError(err) }, 'discord: bookkeeping sweep failed');
    }
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.offFeed?.();
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => setTimeout(r, 5000).unref())]);
    await this.threads?.stop();
    await this.client?.destroy();
    this.client = null;
    this.state = 'stopped';
  }

  status(): DiscordStatus {
    return {
      state: this.state,
      error: this.error,
      reconnects: this.reconnects,
      last_dispatch_at: this.lastDispatchAt ? new Date(this.lastDispatchAt).toISOString() : null,
      bot_user: this.botUser,
      application_id: this.cfg.application_id,
      guild_id: this.cfg.guild_id ?? null,
      channel: this.cfg.channel,
      command_registered: this.registered,
    };
  }

  // ------------------------------------------------------------------------------ inbound

  private onDispatch(p: { t?: string; d?: unknown }): void {
    this.lastDispatchAt = Date.now();
    if (p.t === 'MESSAGE_CREATE') return this.onMessage(p.d);
    if (p.t !== 'INTERACTION_CREATE') return;
    const at = Date.now();
    const parsed = Interaction.safeParse(p.d);
    if (!parsed.success) {
      this.log.warn({ event: p.t, problem: parsed.error.issues[0]?.message ?? 'bad shape', path: parsed.error.issues[0]?.path.join('.') }, 'discord: skipped a malformed gateway payload');
      return;
    }
    const ix = parsed.data;
    // a redelivered interaction (a replay after resume, or a duplicate) acts once
    if (!this.seen.first(ix.id)) return;
    const work = this.handle(ix, at)
      .catch((err: unknown) => this.log.error({ error: describeError(err), interaction: ix.id }, 'discord: handling an interaction failed'))
      .finally(() => this.inflight.delete(work));
    this.inflight.add(work);
  }

  /**
   * A message in the guild. Without the privileged MessageContent intent (not asked for) Discord
   * gives the bot the text of messages that mention it only, which is exactly what the bridge
   * answers: "@OpStream fix it" in a run's thread decides, answers or asks about that run, and
   * "@OpStream profile checkout-api for 2h" elsewhere is mapped to a command by the chat layer's
   * intent parser, as Slack's DMs and mentions are. Each message acts once (its id is stored).
   */
  private onMessage(d: unknown): void {
    const parsed = Message.safeParse(d);
    if (!parsed.success) {
      this.log.warn({ event: 'MESSAGE_CREATE', problem: parsed.error.issues[0]?.message ?? 'bad shape', path: parsed.error.issues[0]?.path.join('.') }, 'discord: skipped a malformed gateway payload');
      return;
    }
    const m = parsed.data;
    const bot = this.botUser;
    if (m.author.bot || !bot || m.author.id === bot || !m.mentions?.some((u) => u.id === bot)) return;
    if (!this.seen.first(`msg:${m.id}`)) return;
    const work = this.message(m)
      .catch((err: unknown) => this.log.error({ error: describeError(err), message: m.id }, 'discord: handling a message failed'))
      .finally(() => this.inflight.delete(work));
    this.inflight.add(work);
  }

  private async message(m: Message): Promise<void> {
    const seen = this.ixRows;
    const id = `m${m.id}`;
    // a message replayed after a resume (or seen by a daemon before a restart) acts once
    if (await seen.has(id)) return;
    await this.services.store.commit([seen.putOp(id, { at: new Date().toISOString(), state: 'done' } satisfies IxRecord)]);
    const who: ChatCaller = { platform: 'discord', user: m.author.id, role: roleIn(this.cfg.roles, 'none', m.author.id), actor: platformActor('discord', m.author.id) };
    const text = m.content.replace(/<@!?(\d+)>/g, (all, id: string) => (id === this.botUser ? ' ' : all)).replace(/\s+/g, ' ').trim();
    const reply = (r: Pick<ChatReply, 'text' | 'tone'>): Promise<unknown> =>
      this.rest().post(Routes.channelMessages(m.channel_id), { body: { ...replyMessage({ ...r, private: false }), message_reference: { message_id: m.id, fail_if_not_exists: false } } });
    const run = this.threads.runOfThread(m.channel_id);
    if (run) {
      const json = await this.services.engine.get(run).catch(() => null);
      const r = threadReply(run, json, text, true, 'in Discord');
      if (r.kind === 'ignore') return;
      const o = await execute(this.deps(), who, r.cmd, { what: r.what });
      if (o.kind === 'decided') return void (await reply({ tone: 'ok', text: o.decision === 'approved' ? `Approved by <@${who.user}>; going ahead.` : `Rejected by <@${who.user}>; nothing will be applied.` }));
      if (o.kind === 'responded') return void (await reply({ tone: 'ok', text: `Answer recorded for ${run}.` }));
      return void (await reply(this.say(o)));
    }
    if (who.role === 'none') {
      // no role: no model tokens spent on understanding them
      return void (await reply(this.say(await refuse(this.deps(), who, 'discord.message', text.slice(0, 120), 'read'))));
    }
    const intent = await mapIntent(this.services, text, this.log, NEUTRAL_VOCABULARY('discord'));
    const parsed = intent.words ? commandFromWords(this.services, intent.words) : { problem: `I didn't understand "${text.slice(0, 200)}"; \`/opstream help\` lists what I can do.` };
    if ('problem' in parsed) return void (await reply({ tone: 'info', text: parsed.problem }));
    const cmd = parsed.cmd;
    if (cmd.kind === 'start' && !this.knowsWorkflow(cmd.workflow)) return void (await reply({ tone: 'warning', text: `There is no workflow "${cmd.workflow.slice(0, 60)}" (\`/opstream start\` suggests them). Nothing was started.` }));
    await reply(await this.run(who, cmd, `m${m.id}`));
  }

  private async handle(ix: Interaction, at: number, replay = false): Promise<void> {
    if (!replay && (await this.ixRows.has(ix.id))) return;
    try {
      await this.act(ix, at);
    } finally {
      // answered, or failed in a way that was logged: either way not to be done again (only a
      // crash leaves the record pending)
      if (this.claimed.delete(ix.id)) await this.done(ix, at);
    }
  }

  private async act(ix: Interaction, at: number): Promise<void> {
    const user = ix.member?.user.id ?? ix.user?.id ?? '';
    const who: ChatCaller = { platform: 'discord', user, role: roleIn(this.cfg.roles, 'none', user), actor: platformActor('discord', user) };
    if (ix.type === InteractionType.ApplicationCommandAutocomplete) return this.autocomplete(ix);
    if (ix.type === InteractionType.ApplicationCommand) return this.command(ix, who, at);
    if (ix.type === InteractionType.MessageComponent) return this.button(ix, who, at);
  }

  private deps(): ChatDeps {
    return { services: this.services, log: this.log };
  }

  /** An outcome of the chat layer in Discord's words. */
  private say(o: ChatOutcome): ChatReply {
    return plainReply(o, 'An OpStream admin can add your Discord user id under discord.roles.', `in a thread in <#${this.cfg.channel}>`) ?? { tone: 'info', private: true, text: 'Already done.' };
  }

  /**
   * The interaction is ours now: recorded with what was asked (and its token) before anything
   * happens, so a redelivery is not acted on again, and one a crash cut off is finished on the next
   * start (`replayPending`). Once answered, the record keeps only the time (no token).
   */
  private async claim(ix: Interaction): Promise<void> {
    await this.services.store.commit([this.ixRows.putOp(ix.id, { at: new Date(this.receivedAt(ix)).toISOString(), state: 'pending', ix } satisfies IxRecord)]);
    this.claimed.add(ix.id);
  }

  private receivedAt(ix: Interaction): number {
    return this.replaying.get(ix.id) ?? Date.now();
  }

  private async done(ix: Interaction, at: number): Promise<void> {
    await this.services.store.commit([this.ixRows.putOp(ix.id, { at: new Date(this.replaying.get(ix.id) ?? at).toISOString(), state: 'done' } satisfies IxRecord)]);
  }

  private async callback(ix: Interaction, body: { type: number; data?: unknown }, at: number): Promise<void> {
    try {
      await this.rest().post(Routes.interactionCallback(ix.id, ix.token), { body, auth: false });
    } catch (e) {
      // finishing one a crash cut off: it was acknowledged before, its response is edited below
      if (this.replaying.has(ix.id) && e instanceof DiscordAPIError && e.code === 40060) return;
      throw e;
    }
    if (!this.replaying.has(ix.id)) this.ackLatencies.push(Date.now() - at);
  }

  /**
   * Interactions recorded but not answered when the daemon stopped (a crash between the record and
   * the answer): Discord does not send them again, so they are finished now, while their token
   * lives (15 minutes), each once (a start carries the interaction's durable key, a decision is
   * checked against the run's wait again). Older ones are only marked done.
   */
  private async replayPending(): Promise<void> {
    const rows = await this.ixRows.entries();
    const pending = rows.filter(([, r]) => r.state === 'pending' && r.ix);
    if (!pending.length) return;
    this.log.info({ interactions: pending.length }, 'discord: finishing the interactions a restart interrupted');
    for (const [, r] of pending) {
      const parsed = Interaction.safeParse(r.ix);
      const at = Date.parse(r.at);
      if (!parsed.success || Date.now() - at > TOKEN_LIFE_MS) {
        await this.services.store.commit([this.ixRows.putOp(String((r.ix as { id?: unknown }).id), { at: r.at, state: 'done' } satisfies IxRecord)]);
        this.log.warn({ interaction: (r.ix as { id?: unknown }).id }, 'discord: an interaction interrupted by a restart is too old to answer (its token lived 15 minutes)');
        continue;
      }
      const ix = parsed.data;
      if (!this.seen.first(ix.id)) continue;
      this.replaying.set(ix.id, at);
      const work = this.handle(ix, at, true)
        .catch((err: unknown) => this.log.error({ error: describeError(err), interaction: ix.id }, 'discord: finishing an interrupted interaction failed'))
        .finally(() => {
          this.replaying.delete(ix.id);
          this.inflight.delete(work);
        });
      this.inflight.add(work);
    }
  }

  private async edit(ix: Interaction, msg: DiscordMessage): Promise<void> {
    const { flags: _flags, ...body } = msg;
    await this.rest().patch(Routes.webhookMessage(ix.application_id, ix.token, '@original'), { body, auth: false });
  }

  /** An immediate answer (no work to wait for): refusals and bad input, ephemeral. */
  private async answerNow(ix: Interaction, r: Pick<ChatReply, 'text' | 'tone'>, at: number): Promise<void> {
    await this.callback(ix, { type: InteractionResponseType.ChannelMessageWithSource, data: replyMessage({ ...r, private: true }) }, at);
  }

  private async command(ix: Interaction, who: ChatCaller, at: number): Promise<void> {
    if (ix.data?.name !== 'opstream') return;
    const parsed = parseSubcommand(ix.data.options);
    if ('problem' in parsed) {
      await this.claim(ix);
      return this.answerNow(ix, { tone: 'warning', text: parsed.problem }, at);
    }
    const cmd = parsed.cmd;
    if (!allows(who.role, NEEDS[cmd.kind])) {
      await this.claim(ix);
      return this.answerNow(ix, this.say(await refuse(this.deps(), who, `runs.${cmd.kind}`, `/opstream ${cmd.kind}`, NEEDS[cmd.kind])), at);
    }
    if (cmd.kind === 'start' && !this.knowsWorkflow(cmd.workflow)) {
      await this.claim(ix);
      return this.answerNow(ix, { tone: 'warning', text: `There is no workflow "${cmd.workflow.slice(0, 60)}" (the start option suggests them). Nothing was started.` }, at);
    }
    // actions are shown to the channel; reading (status, list, help, ask) is for the person asking
    const visible = ['start', 'pause', 'resume', 'cancel', 'approve', 'reject'].includes(cmd.kind);
    await this.claim(ix);
    await this.callback(ix, { type: InteractionResponseType.DeferredChannelMessageWithSource, data: visible ? {} : { flags: MessageFlags.Ephemeral } }, at);
    const r = await this.run(who, cmd, ix.id);
    if (visible && r.private) {
      // the channel saw the action deferred; why it did not go ahead (bad params, a refusal) is for the person only
      await this.edit(ix, replyMessage({ tone: r.tone, private: false, text: `/opstream ${cmd.kind} did not go ahead; the reason was shown only to <@${who.user}>.` }));
      await this.rest().post(Routes.webhook(ix.application_id, ix.token), { body: replyMessage({ ...r, private: true }), auth: false });
      return;
    }
    await this.edit(ix, replyMessage({ ...r, private: !visible }));
  }

  private knowsWorkflow(name: string): boolean {
    const set = this.services.workflows.current();
    return set.workflows.has(name) || set.byCommand(name.toLowerCase()) !== undefined;
  }

  /** A command through the chat layer; a start opens its thread once it passed every check, so an unknown channel starts nothing. */
  private async run(who: ChatCaller, cmd: ChatCommand, key: string): Promise<ChatReply> {
    try {
      if (cmd.kind !== 'start') return this.say(await execute(this.deps(), who, cmd));
      const release = this.threads.hold();
      try {
        return await this.startRun(who, cmd, key);
      } finally {
        release();
      }
    } catch (e) {
      this.log.error({ error: describeError(e), command: cmd.kind }, 'discord: a command failed');
      return { tone: 'warning', private: true, text: `Something went wrong: ${describeError(e)}` };
    }
  }

  private async startRun(who: ChatCaller, cmd: Extract<ChatCommand, { kind: 'start' }>, key: string): Promise<ChatReply> {
    {
      let at: { message: string; thread: string } | null = null;
      const prepare = async (workflow: string): Promise<string | null> => {
        try {
          at = await this.threads.open(`${workflow} (starting)`);
          return null;
        } catch (e) {
          this.log.error({ channel: this.cfg.channel, error: describeError(e) }, 'discord: could not open a run thread; nothing started');
          return isUnknownChannel(e) ? `the run channel ${this.cfg.channel} is unknown to Discord (deleted, or the bot cannot see it); an admin should fix discord.channel` : `could not open the run's thread: ${describeError(e)}`;
        }
      };
      // a start is stored with its interaction's key in the run's batch: a replayed interaction cannot start it twice
      const outcome = await execute(this.deps(), who, cmd, { prepare, durableKey: { table: this.services.repos.chat.discordStarts, id: key, value: { at: new Date().toISOString() } } });
      const r: ChatReply = outcome.kind === 'duplicate' ? { tone: 'info', private: false, text: `This start was already carried out before the daemon restarted; its run is in a thread in <#${this.cfg.channel}>. Nothing else was started.` } : this.say(outcome);
      const opened = at as { message: string; thread: string } | null;
      if (r.started && r.run && opened) await this.threads.bind(r.run.id, opened);
      else if (opened) await this.rest().delete(Routes.channelMessage(this.cfg.channel, opened.message)).catch(() => undefined);
      return r;
    }
  }

  /** Approve/Reject on a run card: bound to the run, step and argument hash it showed; the first decision wins. */
  private async button(ix: Interaction, who: ChatCaller, at: number): Promise<void> {
    const b = parseButtonId(ix.data?.custom_id ?? '');
    if (!b) return;
    await this.claim(ix);
    if (!allows(who.role, NEEDS[b.decision])) return this.answerNow(ix, this.say(await refuse(this.deps(), who, `runs.${b.decision}`, `${b.run} ${b.step} (button)`, NEEDS[b.decision])), at);
    await this.callback(ix, { type: InteractionResponseType.DeferredChannelMessageWithSource, data: { flags: MessageFlags.Ephemeral } }, at);
    // whether the click still lands (same step, same gated call) is the chat layer's call
    const st = await staleApproval(this.services, { run: b.run, step: b.step, argsHash: b.hash });
    let r: ChatReply;
    if (st.stale && st.otherCall) r = { tone: 'info', private: true, text: `Run ${b.run} now waits for a different call than the one shown; your click changed nothing.` };
    // a stale click goes to the layer too: bound to the step shown, it says who decided and changes nothing
    else r = this.say(await execute(this.deps(), who, { kind: b.decision, run: b.run, shown: st.stale ? { step: b.step } : st.shown, comment: 'button in Discord' }));
    await this.edit(ix, replyMessage({ ...r, private: true }));
  }

  private async autocomplete(ix: Interaction): Promise<void> {
    const focused = (ix.data?.options?.[0]?.options ?? []).find((o) => o.focused);
    const typed = String(focused?.value ?? '').toLowerCase();
    const names = [...this.services.workflows.current().workflows.values()].map((w) => w.workflow).flatMap((w) => [w.id, ...(w.command ? [w.command] : [])]);
    const choices = [...new Set(names)].filter((n) => n.toLowerCase().includes(typed)).slice(0, 25).map((n) => ({ name: n, value: n }));
    await this.rest().post(Routes.interactionCallback(ix.id, ix.token), { body: { type: InteractionResponseType.ApplicationCommandAutocompleteResult, data: { choices } }, auth: false });
  }
}
