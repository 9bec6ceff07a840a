import type { Logger } from 'pino';
import { isWireError, type RunJson } from '../../protocol/index.js';
import { resolveStart } from '../../workflows/params.js';
import { missingServerReason } from '../../workflows/tool-catalog.js';
import type { DaemonContext } from '../context.js';
import type { StoreOp } from '../store/store.js';
import { answerAboutRun } from './answer.js';
import { allows, roleNeeded, rolesHeld, type Permission, type Platform, type Role } from './roles.js';

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

/** What to tell the person: rendered by the platform adapter. */
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
  ask: 'ask <run> <question>: a question about a run, answered from what it stored',
};

const RUN_ID = /^r_[a-z0-9]{4,16}$/;

export interface ChatDeps {
  ctx(): DaemonContext;
  log: Logger;
  /** How the platform says where a run's thread is, for the reply to `start`. */
  whereRunsReport: string;
  /** How a person without a role gets one (names the config key). */
  accessHint: string;
}

export interface ExecuteOptions {
  /** Stored with a started run, so a redelivered command cannot start it twice (even across restarts). */
  durableOps?: StoreOp[];
}

const reply = (tone: ChatReply['tone'], text: string, extra: Partial<ChatReply> = {}): ChatReply => ({ tone, text, private: tone === 'refused' || tone === 'warning', ...extra });

/** A refused request: written to the audit log as `<platform>.refused` with the actor, told to the person only. */
export async function refuse(d: Pick<ChatDeps, 'ctx' | 'log' | 'accessHint'>, who: ChatCaller, action: string, what: string, need: Permission): Promise<ChatReply> {
  await d
    .ctx()
    .store.commit([], { actor: who.actor, action: `${who.platform}.refused`, target: `${action} (${what.slice(0, 120)})` })
    .catch((err: unknown) => d.log.warn({ err }, `${who.platform}: could not audit a refusal`));
  d.log.info({ actor: who.actor, role: who.role, action }, `${who.platform}: refused a request`);
  const mine = who.role === 'none' ? 'you have no OpStream role here' : `your role is ${who.role}`;
  return reply('refused', `Sorry, that needs the ${roleNeeded(need)} role and ${mine}. Nothing was done. (${d.accessHint})`);
}

