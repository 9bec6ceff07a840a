import { ApplicationCommandOptionType, ApplicationCommandType, type RESTPutAPIApplicationCommandsJSONBody } from 'discord.js';
import type { ChatCommand, ChatCommandKind } from '../chat/commands.js';

const run = (required = true) => ({ type: ApplicationCommandOptionType.String, name: 'run', description: 'Run id, e.g. r_8f3k2m', required, min_length: 6, max_length: 18 });

/**
 * The one `/opstream` application command, its subcommands typed (workflow names offered by
 * autocomplete, so a newly added workflow needs no re-registration).
 */
export function commandDefinition(): RESTPutAPIApplicationCommandsJSONBody {
  const sub = (name: ChatCommandKind, description: string, options: unknown[] = []) => ({ type: ApplicationCommandOptionType.Subcommand, name, description, options });
  return [
    {
      type: ApplicationCommandType.ChatInput,
      name: 'opstream',
      description: 'Start, follow and answer OpStream workflow runs',
      options: [
        sub('start', 'Start a workflow', [
          { type: ApplicationCommandOptionType.String, name: 'workflow', description: 'Workflow id or verb', required: true, autocomplete: true },
          { type: ApplicationCommandOptionType.String, name: 'args', description: 'Words or key=value params, e.g. checkout-api for 2h', required: false, max_length: 500 },
        ]),
        sub('status', 'One run, or the daemon and its active runs', [run(false)]),
        sub('list', 'Active runs', [{ type: ApplicationCommandOptionType.Boolean, name: 'all', description: 'Recent runs too', required: false }]),
        sub('pause', 'Pause a run', [run()]),
        sub('resume', 'Resume a run', [run()]),
        sub('cancel', 'Cancel a run', [run()]),
        sub('approve', 'Approve what a run waits for', [run(), { type: ApplicationCommandOptionType.String, name: 'comment', description: 'Why', required: false, max_length: 300 }]),
        sub('reject', 'Reject what a run waits for', [run(), { type: ApplicationCommandOptionType.String, name: 'comment', description: 'Why', required: false, max_length: 300 }]),
        sub('ask', 'Ask about a run', [run(), { type: ApplicationCommandOptionType.String, name: 'question', description: 'Your question', required: true, max_length: 500 }]),
        sub('help', 'What you may do here'),
      ],
    },
  ] as RESTPutAPIApplicationCommandsJSONBody;
}

export interface InteractionOption {
  name: string;
  type: number;
  value?: string | number | boolean;
  focused?: boolean;
  options?: InteractionOption[];
}

/** A subcommand and its options -> a typed command, or a one-line problem for the person. */
export function parseSubcommand(options: InteractionOption[] | undefined): { cmd: ChatCommand } | { problem: string } {
  const sub = options?.[0];
  if (!sub || sub.type !== ApplicationCommandOptionType.Subcommand) return { problem: 'Use a subcommand: /opstream help lists them.' };
  const o = new Map((sub.options ?? []).map((x) => [x.name, x.value]));
  const str = (k: string): string | undefined => (typeof o.get(k) === 'string' ? String(o.get(k)).trim() : undefined);
  const need = (k: string): string => {
    const v = str(k);
    if (!v) throw new Missing(`/opstream ${sub.name} needs the ${k} option.`);
    return v;
  };
  try {
    switch (sub.name) {
      case 'help':
        return { cmd: { kind: 'help' } };
      case 'list':
        return { cmd: { kind: 'list', all: o.get('all') === true } };
      case 'status':
        return { cmd: { kind: 'status', run: str('run') } };
      case 'start':
        return { cmd: { kind: 'start', workflow: need('workflow'), words: (str('args') ?? '').split(/\s+/).filter(Boolean) } };
      case 'pause':
      case 'resume':
      case 'cancel':
        return { cmd: { kind: sub.name, run: need('run') } };
      case 'approve':
      case 'reject':
        return { cmd: { kind: sub.name, run: need('run'), comment: str('comment') } };
      case 'ask':
        return { cmd: { kind: 'ask', run: need('run'), question: need('question') } };
      default:
        return { problem: `Unknown subcommand "${sub.name.slice(0, 40)}"; /opstream help lists them. Nothing was done.` };
    }
  } catch (e) {
    if (e instanceof Missing) return { problem: `${e.message} Nothing was done.` };
    throw e;
  }
}

class Missing extends Error {}

/**
 * Approve/Reject buttons name the wait they were made for: `op|<approve|reject>|<run>|<step>|<hash>`
 * (the first 16 characters of the gated call's argument hash, `-` for none). A click lands only on
 * that wait (custom ids are at most 100 characters, so the full hash is checked through its prefix).
 */
export function buttonId(decision: 'approve' | 'reject', run: string, step: string, argsHash: string | null): string {
  return `op|${decision}|${run}|${step}|${argsHash ? argsHash.slice(0, 16) : '-'}`.slice(0, 100);
}

export function parseButtonId(id: string): { decision: 'approve' | 'reject'; run: string; step: string; hash: string | null } | null {
  const m = /^op\|(approve|reject)\|(r_[a-z0-9]{4,16})\|([^|]+)\|([0-9a-zA-Z_-]+)$/.exec(id);
  if (!m) return null;
  return { decision: m[1] as 'approve' | 'reject', run: m[2], step: m[3], hash: m[4] === '-' ? null : m[4] };
}
