import type { WebClient } from '@slack/web-api';
import { closest, distance } from 'fastest-levenshtein';
import type { Logger } from 'pino';
import type { CompiledSlack } from '../../config/load.js';
import { isWireError, type RunJson, type SlackConnectionStatus } from '../../protocol/index.js';
import type { ChatServices } from '../chat/services.js';
import { mrkdwnMessage, progressBar, runHeader, type SlackMessage } from './blocks.js';
import { applyPrefWords, prefsText, type PrefsStore } from './prefs.js';
import { execute, refuse, type ChatCommand, type ChatOutcome } from '../chat/commands.js';
import { isWorkflowWord, type Vocabulary } from '../chat/intent.js';
import { roleNeeded } from '../chat/roles.js';
import { allows, type Permission, type Role } from './roles.js';
import { esc, joinDurations } from './text.js';
import type { MetaTable } from '../repos/meta-table.js';

/** Who asks, as the engine and the audit log will record it. */
export interface Caller {
  user: string;
  role: Role;
  /** `slack:U...` */
  actor: string;
  channel: string;
}

export interface CommandDeps {
  services: ChatServices;
  cfg: CompiledSlack;
  prefs: PrefsStore;
  web: WebClient;
  log: Logger;
  status(): SlackConnectionStatus;
  /** Where a run this person starts will report (for the reply). */
  whereFor(user: string): string;
}

export interface CommandReply {
  msg: SlackMessage;
  /** Posted for the channel to see (default: only the person who asked). */
  public?: boolean;
  /** A refusal (or the access note for someone without a role): only ever shown to the person who asked. */
  refused?: boolean;
}

interface Spec {
  need: Permission;
  /** For help. */
  usage: string;
  run(d: CommandDeps, who: Caller, args: string[], opts: RunOpts): Promise<CommandReply | null>;
}

export interface RunOpts {
  /** An id (in the chat state's slack command guards) stored with a started run, so a redelivered command cannot start it twice (even across restarts). */
  durableKey?: string;
  /** The words as typed, for a refusal's audit entry. */
  what?: string;
}

const RUN_ID = /^r_[a-z0-9]{4,16}$/;

const say = (mrkdwn: string): CommandReply => ({ msg: mrkdwnMessage(mrkdwn) });

function needId(args: string[], what: string): string {
  const id = args[0];
  if (!id) throw new UsageError(`${what} needs a run id, e.g. \`${what} r_8f3k2m\` (\`list\` shows them)`);
  if (!RUN_ID.test(id)) throw new UsageError(`\`${esc(id)}\` is not a run id (run ids look like r_8f3k2m; \`list\` shows them)`);
  return id;
}

class UsageError extends Error {}

