import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { CompiledSlack } from '../../config/load.js';
import { isWireError } from '../../protocol/index.js';
import type { ChatServices } from '../chat/services.js';
import { staleApproval, waitOutcome, type WaitOutcome } from '../chat/approvals.js';
import { execute } from '../chat/commands.js';
import { threadReply } from '../chat/conversation.js';
import { ACTION, INPUT_VIEW, inputModal, mrkdwnMessage, parseApprovalRef, textMessage, type ApprovalRef, type SlackMessage } from './blocks.js';
import { accessMessage, commandOf, refusal, refusalOf, SLACK_VOCABULARY, runCommand, suggestion, type Caller, type CommandDeps, type CommandReply } from './commands.js';
import type { Envelope } from './connection.js';
import { Dedupe } from './dedupe.js';
import { ActionBody, MessageEvent, SlashBody } from './payloads.js';
import { mapIntent } from '../chat/intent.js';
import type { Responder, ReplyTarget } from './respond.js';
import { actorOf, allows, roleOf, type Permission } from './roles.js';
import { esc, fromSlack, splitWords } from './text.js';
import type { RunThreads } from './threads.js';

export interface InboundDeps {
  services: ChatServices;
  cfg: CompiledSlack;
  web: WebClient;
  threads: RunThreads;
  log: Logger;
  responder: Responder;
  commands: CommandDeps;
  botUserId(): string | null;
  /** Every envelope handled (for status: last message time is the connection's). */
  onHandled?(env: Envelope, ms: number): void;
}

/**
 * Everything Slack sends the bridge, after the ack: slash commands, messages (DMs, mentions, run
 * thread replies) and interactions (buttons, the input modal). Each is deduplicated (envelope id;
 * event id; the message a mention arrived for twice; a click on one message by one person), its
 * sender's role checked, and done on behalf of `slack:U...`.
 */
export class Inbound {
  private readonly seen = new Dedupe();
  private readonly inflight = new Set<Promise<void>>();
  private stopping = false;

  constructor(private readonly d: InboundDeps) {}

  handle(env: Envelope): void {
    if (this.stopping || !this.seen.first(`env:${env.envelope_id}`)) return;
    const work = this.dispatch(env)
      .catch((err: unknown) => this.d.log.error({ err, type: env.type }, 'slack: handling an envelope failed'))
      .finally(() => {
        this.inflight.delete(work);
        this.d.onHandled?.(env, Date.now() - env.received_at);
      });
    this.inflight.add(work);
  }

  /** Waits (bounded) for work already started: stop must not cut a command in half if it can help it. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => setTimeout(r, 5000).unref())]);
  }

  private async dispatch(env: Envelope): Promise<void> {
    if (env.type === 'slash_commands') return this.slash(SlashBody.parse(env.body), env);
    if (env.type === 'events_api') {
      const id = String(env.body.event_id ?? '');
      if (id && !this.seen.first(`ev:${id}`)) return;
      return this.event(MessageEvent.parse(env.body.event ?? {}));
    }
    if (env.type === 'interactive') {
      const b = ActionBody.parse(env.body);
      if (b.type === 'block_actions') return this.actions(b);
      if (b.type === 'view_submission') return this.view(b);
    }
  }

  private caller(user: string, channel: string): Caller {
    return { user, role: roleOf(this.d.cfg, user), actor: actorOf(user), channel };
  }

  private async answer(to: ReplyTarget, r: CommandReply | null): Promise<void> {
    if (r) await this.d.responder.reply(to, r.msg, { public: r.public });
  }

  // ---------------------------------------------------------------- slash commands

  private async slash(b: SlashBody, env: Envelope): Promise<void> {
    const user = b.user_id ?? '';
    // Slack re-sends a command it thinks was lost with the same trigger id
    const key = b.trigger_id ?? env.envelope_id;
    if (!this.seen.first(`cmd:${key}`)) return;
    const who = this.caller(user, b.channel_id ?? '');
    const to: ReplyTarget = { responseUrl: b.response_url, channel: b.channel_id ?? user, user };
    const words = splitWords(fromSlack(b.text ?? '', this.d.botUserId()));
    await this.answer(to, await this.safely(() => runCommand(this.d.commands, who, words, { durableKey: key })));
  }

  /** A command that throws is answered with what went wrong, not silence. */
  private async safely(fn: () => Promise<CommandReply | null>): Promise<CommandReply | null> {
    try {
      return await fn();
    } catch (e) {
      this.d.log.error({ err: e }, 'slack: a command failed');
      return { msg: textMessage(`Something went wrong: ${(e as Error).message}`) };
    }
  }

