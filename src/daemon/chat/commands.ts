import type { Logger } from 'pino';
import { isWireError, type RunJson } from '../../protocol/index.js';
import { resolveStart } from '../../workflows/params.js';
import { missingServerReason } from '../../workflows/tool-catalog.js';
import type { ChatServices } from './services.js';
import type { StoreOp } from '../store/store.js';
import { answerAboutRun } from './answer.js';
import { answerApproval } from './approvals.js';
import { allows, roleNeeded, type Permission, type Platform, type Role } from './roles.js';
import type { MetaTable } from '../repos/meta-table.js';

/**
 * The chat-neutral application layer: a command a person typed or clicked on any chat platform,
 * already parsed into a typed value by the platform's adapter, is authorised here (roles per platform
 * identity, refusals audited), carried out by the daemon's services on behalf of `<platform>:<user>`,
 * and answered with a neutral reply the adapter renders (Block Kit, Discord embeds, ...).
 */
export type ChatCommand =
  | { kind: 'help' }
  | { kind: 'list'; all: boolean }
  | { kind: 'status'; run?: string }
  | { kind: 'start'; workflow: string; words: string[] }
  | { kind: 'pause' | 'resume' | 'cancel'; run: string }
  | { kind: 'approve' | 'reject'; run: string; comment?: string; shown?: { step: string; args_hash?: string } }
  | { kind: 'respond'; run: string; text: string }
  | { kind: 'ask'; run: string; question: string };

export type ChatCommandKind = ChatCommand['kind'];

/** Who asks, as the engine and the audit log will record it. */
export interface ChatCaller {
  platform: Platform;
  user: string;
  role: Role;
  /** `<platform>:<user>` */
  actor: string;
}

/**
 * What came of a command, as data: each platform renders it in its own words and markup (Slack's
 * mrkdwn, Discord's markdown and embeds). `plainReply` is the plain rendering.
 */
export type ChatOutcome =
  | { kind: 'help'; role: Role }
  | { kind: 'runs'; runs: RunJson[]; total: number; all: boolean }
  | { kind: 'run'; run: RunJson }
  | { kind: 'overview'; counts: Record<string, number>; active: number; runs: RunJson[] }
  | { kind: 'started'; run: RunJson }
  /** The same command delivered again (its durable key is already stored): nothing to say. */
  | { kind: 'duplicate' }
  | { kind: 'controlled'; action: 'pause' | 'resume' | 'cancel'; run: RunJson }
  | { kind: 'decided'; decision: 'approved' | 'rejected'; run: RunJson }
  /** A decision bound to a wait the run no longer has (someone decided first, or it ended). */
  | { kind: 'already'; run: RunJson; step: string; decided: { decision: string; by: string; at: string } | null }
  | { kind: 'responded'; run: RunJson }
  | { kind: 'answer'; text: string; sources: string[] }
  | { kind: 'refused'; need: Permission; role: Role }
  | { kind: 'not_started'; reason: string; why: 'missing_server' | 'destination' | 'platform' }
  | { kind: 'not_approver'; message: string }
  | { kind: 'problem'; message: string };

/** A plain rendering of an outcome, for platforms that show text as it is. */
export interface ChatReply {
  tone: 'ok' | 'info' | 'warning' | 'refused';
  text: string;
  /** Only ever shown to the person who asked (refusals, problems). */
  private: boolean;
  /** The run the reply is about (started, controlled or asked for). */
  run?: RunJson;
  /** Set when the command started this run. */
  started?: boolean;
}

export const NEEDS: Record<ChatCommandKind, Permission> = {
  help: 'read',
  list: 'read',
  status: 'read',
  ask: 'read',
  start: 'operate',
  pause: 'operate',
  resume: 'operate',
  cancel: 'operate',
  approve: 'operate',
  reject: 'operate',
  respond: 'operate',
};