const COMMANDS: Record<string, Spec> = {
  help: { need: 'read', usage: 'help', run: async (d) => ({ msg: helpMessage(d) }) },
  list: {
    need: 'read',
    usage: 'list [all]',
    run: (d, who, args, opts) => viaLayer(d, who, { kind: 'list', all: args[0] === 'all' || args[0] === '--all' }, opts),
  },
  status: {
    need: 'read',
    usage: 'status [run-id]',
    run: (d, who, args, opts) => viaLayer(d, who, { kind: 'status', run: args[0] ? needId(args, 'status') : undefined }, opts),
  },
  start: {
    need: 'operate',
    usage: 'start <workflow> [words or key=value ...]',
    run(d, who, args, opts) {
      if (!args.length) throw new UsageError('start needs a workflow: `start <workflow> [words]` (`help` lists them)');
      const [workflow, ...words] = joinDurations(args);
      return viaLayer(d, who, { kind: 'start', workflow, words }, opts);
    },
  },
  pause: { need: 'operate', usage: 'pause <run-id>', run: (d, who, args, opts) => viaLayer(d, who, { kind: 'pause', run: needId(args, 'pause') }, opts) },
  resume: { need: 'operate', usage: 'resume <run-id>', run: (d, who, args, opts) => viaLayer(d, who, { kind: 'resume', run: needId(args, 'resume') }, opts) },
  cancel: { need: 'operate', usage: 'cancel <run-id>', run: (d, who, args, opts) => viaLayer(d, who, { kind: 'cancel', run: needId(args, 'cancel') }, opts) },
  approve: { need: 'operate', usage: 'approve <run-id> [comment]', run: (d, who, args, opts) => viaLayer(d, who, { kind: 'approve', run: needId(args, 'approve'), comment: args.slice(1).join(' ') }, opts) },
  reject: { need: 'operate', usage: 'reject <run-id> [comment]', run: (d, who, args, opts) => viaLayer(d, who, { kind: 'reject', run: needId(args, 'reject'), comment: args.slice(1).join(' ') }, opts) },
  respond: {
    need: 'operate',
    usage: 'respond <run-id> <answer>',
    run(d, who, args, opts) {
      const id = needId(args, 'respond');
      const text = args.slice(1).join(' ');
      if (!text) throw new UsageError('respond needs the answer after the run id');
      return viaLayer(d, who, { kind: 'respond', run: id, text }, opts);
    },
  },
  ask: {
    need: 'read',
    usage: 'ask <run-id> <question>',
    run: (d, who, args, opts) => viaLayer(d, who, { kind: 'ask', run: needId(args, 'ask'), question: args.slice(1).join(' ') || 'details' }, opts),
  },
  prefs: {
    need: 'read',
    usage: 'prefs [dm|channel] [kinds completion,error|all] [quiet 22:00-07:00|off] [tz Europe/Berlin|auto]',
    async run(d, who, args) {
      const cur = d.prefs.get(who.user);
      if (args.length === 0) return say(`Your preferences:\n${prefsText(cur)}\nChange with \`prefs dm\`, \`prefs kinds completion,error\`, \`prefs quiet 22:00-07:00\`, \`prefs tz Europe/Berlin\`.`);
      const r = applyPrefWords(cur, args);
      if ('problem' in r) throw new UsageError(r.problem);
      if (r.prefs.quiet_hours && !r.prefs.timezone && !r.prefs.slack_tz) {
        // their Slack time zone is the default for personal quiet hours
        try {
          const info = await d.web.users.info({ user: who.user });
          r.prefs.slack_tz = (info.user as { tz?: string } | undefined)?.tz ?? null;
        } catch (e) {
          d.log.info({ err: (e as Error).message }, 'slack: users.info failed; quiet hours in UTC');
        }
      }
      const saved = await d.prefs.set(who.user, r.prefs, who.actor);
      return say(`Saved. Your preferences:\n${prefsText(saved)}`);
    },
  },
  schedules: {
    need: 'read',
    usage: 'schedules [pause|resume <workflow>]',
    async run(d, who, args) {
      const s = d.services.engine.schedules;
      if (args[0] === 'pause' || args[0] === 'resume') {
        if (!allows(who.role, 'admin')) return refusal(d, who, `schedules.${args[0]}`, `schedules ${args[0]}`, 'admin');
        if (!args[1]) throw new UsageError(`schedules ${args[0]} needs a workflow id`);
        const r = await s.setPaused(args[1], args[0] === 'pause', who.actor);
        return say(`Schedule of *${esc(r.workflow)}* is ${r.paused ? 'paused' : `running; next at ${r.next_fire ?? '-'}`}.`);
      }
      const list = s.list();
      if (!list.length) return say('No scheduled workflows.');
      return say(list.map((x) => `• *${esc(x.workflow)}* \`${esc(x.cron)}\` ${x.paused ? '(paused)' : `next ${x.next_fire ?? '-'}`}`).join('\n'));
    },
  },
};

/** Aliases people type. */
const ALIASES: Record<string, string> = { stop: 'cancel', ls: 'list', '?': 'help', run: 'start', details: 'ask', report: 'ask', answer: 'respond', approve_: 'approve' };

export function commandNames(): string[] {
  return Object.keys(COMMANDS);
}

/** The command a first word names, if any. */
export function commandOf(word: string | undefined): string | null {
  if (!word) return null;
  const w = word.toLowerCase();
  return COMMANDS[w] ? w : (ALIASES[w] ?? null);
}

/** Slack's command words for the chat layer's intent parser (its own commands, `prefs` and `schedules` included). */
export const SLACK_VOCABULARY: Vocabulary = { platform: 'slack', names: commandNames, commandOf };

/**
 * Runs one `/opstream` command line for a Slack user: permission first (a refusal is audited and
 * nothing else happens), then the daemon's services do the work on behalf of `slack:U...`.
 * Returns null when there is nothing to say (a duplicate that was already handled).
 */
export async function runCommand(d: CommandDeps, who: Caller, words: string[], opts: RunOpts = {}): Promise<CommandReply | null> {
  const [head, ...rest] = words;
  let name = commandOf(head);
  let args = rest;
  // someone without a role learns how to get one, and nothing about the workflows or commands
  if (who.role === 'none' && (!head || name === 'help')) return accessMessage(d, who);
  if (!name) {
    if (!head) return { msg: helpMessage(d) };
    if (!isWorkflowWord(d.services, head)) return say(suggestion(d, words.join(' ')));
    name = 'start';
    args = words;
  }
  if (name === 'ask' && head && ['details', 'report'].includes(head.toLowerCase())) args = [rest[0] ?? '', 'details'];
  const spec = COMMANDS[name];
  if (!allows(who.role, spec.need)) return refusal(d, who, `runs.${name}`, words.join(' '), spec.need === 'operate' ? 'operator' : spec.need === 'admin' ? 'admin' : 'viewer');
  try {
    return await spec.run(d, who, args, { ...opts, what: words.join(' ') });
  } catch (e) {
    if (e instanceof UsageError) return say(`:warning: ${e.message}`);
    if (isWireError(e)) return say(`:warning: ${esc(e.message)}`);
    throw e;
  }
}