  // ---------------------------------------------------------------- messages

  private async event(ev: MessageEvent): Promise<void> {
    if (ev.type !== 'message' && ev.type !== 'app_mention') return;
    const bot = this.d.botUserId();
    // its own messages (and other bots'), edits, joins: not addressed to anyone
    if (ev.bot_id || !ev.user || (bot && ev.user === bot)) return;
    if (ev.subtype && ev.subtype !== 'thread_broadcast' && ev.subtype !== 'file_share') return;
    if (!ev.channel || !ev.ts) return;
    // a mention in a DM or thread can arrive as both app_mention and message.*
    if (!this.seen.first(`msg:${ev.channel}:${ev.ts}`)) return;
    const dm = ev.channel_type === 'im' || ev.channel.startsWith('D');
    const mentioned = ev.type === 'app_mention' || (bot !== null && (ev.text ?? '').includes(`<@${bot}>`));
    const text = fromSlack(ev.text ?? '', bot);
    const inThread = ev.thread_ts && ev.thread_ts !== ev.ts ? ev.thread_ts : null;
    const who = this.caller(ev.user, ev.channel);
    if (inThread) {
      const run = await this.d.threads.runOf(ev.channel, inThread);
      if (run) return this.threadReply(run, text, who, ev.channel, inThread, mentioned || dm);
    }
    if (!dm && !mentioned) return;
    const to: ReplyTarget = { channel: ev.channel, user: ev.user, thread_ts: dm ? inThread ?? undefined : (inThread ?? ev.ts) };
    if (who.role === 'none') {
      // no role: no model tokens spent on understanding them, and the answer is theirs alone
      const words = splitWords(text);
      const asksHelp = words.length === 0 || commandOf(words[0]) === 'help' || /^(hi|hello|hey|help)\b/i.test(text);
      if (asksHelp) return this.d.responder.reply(to, accessMessage(this.d.commands, who).msg);
      const r = await refusal(this.d.commands, who, 'slack.message', text, 'viewer');
      return this.d.responder.reply(to, r.msg);
    }
    const intent = await mapIntent(this.d.services, text, this.d.log, SLACK_VOCABULARY);
    if (!intent.words) {
      await this.post(to, mrkdwnMessage(suggestion(this.d.commands, text)));
      return;
    }
    const reply = await this.safely(() => runCommand(this.d.commands, who, intent.words));
    // a refusal in a channel is told to the person only (an ephemeral message), never to the channel
    if (reply?.refused) await this.d.responder.reply(to, reply.msg);
    else if (reply) await this.post(to, reply.msg);
  }

  /**
   * In a conversation the answer is a normal message (in the thread of the question in channels),
   * written to the durable outbox like every notification: Slack being unreachable for a while,
   * a 429 or a restart delays it, never loses it.
   */
  private async post(to: ReplyTarget, msg: SlackMessage, run: string | null = null): Promise<void> {
    try {
      const ref = run ? { id: run, workflow: (await this.d.services.engine.get(run).catch(() => null))?.workflow ?? '', actor: `slack:${to.user}` } : null;
      await this.d.services.notifier.send({ kind: 'reply', level: 'info', title: `reply to <@${to.user}>`, text: msg.text, data: { reply: { channel: to.channel, thread_ts: to.thread_ts ?? null, blocks: msg.blocks ?? null, to: to.user } } }, ref);
    } catch (e) {
      this.d.log.warn({ err: (e as Error).message, channel: to.channel }, 'slack: could not queue an answer');
    }
  }

