import type { RunJson } from '../../protocol/index.js';
import type { DaemonContext } from '../context.js';
import { rolesHeld, type Role } from './roles.js';

/** Whether a role makes a person one of an approval's `approvers` (`operator` or `role:operator`; an admin counts as an operator). */
export function approverByRole(approvers: readonly string[] | undefined, role: Role): boolean {
  if (!approvers?.length) return false;
  return rolesHeld(role).some((r) => approvers.includes(r) || approvers.includes(`role:${r}`));
}

export interface ApprovalAnswer {
  decision: 'approved' | 'rejected';
  comment?: string;
  /** What the person was shown: the step and the gated call's argument hash (see Engine.answer). */
  shown?: { step?: string; args_hash?: string };
}

/**
 * Answers the approval a run waits for on behalf of a chat user. Roles are checked here, not in
 * the engine: the layer tells the engine only whether the person's role makes them an approver. The
 * engine answers each wait once (the first decision wins) and refuses a decision bound to a wait
 * the run no longer has; its WireErrors reach the caller unchanged.
 */
export async function answerApproval(ctx: DaemonContext, who: { actor: string; role: Role }, runId: string, a: ApprovalAnswer): Promise<RunJson> {
  const run = await ctx.engine.get(runId);
  const approvers = run.progress.waiting?.kind === 'approval' ? run.progress.waiting.approvers : (run.waiting_for?.approvers as string[] | undefined);
  return ctx.engine.answer(runId, who.actor, { kind: 'approval', decision: a.decision, comment: a.comment, ...(a.shown ? { shown: a.shown } : {}) }, { approver: approverByRole(approvers, who.role) });
}
