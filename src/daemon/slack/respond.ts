import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { SlackMessage } from './blocks.js';
import { safeOutgoing } from './text.js';

/** Slack's rules for a response_url: 5 posts within 30 minutes of the command or click. */
const MAX_USES = 5;
const TTL_MS = 30 * 60_000;

export interface ReplyTarget {
  /** From the slash command or interaction; absent for events. */
  responseUrl?: string;
  channel: string;
  user: string;
  thread_ts?: string;
}

/**
 * Answers to the person who asked: through the response_url while it has uses left (ephemeral
 * unless `public`), else an ephemeral message in the channel (chat.postEphemeral), else a DM.
 */
export class Responder {
  private readonly uses = new Map<string, { n: number; at: number }>();

  constructor(
    private readonly web: WebClient,
    private readonly log: Logger,
  ) {}

  async reply(to: ReplyTarget, msg: SlackMessage, opts: { public?: boolean; replaceOriginal?: boolean } = {}): Promise<void> {
    if (to.responseUrl && this.take(to.responseUrl)) {
      try {
        const res = await fetch(to.responseUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify({ ...safeOutgoing('chat.postEphemeral', msg), response_type: opts.public ? 'in_channel' : 'ephemeral', replace_original: opts.replaceOriginal ?? false, ...(to.thread_ts ? { thread_ts: to.thread_ts } : {}) }),
          signal: AbortSignal.timeout(10_000),
        });
        await res.body?.cancel().catch(() => undefined);
        if (res.ok) return;
        this.log.info({ status: res.status }, 'slack: response_url refused the answer; answering another way');
      } catch (err) {
        this.log.info({ err }, 'slack: response_url unreachable; answering another way');
      }
    }
    try {
      if (opts.public) await this.web.chat.postMessage({ channel: to.channel, text: msg.text, blocks: msg.blocks as never, thread_ts: to.thread_ts, unfurl_links: false });
      else await this.web.chat.postEphemeral({ channel: to.channel, user: to.user, text: msg.text, blocks: msg.blocks as never, thread_ts: to.thread_ts });
    } catch (err) {
      // e.g. the bot is not in that channel: the person still gets the answer, by DM
      this.log.info({ err: (err as Error).message }, 'slack: could not answer in the channel; sending a DM');
      await this.web.chat.postMessage({ channel: to.user, text: msg.text, blocks: msg.blocks as never }).catch((e: unknown) => this.log.warn({ err: (e as Error).message }, 'slack: could not answer at all'));
    }
  }

  /** One use of a response_url, if Slack would still take it. */
  private take(url: string): boolean {
    const now = Date.now();
    for (const [u, v] of this.uses) if (now - v.at > TTL_MS) this.uses.delete(u);
    const u = this.uses.get(url) ?? { n: 0, at: now };
    if (u.n >= MAX_USES || now - u.at > TTL_MS) return false;
    u.n++;
    this.uses.set(url, u);
    return true;
  }
}