/** Runs one command for one person: permission first (a refusal is audited and nothing else happens). */
export async function execute(d: ChatDeps, who: ChatCaller, cmd: ChatCommand, o: ExecuteOptions = {}): Promise<ChatReply> {
  const need = NEEDS[cmd.kind];
  if (!allows(who.role, need)) return refuse(d, who, `runs.${cmd.kind}`, describe(cmd), need);
  const ctx = d.ctx();
  try {
    switch (cmd.kind) {
      case 'help':
        return reply('info', helpText(who.role));
      case 'list': {
        const { runs, total } = await ctx.engine.list({ all: cmd.all, limit: 15 });
        if (runs.length === 0) return reply('info', cmd.all ? 'No runs yet.' : 'Nothing is running. `/opstream start` starts a workflow.');
        return reply('info', `${cmd.all ? 'Runs' : 'Active runs'} (${total}):\n${runs.map(runLine).join('\n')}${total > runs.length ? `\n… and ${total - runs.length} more` : ''}`);
      }
      case 'status': {
        if (cmd.run) {
          const run = await ctx.engine.get(needRun(cmd.run));
          return reply('info', runLine(run), { run });
        }
        const counts = await ctx.runCounts();
        const active = (counts.queued ?? 0) + (counts.running ?? 0) + (counts.waiting ?? 0) + (counts.paused ?? 0);
        const { runs } = await ctx.engine.list({ all: false, limit: 10 });
        return reply('info', `OpStream is up; ${active} active run${active === 1 ? '' : 's'}.${runs.length ? `\n${runs.map(runLine).join('\n')}` : ''}`);
      }
      case 'start':
        return await start(d, who, cmd, o);
      case 'pause':
      case 'resume':
      case 'cancel': {
        const id = needRun(cmd.run);
        const e = ctx.engine;
        const run = cmd.kind === 'pause' ? await e.pause(id, who.actor) : cmd.kind === 'resume' ? await e.resume(id, who.actor) : await e.cancel(id, who.actor);
        const verb = cmd.kind === 'pause' ? (run.status === 'paused' ? 'Paused' : 'Pausing (at the next step boundary)') : cmd.kind === 'resume' ? 'Resumed' : 'Cancelled';
        return reply('ok', `${verb} ${id} (${run.workflow}); it is ${run.status}.`, { run });
      }
      case 'approve':
      case 'reject':
        return await decide(d, who, cmd);
      case 'ask': {
        const id = needRun(cmd.run);
        const a = await answerAboutRun(ctx, id, cmd.question || 'details', who.actor);
        return reply('info', a.answer);
      }
    }
  } catch (e) {
    if (e instanceof UsageError || isWireError(e)) return reply('warning', e.message);
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

async function start(d: ChatDeps, who: ChatCaller, cmd: Extract<ChatCommand, { kind: 'start' }>, o: ExecuteOptions): Promise<ChatReply> {
  const ctx = d.ctx();
  const { workflow, params } = resolveStart(ctx.workflows.current(), [cmd.workflow, ...cmd.words], ctx.config.raw.services);
  const missing = missingServerReason(workflow.workflow, ctx.config);
  if (missing) return reply('refused', `Not started: ${missing}.`);
  // a URL or file path typed in chat is checked before anything starts (the tool calls are checked again)
  const why = ctx.tools.destinations.checkArgs(params, workflow.workflow);
  if (why) {
    await ctx.store.commit([], { actor: who.actor, action: `${who.platform}.refused`, target: `runs.start (${workflow.workflow.id}: ${why})` }).catch((err: unknown) => d.log.warn({ err }, 'chat: could not audit a refusal'));
    return reply('refused', `Not started: ${why}. Nothing was done.`);
  }
  const rec = await ctx.engine.startRun({ workflow, params, trigger: who.platform, actor: who.actor, extraOps: o.durableOps ?? [] });
  const run = await ctx.engine.get(rec.id);
  const p = Object.entries(run.params)
    .filter(([, v]) => typeof v !== 'object' || (Array.isArray(v) && v.length))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .slice(0, 6)
    .join(' ');
  return reply('ok', `Started ${run.workflow} ${run.id}${p ? ` (${p})` : ''}. I'll follow it ${d.whereRunsReport}.`, { run, started: true });
}

/**
 * Approve/reject: the first decision wins (the engine answers each wait once) and a decision bound to
 * what the person was shown (`shown`: the step and the gated call's argument hash) lands on nothing
 * else. An approval's `approvers` may name roles: the layer vouches for the roles this person holds.
 */
async function decide(d: ChatDeps, who: ChatCaller, cmd: Extract<ChatCommand, { kind: 'approve' | 'reject' }>): Promise<ChatReply> {
  const ctx = d.ctx();
  const id = needRun(cmd.run);
  const decision = cmd.kind === 'approve' ? 'approved' : 'rejected';
  const before = await ctx.engine.get(id);
  if (cmd.shown && (before.waiting_for?.kind !== 'approval' || before.waiting_for.step !== cmd.shown.step)) return reply('info', alreadyText(before, cmd.shown.step));
  try {
    const run = await ctx.engine.answer(id, who.actor, { kind: 'approval', decision, comment: cmd.comment || undefined, ...(cmd.shown ? { shown: cmd.shown } : {}) }, { roles: rolesHeld(who.role) });
    return reply('ok', `${decision === 'approved' ? 'Approved' : 'Rejected'} ${id} by ${who.actor}.`, { run });
  } catch (e) {
    if (!isWireError(e)) throw e;
    if (/may not answer/.test(e.message)) {
      await ctx.store.commit([], { actor: who.actor, action: `${who.platform}.refused`, target: `runs.${cmd.kind} (${id}: not an approver)` });
      return reply('refused', e.message);
    }
    const now = await ctx.engine.get(id).catch(() => before);
    return reply('info', cmd.shown ? alreadyText(now, cmd.shown.step) : e.message);
  }
}

function alreadyText(run: RunJson, step: string): string {
  const d = [...(run.decisions ?? [])].reverse().find((x) => x.step === step);
  if (d) return `This was already ${d.decision} by ${d.by} at ${d.at.slice(11, 19)} UTC; your click changed nothing.`;
  return `Run ${run.id} is ${run.status} and no longer waits for this approval; your click changed nothing.`;
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