/** A refused request: audited by the chat layer (as `slack.refused`), told to the person only. */
export async function refusal(d: Pick<CommandDeps, 'services' | 'log'>, who: Caller, action: string, what: string, needs: string): Promise<CommandReply> {
  await refuse({ services: d.services, log: d.log }, { ...who, platform: 'slack' }, action, what, needs === 'operator' ? 'operate' : needs === 'admin' ? 'admin' : 'read');
  return refusalReply(who, needs);
}

/** A refusal the chat layer made (and audited), in Slack's words. */
export function refusalOf(who: Pick<Caller, 'role'>, o: Extract<ChatOutcome, { kind: 'refused' }>): CommandReply {
  return refusalReply(who, roleNeeded(o.need));
}

function refusalReply(who: Pick<Caller, 'role'>, needs: string): CommandReply {
  const mine = who.role === 'none' ? 'you have no OpStream role here' : `your role is ${who.role}`;
  return { ...say(`:no_entry: Sorry, that needs the ${needs} role and ${mine}. Nothing was done. (An admin can add you under \`slack.users\`.)`), refused: true };
}

/** `help` for someone without a role: how to get access, nothing more. */
export function accessMessage(d: Pick<CommandDeps, 'cfg'>, who: Pick<Caller, 'user'>): CommandReply {
  return {
    msg: mrkdwnMessage(`:lock: You have no OpStream role in this workspace yet. To get one, ask whoever runs OpStream here to add your Slack user id \`${esc(who.user)}\` under \`slack.users\` in their config.yaml (as viewer, operator or admin); then \`${esc(d.cfg.command)} help\` shows what you may do.`, 'You have no OpStream role here yet; ask an OpStream admin to add you under slack.users.'),
    refused: true,
  };
}

/** A command carried out by the chat layer (chat/commands.ts), its outcome said in Slack's words. */
async function viaLayer(d: CommandDeps, who: Caller, cmd: ChatCommand, opts: RunOpts): Promise<CommandReply | null> {
  const durableKey = opts.durableKey ? { table: d.services.repos.chat.slackCommands as MetaTable<unknown>, id: opts.durableKey, value: { at: new Date().toISOString(), user: who.user } } : undefined;
  const o = await execute({ services: d.services, log: d.log }, { ...who, platform: 'slack' }, cmd, { durableKey, what: opts.what });
  switch (o.kind) {
    case 'help':
      return { msg: helpMessage(d) };
    case 'runs':
      if (o.runs.length === 0) return say(o.all ? 'No runs yet.' : 'Nothing is running. `start <workflow>` or a verb such as `profile my-service for 2h` starts something.');
      return say(`${o.all ? 'Runs' : 'Active runs'} (${o.total}):\n${o.runs.map(runLine).join('\n')}${o.total > o.runs.length ? `\n… and ${o.total - o.runs.length} more` : ''}`);
    case 'run':
      return { msg: runHeader(o.run) };
    case 'overview': {
      const s = d.status();
      return say(`OpStream is up; ${o.active} active run${o.active === 1 ? '' : 's'} (${Object.entries(o.counts).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none yet'}). Slack: ${s.state}, ${s.reconnects} reconnect${s.reconnects === 1 ? '' : 's'}.${o.runs.length ? `\n${o.runs.map(runLine).join('\n')}` : ''}`);
    }
    case 'started':
      return started(d, who, o.run);
    case 'duplicate':
      return null;
    case 'controlled': {
      const run = o.run;
      const verb = o.action === 'pause' ? (run.status === 'paused' ? 'Paused' : 'Pausing (at the next step boundary)') : o.action === 'resume' ? 'Resumed' : 'Cancelled';
      return say(`${verb} \`${run.id}\` (${esc(run.workflow)}); it is ${run.status}.`);
    }
    case 'decided':
      return say(`${o.decision === 'approved' ? ':white_check_mark: Approved' : ':no_entry: Rejected'} \`${o.run.id}\`.`);
    case 'already':
      return say(`:information_source: ${o.decided ? `This was already ${o.decided.decision} by ${o.decided.by.startsWith('slack:') ? `<@${o.decided.by.slice(6)}>` : esc(o.decided.by)}.` : `\`${o.run.id}\` no longer waits for this approval.`}`);
    case 'responded':
      return say(`:white_check_mark: Answer recorded for \`${o.run.id}\`.`);
    case 'answer':
      return say(esc(o.text));
    case 'refused':
      return refusalReply(who, roleNeeded(o.need));
    case 'not_started':
      return { ...say(o.why === 'destination' ? `:no_entry: Not started: ${esc(o.reason)}. Nothing was done.` : `:no_entry: Not started: ${esc(o.reason)}.`), refused: true };
    case 'not_approver':
    case 'problem':
      return say(`:warning: ${esc(o.message)}`);
  }
}