  /**
   * A reply in a run's thread, understood by the chat layer (chat/conversation.ts): a decision on
   * what the run waits for, the answer to what it asks, or a question about it; roles and refusal
   * audits are the chat layer's too. Only the words are Slack's.
   */
  private async threadReply(run: string, text: string, who: Caller, channel: string, threadTs: string, addressed: boolean): Promise<void> {
    const to: ReplyTarget = { channel, user: who.user, thread_ts: threadTs };
    const json = text ? await this.d.services.engine.get(run).catch(() => null) : null;
    const r = threadReply(run, json, text, addressed, 'in Slack');
    if (r.kind === 'ignore') return;
    const o = await execute({ services: this.d.services, log: this.d.log }, { ...who, platform: 'slack' }, r.cmd, { what: r.what });
    if (o.kind === 'refused') return this.d.responder.reply(to, refusalOf(who, o).msg);
    switch (r.kind) {
      case 'decide':
        if (o.kind === 'decided') return this.post(to, mrkdwnMessage(o.decision === 'approved' ? `:white_check_mark: Approved by <@${who.user}>; going ahead.` : `:x: Rejected by <@${who.user}>; nothing will be applied.`), run);
        if (o.kind === 'not_approver' || o.kind === 'problem') return this.d.responder.reply(to, mrkdwnMessage(`:no_entry: ${esc(o.message)}`));
        return;
      case 'respond':
        if (o.kind === 'problem') return this.d.responder.reply(to, textMessage(o.message));
        return;
      case 'ask':
        if (o.kind === 'answer') return this.post(to, mrkdwnMessage(esc(o.text), o.text), run);
        if (o.kind === 'problem') return this.d.responder.reply(to, textMessage(o.message));
        return;
    }
  }

  // ---------------------------------------------------------------- buttons and modals

  private async actions(b: ActionBody): Promise<void> {
    const user = b.user?.id ?? '';
    const channel = b.channel?.id ?? b.container?.channel_id ?? '';
    const messageTs = b.container?.message_ts ?? b.message?.ts ?? '';
    const to: ReplyTarget = { responseUrl: b.response_url, channel, user };
    for (const a of b.actions ?? []) {
      // a double click, or the same click delivered twice: one effect
      if (!this.seen.first(`act:${a.action_id}:${channel}:${messageTs}:${user}:${a.value ?? ''}`)) continue;
      const who = this.caller(user, channel);
      const ref = parseApprovalRef(a.value);
      if (!ref) continue;
      switch (a.action_id) {
        case ACTION.approve:
        case ACTION.reject:
          await this.decide(who, ref, a.action_id === ACTION.approve ? 'approved' : 'rejected', to);
          break;
        case ACTION.input:
          await this.openInput(who, ref, b.trigger_id, to);
          break;
        case ACTION.pause:
        case ACTION.resume:
        case ACTION.cancel: {
          const verb = a.action_id.split('.')[1];
          await this.answer(to, await this.safely(() => runCommand(this.d.commands, who, [verb, ref.r])));
          break;
        }
      }
    }
  }

  private async refuse(who: Caller, action: string, what: string, need: Permission, to: ReplyTarget): Promise<void> {
    const r = await refusal(this.d.commands, who, action, what, need === 'operate' ? 'operator' : need);
    await this.d.responder.reply(to, r.msg);
  }

