import { ButtonStyle, ComponentType, MessageFlags } from 'discord.js';
import type { ChatReply } from '../chat/commands.js';
import type { DigestView } from '../chat/digest.js';
import type { RunCard } from '../chat/view.js';
import { buttonId } from './command.js';

/** Discord's limits: an embed description holds 4096 characters, message content 2000. */
const cut = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

const COLOURS: Record<RunCard['tone'], number> = { running: 0x3b82f6, waiting: 0xf59e0b, good: 0x22c55e, bad: 0xef4444, neutral: 0x6b7280 };

export interface DiscordMessage {
  content?: string;
  embeds?: Record<string, unknown>[];
  components?: Record<string, unknown>[];
  flags?: number;
  allowed_mentions: { parse: never[] };
}

function bar(f: number | null): string {
  if (f === null) return '';
  const n = Math.round(Math.max(0, Math.min(1, f)) * 12);
  return `${'█'.repeat(n)}${'░'.repeat(12 - n)} ${Math.round(f * 100)}%`;
}

/** A run card as an embed, with Approve/Reject buttons bound to the wait it shows. */
export function cardMessage(c: RunCard, runId: string): DiscordMessage {
  const desc = [c.fraction !== null && !c.ended ? bar(c.fraction) : '', ...c.lines, c.approval ? `**Approval needed:** ${c.approval.prompt}` : ''].filter(Boolean).join('\n');
  const components = c.approval
    ? [
        {
          type: ComponentType.ActionRow,
          components: [
            { type: ComponentType.Button, style: ButtonStyle.Success, label: 'Approve', custom_id: buttonId('approve', runId, c.approval.step, c.approval.args_hash) },
            { type: ComponentType.Button, style: ButtonStyle.Danger, label: 'Reject', custom_id: buttonId('reject', runId, c.approval.step, c.approval.args_hash) },
          ],
        },
      ]
    : [];
  return {
    embeds: [{ title: cut(c.title, 256), description: cut(desc || ' ', 4096), color: COLOURS[c.tone], fields: [{ name: 'Status', value: cut(c.outcome, 1024), inline: true }] }],
    components,
    allowed_mentions: { parse: [] },
  };
}

/** A reply to a command: plain text (refusals and problems are ephemeral: only the person sees them). */
export function replyMessage(r: Pick<ChatReply, 'text' | 'tone' | 'private'>): DiscordMessage {
  const mark = r.tone === 'refused' ? '⛔ ' : r.tone === 'warning' ? '⚠️ ' : r.tone === 'ok' ? '✅ ' : '';
  return { content: cut(`${mark}${r.text}`, 2000), ...(r.private ? { flags: MessageFlags.Ephemeral } : {}), allowed_mentions: { parse: [] } };
}

/** The quiet hours digest: one message, each held notification in a line or two (open approvals with the command that decides them). */
export function digestMessage(v: DigestView): DiscordMessage {
  const lines = [`**${v.heading}**`];
  for (const n of v.items) {
    lines.push(`• **${cut(n.title, 200)}**${n.run && !n.title.includes(n.run) ? ` (${n.run})` : ''}${n.first ? `\n  ${cut(n.first, 300)}` : ''}`);
    if (n.approval) lines.push(`  still waiting: \`/opstream approve run:${n.approval.run}\` or \`/opstream reject run:${n.approval.run}\``);
  }
  if (v.more > 0) lines.push(`… and ${v.more} more: \`opstream inbox\``);
  return { content: cut(lines.join('\n'), 2000), allowed_mentions: { parse: [] } };
}
