import type { RunJson } from '../../protocol/index.js';
import type { ChatServices } from './services.js';
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
export async function answerApproval(ctx: ChatServices, who: { actor: string; role: Role }, runId: string, a: ApprovalAnswer): Promise<RunJson> {
  const run = await ctx.engine.get(runId);
  const approvers = run.progress.waiting?.kind === 'approval' ? run.progress.waiting.approvers : (run.waiting_for?.approvers as string[] | undefined);
  return ctx.engine.answer(runId, who.actor, { kind: 'approval', decision: a.decision, comment: a.comment, ...(a.shown ? { shown: a.shown } : {}) }, { approver: approverByRole(approvers, who.role) });
}

/** How a wait (an approval or input request) ended, from the run's events. */
export interface WaitOutcome {
  decision: string;
  by: string;
  at: string;
  comment: string | null;
}

/** How the wait opened at `seq` for `step` ended, from the run's events; null while still open. */
export async function waitOutcome(ctx: ChatServices, run: string, step: string, seq: number): Promise<WaitOutcome | null> {
  const { events } = await ctx.engine.events(run, seq, 10_000);
  for (const e of events) {
    if (e.step !== step) continue;
    const x = e as unknown as { decision?: string; by?: string; comment?: string; text?: string };
    if (e.type === 'approval.answered') return { decision: x.decision ?? 'approved', by: x.by ?? '?', at: e.at, comment: x.comment ?? null };
    if (e.type === 'input.answered') return { decision: 'answered', by: x.by ?? '?', at: e.at, comment: x.text ?? null };
    if (e.type === 'wait.timed_out') return { decision: 'expired', by: 'timeout', at: e.at, comment: 'no answer in time' };
    if (e.type === 'step.waiting' && e.seq > seq) return { decision: 'closed', by: 'run', at: e.at, comment: 'asked again' };
  }
  return null;
}

/** What an Approve/Reject click was made for: the run, the step, and (when the platform knows it) the wait's seq and the argument hash shown. */
export interface ClickedApproval {
  run: string;
  step: string;
  seq?: number;
  /** A prefix of the gated call's argument hash as shown (null: the approval gated no call). */
  argsHash?: string | null;
}

/**
 * Whether a click on an approval still lands: the run must wait for an approval at that step, the
 * wait the message was posted for must still be open (`seq`), and the gated call must be the one
 * shown (`argsHash`). A stale click changes nothing; `how` says who decided, when that is known.
 */
export async function staleApproval(ctx: ChatServices, c: ClickedApproval): Promise<{ stale: false; run: RunJson; shown: { step: string; args_hash?: string } } | { stale: true; run: RunJson | null; how: WaitOutcome | null; otherCall?: boolean }> {
  const run = await ctx.engine.get(c.run).catch(() => null);
  const w = run?.waiting_for;
  const decided = async (): Promise<WaitOutcome | null> => (c.seq !== undefined ? waitOutcome(ctx, c.run, c.step, c.seq).catch(() => null) : null);
  if (!run || w?.kind !== 'approval' || w.step !== c.step) return { stale: true, run, how: await decided() };
  if (c.seq) {
    const how = await decided();
    if (how) return { stale: true, run, how };
  }
  const current = typeof w.args_hash === 'string' ? w.args_hash : null;
  if (c.argsHash !== undefined) {
    // the hash prefix names what was shown: a different gated call is not what this click approved
    const same = c.argsHash === null ? current === null : current?.startsWith(c.argsHash) === true;
    if (!same) return { stale: true, run, how: null, otherCall: true };
  }
  return { stale: false, run, shown: { step: c.step, ...(current && c.argsHash ? { args_hash: current } : {}) } };
}