/** A run started from Slack: its thread appears at once, even for workflows that do not announce their start. */
async function started(d: CommandDeps, who: Caller, run: RunJson): Promise<CommandReply> {
  const ctx = d.services;
  const wf = ctx.workflows.current().workflows.get(run.workflow)?.workflow;
  if (wf && !wf.notifications.includes('start')) {
    const p = Object.entries(run.params).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
    await ctx.notifier.send({ kind: 'start', level: 'info', title: `${run.workflow} ${run.id} started`, text: `started by ${who.actor}${p ? ` with ${p}` : ''}` }, { id: run.id, workflow: run.workflow, actor: who.actor });
  }
  const p = Object.entries(run.params).filter(([, v]) => typeof v !== 'object' || (Array.isArray(v) && v.length)).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).slice(0, 6).join(' ');
  return say(`:rocket: Started *${esc(run.workflow)}* \`${run.id}\`${p ? ` (${esc(p)})` : ''}. I'll follow it ${d.whereFor(who.user)}.`);
}

function runLine(r: RunJson): string {
  const pct = r.progress.fraction !== null && !['succeeded', 'failed', 'cancelled'].includes(r.status) ? ` \`${progressBar(r.progress.fraction, 8)}\` ${Math.round(r.progress.fraction * 100)}%` : '';
  const step = r.current_step && ['running', 'waiting', 'paused'].includes(r.status) ? ` · step ${esc(r.current_step)}` : '';
  const wait = r.waiting_for && (r.waiting_for.kind === 'approval' || r.waiting_for.kind === 'input') ? ` · :raised_hand: waiting for ${r.waiting_for.kind === 'approval' ? 'approval' : 'an answer'}` : '';
  return `• \`${r.id}\` *${esc(r.workflow)}* ${r.status}${pct}${step}${wait}`;
}

function workflowLines(d: Pick<CommandDeps, 'services' | 'cfg'>): string[] {
  return [...d.services.workflows.current().workflows.values()]
    .map((w) => w.workflow)
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((w) => `• \`${d.cfg.command} ${w.command ? `${w.command}${w.usage ? ` ${esc(w.usage)}` : ''}` : `start ${w.id}`}\`${w.description ? ` – ${esc(w.description.split('. ')[0])}` : ''}`);
}

export function helpMessage(d: Pick<CommandDeps, 'services' | 'cfg'>): SlackMessage {
  const c = d.cfg.command;
  const cmds = Object.entries(COMMANDS).map(([, s]) => `\`${c} ${s.usage}\``);
  return mrkdwnMessage(
    [
      '*OpStream* runs long operations work in the background and reports here.',
      `*Workflows*\n${workflowLines(d).join('\n') || 'none loaded'}`,
      `*Commands*\n${cmds.join('\n')}`,
      'Or just write to me (DM or @mention): "profile checkout-api for 2 hours", "what is running?". In a run\'s thread, ask "why?" or "show me the details".',
      'Roles: viewers may look (status, list, ask); operators may start, pause, resume, cancel and approve; admins may also change schedules.',
    ].join('\n\n'),
    'OpStream help',
  );
}

/** Nothing matched: the nearest command or workflow verb, with its usage. */
export function suggestion(d: Pick<CommandDeps, 'services' | 'cfg'>, text: string): string {
  const set = d.services.workflows.current();
  const verbs = new Map<string, string>();
  for (const w of set.workflows.values()) {
    if (w.workflow.command) verbs.set(w.workflow.command, `${w.workflow.command}${w.workflow.usage ? ` ${w.workflow.usage}` : ''}`);
    verbs.set(w.workflow.id, `start ${w.workflow.id}`);
  }
  for (const [name, s] of Object.entries(COMMANDS)) verbs.set(name, s.usage);
  const words = text.toLowerCase().split(/\s+/).filter((w) => w.length > 2);
  let best: { word: string; d: number } | null = null;
  for (const w of words) {
    const near = closest(w, [...verbs.keys()]);
    const dist = distance(w, near);
    if (dist <= Math.max(2, Math.floor(near.length / 3)) && (!best || dist < best.d)) best = { word: near, d: dist };
  }
  const hint = best ? `Did you mean \`${d.cfg.command} ${esc(verbs.get(best.word) ?? best.word)}\`? ` : '';
  return `:thinking_face: I didn't understand "${esc(text.slice(0, 200))}". ${hint}\`${d.cfg.command} help\` lists what I can do.`;
}
