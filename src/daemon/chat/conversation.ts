import type { RunJson } from '../../protocol/index.js';
import type { ChatCommand } from './commands.js';
import { approvalDecision } from './intent.js';

/** A message that is a question or a request to the bot (not people talking to each other). */
export const ASKS = /\?\s*$|^(why|what|how|when|where|who|which|is|are|did|does|can|could|show|explain|detail|details|status|report|tell|give|summar|list)\b/i;

/**
 * What a message in a run's thread means, on any platform: a short "fix it" / "don't" where the run
 * waits for an approval decides it (the same decision as the Approve button, same roles); where it
 * waits for an answer, the message is the answer; a question (or a message addressed to the bot) is
 * a question about the run; anything else is people talking, and gets no answer. The command carries
 * what the refusal audit names (`what`), so every platform audits it alike.
 */
export type ThreadReply =
  | { kind: 'decide'; decision: 'approved' | 'rejected'; step: string; cmd: Extract<ChatCommand, { kind: 'approve' | 'reject' }>; what: string }
  | { kind: 'respond'; cmd: Extract<ChatCommand, { kind: 'respond' }>; what: string }
  | { kind: 'ask'; cmd: Extract<ChatCommand, { kind: 'ask' }>; what: string }
  | { kind: 'ignore' };

/** `run` as read now (null when it is gone); `where` names the platform in the decision's comment ("in Slack"). */
export function threadReply(runId: string, run: RunJson | null, text: string, addressed: boolean, where: string): ThreadReply {
  if (!text) return { kind: 'ignore' };
  const w = run?.waiting_for;
  const decision = w?.kind === 'approval' ? approvalDecision(text) : null;
  if (decision && w) {
    const cmd = { kind: decision === 'approved' ? 'approve' : 'reject', run: runId, comment: `"${text.slice(0, 200)}" ${where}` } as const;
    return { kind: 'decide', decision, step: w.step, cmd, what: `${runId} ${w.step} (thread reply "${text.slice(0, 40)}")` };
  }
  const answering = w?.kind === 'input';
  if (!answering && !addressed && !ASKS.test(text)) return { kind: 'ignore' };
  if (answering) return { kind: 'respond', cmd: { kind: 'respond', run: runId, text }, what: `${runId} (thread reply)` };
  return { kind: 'ask', cmd: { kind: 'ask', run: runId, question: text }, what: `${runId} (thread reply)` };
}
