import type { Logger } from 'pino';
import type { DaemonContext } from '../context.js';
import { commandNames, commandOf, isWorkflowWord } from './commands.js';
import { splitWords } from './text.js';

/** How plain words were understood: command words to run, or nothing matched. */
export type Intent = { words: string[]; by: 'command' | 'grammar' | 'llm' } | { words: null };

const RUN_ID = /\br_[a-z0-9]{4,16}\b/;

/**
 * A DM or @mention in plain words -> the `/opstream` command it means. Command words and workflow
 * verbs are taken as they are; then the LLM (when one is configured) maps the sentence, checked
 * against the same commands; then a small grammar ("what is running?", "pause r_x", "please
 * profile checkout-api for 2 hours"). The caller answers with a suggestion when nothing matches.
 */
export async function mapIntent(ctx: DaemonContext, text: string, log: Logger): Promise<Intent> {
  const words = splitWords(text);
  if (words.length === 0) return { words: ['help'], by: 'grammar' };
  if (commandOf(words[0]) || isWorkflowWord(ctx, words[0])) return { words, by: 'command' };
  if (ctx.llm) {
    const mapped = await byLlm(ctx, text, log);
    if (mapped) return { words: mapped, by: 'llm' };
  }
  const g = byGrammar(ctx, text, words);
  return g ? { words: g, by: 'grammar' } : { words: null };
}

function byGrammar(ctx: DaemonContext, text: string, words: string[]): string[] | null {
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

async function byLlm(ctx: DaemonContext, text: string, log: Logger): Promise<string[] | null> {
  const llm = ctx.llm;
  if (!llm) return null;
  const wfs = [...ctx.workflows.current().workflows.values()].map((w) => w.workflow);
  const catalog = wfs.map((w) => `- ${w.command ? `${w.command} ${w.usage ?? ''}`.trim() : `start ${w.id}`}: ${w.description ?? w.name ?? w.id}`).join('\n');
  const system = [
    'You map a chat message to ONE command line of the OpStream CLI, or to nothing.',
    `Commands: ${commandNames().join(', ')} (status/pause/resume/cancel/approve/reject/ask take a run id like r_8f3k2m; list takes optional "all").`,
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
    if (words.length && (commandOf(words[0]) || isWorkflowWord(ctx, words[0]))) return words;
    return null;
  } catch (e) {
    log.info({ err: (e as Error).message }, 'slack: the LLM could not map a message; using the grammar');
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
