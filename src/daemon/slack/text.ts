/**
 * Text between Slack and OpStream. Slack sends user text with its own markup (`<@U1>`,
 * `<http://x|x>`, `&amp;`) and shows ours as mrkdwn, where `&`, `<` and `>` must be escaped.
 */

/** User text as the person meant it: the bot's mention removed, links and channels unwrapped, entities decoded. */
export function fromSlack(text: string, botUserId?: string | null): string {
  // typed as a string, but it is whatever the envelope carried
  let t = typeof text === 'string' ? text : '';
  if (botUserId) t = t.replaceAll(`<@${botUserId}>`, ' ');
  t = t
    .replace(/<(https?:\/\/[^|>]+)(?:\|[^>]*)?>/g, '$1')
    .replace(/<mailto:([^|>]+)(?:\|[^>]*)?>/g, '$1')
    .replace(/<#([CG][A-Z0-9]+)(?:\|([^>]*))?>/g, (_a, id: string, name?: string) => (name ? `#${name}` : id))
    .replace(/<@([UW][A-Z0-9]+)(?:\|[^>]*)?>/g, '$1')
    .replace(/<!([a-z]+)(?:\|[^>]*)?>/g, '@$1')
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
  return t.replace(/\s+/g, ' ').trim();
}

/** Plain text made safe for mrkdwn (Slack's three control characters). */
export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// chat-neutral (chat/text.ts): words and durations as people type them on any platform
export { joinDurations, splitWords } from '../chat/text.js';

/** Cuts text to `max` characters with a marker (Block Kit caps section text at 3000). */
export function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * The `text` of a message that has blocks is its plain fallback (notifications, screen readers), but
 * Slack still turns `<!channel>`, `<!here>` and `<@U1>` in it into mentions. It often quotes outside
 * text (an approval's prompt, a notify step's title, a tool's output) unescaped, while the blocks
 * escape it. So a control sequence in the fallback stays only when the blocks carry it as such (our
 * own "approved by <@U1>"); every other one, and every bare `&`, is escaped.
 */
export function plainFallback(text: string, blocks: string): string {
  return text.replace(/&(?!amp;|lt;|gt;)/g, '&amp;').replace(/<[^<>]*>|[<>]/g, (m) => (m.length > 2 && blocks.includes(m) ? m : esc(m)));
}

const POSTS = new Set(['chat.postMessage', 'chat.postEphemeral', 'chat.update', 'chat.scheduleMessage']);

/** A Web API call's options with the fallback text of a message with blocks made safe (see plainFallback). */
export function safeOutgoing<T>(method: string, options: T): T {
  const o = options as { text?: unknown; blocks?: unknown } | undefined;
  if (!POSTS.has(method) || !o || typeof o.text !== 'string' || o.blocks === undefined || o.blocks === null) return options;
  const blocks = typeof o.blocks === 'string' ? o.blocks : JSON.stringify(o.blocks);
  if (blocks === '[]') return options;
  return { ...o, text: plainFallback(o.text, blocks) } as T;
}