export const USAGE: Record<ChatCommandKind, string> = {
  help: 'help: what you may do here',
  list: 'list [all]: active runs (all: recent runs too)',
  status: 'status [run]: one run, or the daemon and its active runs',
  start: 'start <workflow> [words or key=value ...]: start a workflow',
  pause: 'pause <run>',
  resume: 'resume <run>',
  cancel: 'cancel <run>',
  approve: 'approve <run> [comment]: answer the approval the run waits for',
  reject: 'reject <run> [comment]',
  respond: 'respond <run> <answer>: answer what a run asks',
  ask: 'ask <run> <question>: a question about a run, answered from what it stored',
};

const RUN_ID = /^r_[a-z0-9]{4,16}$/;

export interface ChatDeps {
  services: ChatServices;
  log: Logger;
}

export interface ExecuteOptions {
  /**
   * A row (a chat-state table and id) stored with a started run, so a redelivered command cannot start it twice (even across
   * restarts): a start whose key is already stored is a `duplicate`.
   */
  durableKey?: { table: MetaTable<unknown>; id: string; value: unknown };
  /** What the refusal audit entry names (default: the command). */
  what?: string;
  /**
   * Called once a start passed every check, just before the run starts: the platform prepares where
   * the run will report (Discord opens its thread). A reason returned refuses the start: nothing starts.
   */
  prepare?: (workflow: string) => Promise<string | null>;
}

/** Writes a refusal to the audit log as `<platform>.refused` with the actor; never throws (a failed audit is logged). */
export async function auditRefusal(d: ChatDeps, who: ChatCaller, target: string): Promise<void> {
  await d.services.store
    .commit([], { actor: who.actor, action: `${who.platform}.refused`, target })
    .catch((err: unknown) => d.log.warn({ err }, `${who.platform}: could not audit a refusal`));
}

/** A refused request: audited, logged, and said to the person only. */
export async function refuse(d: ChatDeps, who: ChatCaller, action: string, what: string, need: Permission): Promise<Extract<ChatOutcome, { kind: 'refused' }>> {
  await auditRefusal(d, who, `${action} (${what.slice(0, 120)})`);
  d.log.info({ actor: who.actor, role: who.role, action }, `${who.platform}: refused a request`);
  return { kind: 'refused', need, role: who.role };
}

/** Runs one command for one person: permission first (a refusal is audited and nothing else happens). */
export async function execute(d: ChatDeps, who: ChatCaller, cmd: ChatCommand, o: ExecuteOptions = {}): Promise<ChatOutcome> {
  const need = NEEDS[cmd.kind];
  if (!allows(who.role, need)) return refuse(d, who, `runs.${cmd.kind}`, o.what ?? describe(cmd), need);
  const ctx = d.services;
  try {
    switch (cmd.kind) {
      case 'help':
        return { kind: 'help', role: who.role };
      case 'list': {
        const { runs, total } = await ctx.engine.list({ all: cmd.all, limit: 15 });
        return { kind: 'runs', runs, total, all: cmd.all };
      }
      case 'status': {
        if (cmd.run) return { kind: 'run', run: await ctx.engine.get(needRun(cmd.run)) };
        const counts = await ctx.runCounts();
        const active = (counts.queued ?? 0) + (counts.running ?? 0) + (counts.waiting ?? 0) + (counts.paused ?? 0);
        const { runs } = await ctx.engine.list({ all: false, limit: 10 });
        return { kind: 'overview', counts, active, runs };
      }
      case 'start':
        return await start(d, who, cmd, o);
      case 'pause':
      case 'resume':
      case 'cancel': {
        const id = needRun(cmd.run);
        const e = ctx.engine;
        const run = cmd.kind === 'pause' ? await e.pause(id, who.actor) : cmd.kind === 'resume' ? await e.resume(id, who.actor) : await e.cancel(id, who.actor);
        return { kind: 'controlled', action: cmd.kind, run };
      }
      case 'approve':
      case 'reject':
        return await decide(d, who, cmd);
      case 'respond': {
        const run = await ctx.engine.answer(needRun(cmd.run), who.actor, { kind: 'input', text: cmd.text });
        return { kind: 'responded', run };
      }
      case 'ask': {
        const a = await answerAboutRun(ctx, needRun(cmd.run), cmd.question || 'details', who.actor);
        return { kind: 'answer', text: a.answer, sources: a.sources };
      }
    }
  } catch (e) {
    if (e instanceof UsageError || isWireError(e)) return { kind: 'problem', message: e.message };
    throw e;
  }
}

