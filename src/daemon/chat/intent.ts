import type { Logger } from 'pino';
import type { ChatServices } from './services.js';
import type { Platform } from './roles.js';
import { joinDurations, splitWords } from './text.js';
import type { ChatCommand } from './commands.js';

/** How plain words were understood: command words to run, or nothing matched. */
export type Intent = { words: string[]; by: 'command' | 'grammar' | 'llm' } | { words: null };

/**
 * The command words a platform understands (every platform has the chat layer's commands; Slack adds
 * `prefs` and `schedules`). The intent parser maps a sentence onto these words only.
 */
export interface Vocabulary {
  platform: Platform;
  /** Every command name, for the model's prompt. */
  names(): string[];
  /** The command a first word names (an alias included), if any. */
  commandOf(word: string | undefined): string | null;
}

/** Whether a word starts a workflow (its id or its `command` verb). */
export function isWorkflowWord(ctx: ChatServices, word: string | undefined): boolean {
  if (!word) return false;
  const set = ctx.workflows.current();
  return set.workflows.has(word) || set.byCommand(word.toLowerCase()) !== undefined;
}

const NEUTRAL = ['help', 'list', 'status', 'start', 'pause', 'resume', 'cancel', 'approve', 'reject', 'respond', 'ask'] as const;
const ALIASES: Record<string, string> = { stop: 'cancel', ls: 'list', '?': 'help', run: 'start', details: 'ask', report: 'ask', answer: 'respond' };

function neutralCommandOf(word: string | undefined): string | null {
  if (!word) return null;
  const w = word.toLowerCase();
  return (NEUTRAL as readonly string[]).includes(w) ? w : (ALIASES[w] ?? null);
}

/** The chat layer's own commands: what a platform without commands of its own understands in plain words. */
export const NEUTRAL_VOCABULARY = (platform: Platform): Vocabulary => ({ platform, names: () => [...NEUTRAL], commandOf: neutralCommandOf });

/**
 * Command words (as `mapIntent` gives them, in the neutral vocabulary) -> a typed command, or a
 * one-line problem. A workflow word starts that workflow with the words after it.
 */
export function commandFromWords(ctx: ChatServices, words: string[]): { cmd: ChatCommand } | { problem: string } {
  const [head, ...rest] = words;
  const name = neutralCommandOf(head);
  const runOf = (what: string): string => {
    if (!rest[0]) throw new Problem(`${what} needs a run id, e.g. "${what} r_8f3k2m" (list shows them)`);
    return rest[0];
  };
  try {
    switch (name) {
      case 'help':
        return { cmd: { kind: 'help' } };
      case 'list':
        return { cmd: { kind: 'list', all: rest[0] === 'all' || rest[0] === '--all' } };
      case 'status':
        return { cmd: { kind: 'status', run: rest[0] } };
      case 'start': {
        if (!rest.length) throw new Problem('start needs a workflow: "start <workflow> [words]" (help lists them)');
        const [workflow, ...w] = joinDurations(rest);
        return { cmd: { kind: 'start', workflow, words: w } };
      }
      case 'pause':
      case 'resume':
      case 'cancel':
        return { cmd: { kind: name, run: runOf(name) } };
      case 'approve':
      case 'reject':
        return { cmd: { kind: name, run: runOf(name), comment: rest.slice(1).join(' ') || undefined } };
      case 'respond': {
        const run = runOf('respond');
        if (!rest[1]) throw new Problem('respond needs the answer after the run id');
        return { cmd: { kind: 'respond', run, text: rest.slice(1).join(' ') } };
      }
      case 'ask':
        return { cmd: { kind: 'ask', run: runOf('ask'), question: rest.slice(1).join(' ') || 'details' } };
      default: {
        if (!isWorkflowWord(ctx, head)) return { problem: `I didn't understand "${words.join(' ').slice(0, 200)}"; help lists what I can do.` };
        const [workflow, ...w] = joinDurations(words);
        return { cmd: { kind: 'start', workflow, words: w } };
      }
    }
  } catch (e) {
    if (e instanceof Problem) return { problem: e.message };
    throw e;
  }
}

class Problem extends Error {}

const RUN_ID = /\br_[a-z0-9]{4,16}\b/;

/**
 * A DM or @mention in plain words -> the `/opstream` command it means. Command words and workflow
 * verbs are taken as they are; then the LLM (when one is configured) maps the sentence, checked
 * against the same commands; then a small grammar ("what is running?", "pause r_x", "please
 * profile checkout-api for 2 hours"). The caller answers with a suggestion when nothing matches.
 */
export async function mapIntent(ctx: ChatServices, text: string, log: Logger, vocab: Vocabulary): Promise<Intent> {
  const words = splitWords(text);
  if (words.length === 0) return { words: ['help'], by: 'grammar' };
  if (vocab.commandOf(words[0]) || isWorkflowWord(ctx, words[0])) return { words, by: 'command' };
  if (ctx.llm) {
    const mapped = await byLlm(ctx, text, log, vocab);
    if (mapped) return { words: mapped, by: 'llm' };
  }
  const g = byGrammar(ctx, text, words);
  // a command this platform does not have (Slack's prefs, say) is no match here
  return g && (vocab.commandOf(g[0]) || isWorkflowWord(ctx, g[0])) ? { words: g, by: 'grammar' } : { words: null };
}