  /**
   * An Approve/Reject click. The button names the wait it was made for, so a click on an old
   * message (after the run moved on, or after another person answered) changes nothing and says
   * who decided; the first valid decision wins (the engine answers each wait once).
   */
  private async decide(who: Caller, ref: ApprovalRef, decision: 'approved' | 'rejected', to: ReplyTarget): Promise<void> {
    if (!allows(who.role, 'operate')) return this.refuse(who, decision === 'approved' ? 'runs.approve' : 'runs.reject', `${ref.r} ${ref.s}`, 'operate', to);
    const already = async (how: WaitOutcome | null): Promise<void> => {
      const by = how ? (how.by.startsWith('slack:') ? `<@${how.by.slice(6)}>` : esc(how.by)) : '';
      const text = how
        ? how.decision === 'approved' || how.decision === 'rejected'
          ? `This was already ${how.decision} by ${by} at ${how.at.slice(11, 19)} UTC; your click changed nothing.`
          : `This request is closed (${esc(how.comment ?? how.decision)}); your click changed nothing.`
        : 'This run is not waiting for this approval any more; your click changed nothing.';
      await this.d.responder.reply(to, mrkdwnMessage(`:information_source: ${text}`));
    };
    // whether the click still lands (the run waits at that step, that very wait is open) is the chat layer's call
    const st = await staleApproval(this.d.services, { run: ref.r, step: ref.s, seq: ref.q });
    if (st.stale) return already(st.how);
    const o = await execute({ services: this.d.services, log: this.d.log }, { ...who, platform: 'slack' }, { kind: decision === 'approved' ? 'approve' : 'reject', run: ref.r }, { what: `${ref.r} ${ref.s}` });
    if (o.kind === 'not_approver') return this.d.responder.reply(to, mrkdwnMessage(`:no_entry: ${esc(o.message)}`));
    if (o.kind === 'problem') return already(await waitOutcome(this.d.services, ref.r, ref.s, ref.q).catch(() => null));
    // the message itself is edited from the run's `approval.answered` event (threads.ts), which
    // also covers answers from the CLI and timeouts
  }

  private async openInput(who: Caller, ref: ApprovalRef, triggerId: string | undefined, to: ReplyTarget): Promise<void> {
    if (!allows(who.role, 'operate')) return this.refuse(who, 'runs.respond', `${ref.r} ${ref.s}`, 'operate', to);
    const run = await this.d.services.engine.get(ref.r).catch(() => null);
    if (!run || run.waiting_for?.kind !== 'input' || run.waiting_for.step !== ref.s) {
      await this.d.responder.reply(to, mrkdwnMessage(':information_source: This run is not waiting for this answer any more.'));
      return;
    }
    if (!triggerId) return;
    try {
      await this.d.web.views.open({ trigger_id: triggerId, view: inputModal(ref, run.waiting_for.prompt ?? 'Your answer') as never });
    } catch (e) {
      this.d.log.info({ err: (e as Error).message }, 'slack: could not open the answer modal');
      await this.d.responder.reply(to, mrkdwnMessage(':information_source: Reply in the run\'s thread with your answer instead.'));
    }
  }

  private async view(b: ActionBody): Promise<void> {
    if (b.view?.callback_id !== INPUT_VIEW) return;
    if (b.view.id && !this.seen.first(`view:${b.view.id}:${b.view.private_metadata ?? ''}`)) return;
    const user = b.user?.id ?? '';
    const who = this.caller(user, user);
    const ref = parseApprovalRef(b.view.private_metadata);
    if (!ref) return;
    const text = b.view.state?.values?.answer?.text?.value ?? '';
    const to: ReplyTarget = { channel: user, user };
    if (!allows(who.role, 'operate')) return this.refuse(who, 'runs.respond', `${ref.r} ${ref.s}`, 'operate', to);
    if (!text.trim()) return;
    try {
      await this.d.services.engine.answer(ref.r, who.actor, { kind: 'input', text });
    } catch (e) {
      if (!isWireError(e)) throw e;
      await this.d.responder.reply(to, textMessage(e.message));
    }
  }
}