class UsageError extends Error {}

function needRun(id: string): string {
  if (!RUN_ID.test(id)) throw new UsageError(`"${id.slice(0, 40)}" is not a run id (run ids look like r_8f3k2m; list shows them)`);
  return id;
}

function describe(cmd: ChatCommand): string {
  return Object.entries(cmd)
    .map(([k, v]) => (k === 'kind' ? String(v) : typeof v === 'object' ? JSON.stringify(v) : String(v)))
    .join(' ');
}

async function start(d: ChatDeps, who: ChatCaller, cmd: Extract<ChatCommand, { kind: 'start' }>, o: ExecuteOptions): Promise<ChatOutcome> {
  const ctx = d.services;
  if (o.durableKey && (await o.durableKey.table.has(o.durableKey.id))) return { kind: 'duplicate' };
  const { workflow, params } = resolveStart(ctx.workflows.current(), [cmd.workflow, ...cmd.words], ctx.config.raw.services);
  const missing = missingServerReason(workflow.workflow, ctx.config);
  if (missing) return { kind: 'not_started', reason: missing, why: 'missing_server' };
  // a URL or file path typed in chat is checked before anything starts (the tool calls are checked again)
  const why = ctx.tools.destinations.checkArgs(params, workflow.workflow);
  if (why) {
    await auditRefusal(d, who, `runs.start (${workflow.workflow.id}: ${why})`);
    return { kind: 'not_started', reason: why, why: 'destination' };
  }
  const unready = o.prepare ? await o.prepare(workflow.workflow.id) : null;
  if (unready) return { kind: 'not_started', reason: unready, why: 'platform' };
  const extraOps: StoreOp[] = o.durableKey ? [o.durableKey.table.putOp(o.durableKey.id, o.durableKey.value)] : [];
  const rec = await ctx.engine.startRun({ workflow, params, trigger: who.platform, actor: who.actor, extraOps });
  return { kind: 'started', run: await ctx.engine.get(rec.id) };
}

/**
 * Approve/reject: the first decision wins (the engine answers each wait once) and a decision bound to
 * what the person was shown (`shown`: the step and the gated call's argument hash) lands on nothing
 * else. Whether the person's role makes them an approver is decided here (chat/approvals.ts).
 */
async function decide(d: ChatDeps, who: ChatCaller, cmd: Extract<ChatCommand, { kind: 'approve' | 'reject' }>): Promise<ChatOutcome> {
  const ctx = d.services;
  const id = needRun(cmd.run);
  const decision = cmd.kind === 'approve' ? 'approved' : 'rejected';
  const before = await ctx.engine.get(id);
  if (cmd.shown && (before.waiting_for?.kind !== 'approval' || before.waiting_for.step !== cmd.shown.step)) return already(before, cmd.shown.step);
  try {
    const run = await answerApproval(ctx, who, id, { decision, comment: cmd.comment || undefined, shown: cmd.shown });
    return { kind: 'decided', decision, run };
  } catch (e) {
    if (!isWireError(e)) throw e;
    if (/may not answer/.test(e.message)) {
      await auditRefusal(d, who, `runs.${cmd.kind} (${id}${before.waiting_for ? ` ${before.waiting_for.step}` : ''}: not an approver)`);
      return { kind: 'not_approver', message: e.message };
    }
    if (!cmd.shown) return { kind: 'problem', message: e.message };
    return already(await ctx.engine.get(id).catch(() => before), cmd.shown.step);
  }
}

function already(run: RunJson, step: string): ChatOutcome {
  const d = [...(run.decisions ?? [])].reverse().find((x) => x.step === step);
  return { kind: 'already', run, step, decided: d ? { decision: d.decision, by: d.by, at: d.at } : null };
}