function byGrammar(ctx: ChatServices, text: string, words: string[]): string[] | null {
  const t = text.toLowerCase().replace(/[?!.]+$/g, '');
  const id = RUN_ID.exec(t)?.[0];
  if (/^(hi|hello|hey|help|what can you do)\b/.test(t) || /\bhelp\b/.test(t)) return ['help'];
  const verb = /\b(pause|resume|continue|cancel|stop|abort|approve|reject|deny|fix)\b/.exec(t)?.[1];
  if (verb && id) {
    // "fix r_x" / "fix it, r_x": the approval that run waits for (its fix), as in a run's thread
    const map: Record<string, string> = { continue: 'resume', stop: 'cancel', abort: 'cancel', deny: 'reject', fix: 'approve' };
    return [map[verb] ?? verb, id];
  }
  if (id && /\b(status|how|progress|where|state|doing)\b/.test(t)) return ['status', id];
  if (id) return ['ask', id, ...words.filter((w) => !RUN_ID.test(w))];
  if (/\b(what('?s| is)?|anything|who('?s| is)?)\b.*\b(running|going on|active|happening|in progress)\b/.test(t) || /\b(active|running) runs\b/.test(t) || /^(list|runs)\b/.test(t)) return ['list'];
  if (/\b(all|recent|past|previous) runs\b/.test(t)) return ['list', 'all'];
  if (/\bschedules?\b/.test(t)) return ['schedules'];
  if (/\b(my )?(prefs|preferences|settings)\b/.test(t)) return ['prefs'];
  // "please profile checkout-api for 2 hours", "can you run hello": from the first workflow word on
  const at = words.findIndex((w) => isWorkflowWord(ctx, w.toLowerCase()));
  if (at >= 0) return words.slice(at).map((w, i) => (i === 0 ? w.toLowerCase() : w));
  return null;
}

async function byLlm(ctx: ChatServices, text: string, log: Logger, vocab: Vocabulary): Promise<string[] | null> {
  const llm = ctx.llm;
  if (!llm) return null;
  const wfs = [...ctx.workflows.current().workflows.values()].map((w) => w.workflow);
  const catalog = wfs.map((w) => `- ${w.command ? `${w.command} ${w.usage ?? ''}`.trim() : `start ${w.id}`}: ${w.description ?? w.name ?? w.id}`).join('\n');
  const system = [
    'You map a chat message to ONE command line of the OpStream CLI, or to nothing.',
    `Commands: ${vocab.names().join(', ')} (status/pause/resume/cancel/approve/reject/ask take a run id like r_8f3k2m; list takes optional "all").`,
    'Workflows are started by their verb followed by their usage words:',
    catalog,
    'Durations are written like 2h, 30m. Answer with JSON {"command": "<the command line without a leading slash>"} or {"command": ""} when the message asks for none of these.',
  ].join('\n');
  try {
    const reply = await llm.chat(
      {
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: text },
        ],
        format: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
        temperature: 0,
        max_tokens: 120,
      },
      { signal: AbortSignal.timeout(30_000) },
    );
    const line = String((JSON.parse(reply.message.content) as { command?: unknown }).command ?? '').replace(/^\/?opstream\s+/, '').trim();
    const words = splitWords(line);
    // only what the commands themselves accept: the model proposes, the grammar disposes
    if (words.length && (vocab.commandOf(words[0]) || isWorkflowWord(ctx, words[0]))) return words;
    return null;
  } catch (e) {
    log.info({ err: (e as Error).message }, `${vocab.platform}: the LLM could not map a message; using the grammar`);
    return null;
  }
}

const APPROVE = /^(please |ok(ay)?,? |yes,? |yep,? )*(fix it|fix this|fix|apply it|apply the fix|apply|approve(d)?|go ahead|do it|ship it|lgtm|remediate)( (now|please|then))?$/;
const REJECT = /^(please |no,? )*(reject(ed)?|don'?t( fix it| apply it| do it)?|do not( fix it| apply it)?|leave it|skip it|deny|not now|hold off)( (now|please|then))?$/;

/**
 * A reply in the thread of a run that waits for an approval: "fix it", "go ahead", "approve" ->
 * approved; "don't", "not now", "reject" -> rejected; anything else is not a decision (a question,
 * or people talking). Deliberately short phrases only: a sentence that merely mentions fixing is
 * not a yes.
 */
export function approvalDecision(text: string): 'approved' | 'rejected' | null {
  const t = text.toLowerCase().replace(/[\u2019]/g, "'").replace(/[!.\s]+$/g, '').replace(/\s+/g, ' ').trim();
  if (APPROVE.test(t)) return 'approved';
  if (REJECT.test(t)) return 'rejected';
  return null;
}