/** The plain rendering (Discord shows it with a little markdown). */
export function plainReply(o: ChatOutcome, accessHint: string, whereRunsReport: string): ChatReply | null {
  const r = (tone: ChatReply['tone'], text: string, extra: Partial<ChatReply> = {}): ChatReply => ({ tone, text, private: tone === 'refused' || tone === 'warning', ...extra });
  switch (o.kind) {
    case 'help':
      return r('info', helpText(o.role));
    case 'runs':
      if (o.runs.length === 0) return r('info', o.all ? 'No runs yet.' : 'Nothing is running. `/opstream start` starts a workflow.');
      return r('info', `${o.all ? 'Runs' : 'Active runs'} (${o.total}):\n${o.runs.map(runLine).join('\n')}${o.total > o.runs.length ? `\n… and ${o.total - o.runs.length} more` : ''}`);
    case 'run':
      return r('info', runLine(o.run), { run: o.run });
    case 'overview':
      return r('info', `OpStream is up; ${o.active} active run${o.active === 1 ? '' : 's'}.${o.runs.length ? `\n${o.runs.map(runLine).join('\n')}` : ''}`);
    case 'started': {
      const p = Object.entries(o.run.params)
        .filter(([, v]) => typeof v !== 'object' || (Array.isArray(v) && v.length))
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .slice(0, 6)
        .join(' ');
      return r('ok', `Started ${o.run.workflow} ${o.run.id}${p ? ` (${p})` : ''}. I'll follow it ${whereRunsReport}.`, { run: o.run, started: true });
    }
    case 'duplicate':
      return null;
    case 'controlled': {
      const verb = o.action === 'pause' ? (o.run.status === 'paused' ? 'Paused' : 'Pausing (at the next step boundary)') : o.action === 'resume' ? 'Resumed' : 'Cancelled';
      return r('ok', `${verb} ${o.run.id} (${o.run.workflow}); it is ${o.run.status}.`, { run: o.run });
    }
    case 'decided':
      return r('ok', `${o.decision === 'approved' ? 'Approved' : 'Rejected'} ${o.run.id} by ${o.run.decisions?.at(-1)?.by ?? 'you'}.`, { run: o.run });
    case 'already':
      return r(
        'info',
        o.decided
          ? `This was already ${o.decided.decision} by ${o.decided.by} at ${o.decided.at.slice(11, 19)} UTC; your click changed nothing.`
          : `Run ${o.run.id} is ${o.run.status} and no longer waits for this approval; your click changed nothing.`,
        { private: true },
      );
    case 'responded':
      return r('ok', `Answer recorded for ${o.run.id}.`);
    case 'answer':
      return r('info', o.text);
    case 'refused': {
      const mine = o.role === 'none' ? 'you have no OpStream role here' : `your role is ${o.role}`;
      return r('refused', `Sorry, that needs the ${roleNeeded(o.need)} role and ${mine}. Nothing was done. (${accessHint})`);
    }
    case 'not_started':
      return r('refused', `Not started: ${o.reason}. Nothing was done.`);
    case 'not_approver':
      return r('refused', o.message);
    case 'problem':
      return r('warning', o.message);
  }
}

export function runLine(r: RunJson): string {
  const pct = r.progress.fraction !== null && !['succeeded', 'failed', 'cancelled'].includes(r.status) ? ` ${Math.round(r.progress.fraction * 100)}%` : '';
  const step = r.current_step && ['running', 'waiting', 'paused'].includes(r.status) ? ` · step ${r.current_label ?? r.current_step}` : '';
  const wait = r.waiting_for && (r.waiting_for.kind === 'approval' || r.waiting_for.kind === 'input') ? ` · waiting for ${r.waiting_for.kind === 'approval' ? 'approval' : 'an answer'}` : '';
  return `• ${r.id} ${r.workflow} ${r.outcome ?? r.status}${pct}${step}${wait}`;
}

export function helpText(role: Role): string {
  const mine = (Object.keys(USAGE) as ChatCommandKind[]).filter((k) => allows(role, NEEDS[k]));
  return `You are ${role === 'admin' || role === 'operator' ? 'an' : 'a'} ${role}. You may:\n${mine.map((k) => `• ${USAGE[k]}`).join('\n')}`;
}
