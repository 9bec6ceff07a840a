import { WireError, type RunJson } from '../../protocol/index.js';
import type { Engine } from '../engine/engine.js';
import type { Repos } from '../repos/index.js';
import type { KvStore } from '../store/kv.js';
import type { MemoryService } from './memory.js';
import { memoryOps } from '../repos/memory.js';
import { isLlmError, type ChatMessage, type LlmGateway } from '../llm/index.js';
import { buildReport } from '../reports/report.js';

export interface AskTurn {
  q: string;
  a: string;
  at: string;
  by: string;
  prompt_tokens: number | null;
  completion_tokens: number | null;
}

/** Per-step output budget in the context: enough for the figures, not a dump of every sample. */
const OUTPUT_CHARS = 3000;
const KEEP_TURNS = 20;

function compact(v: unknown, max: number): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  if (s === undefined) return 'null';
  return s.length > max ? `${s.slice(0, max)}… [${s.length - max} more characters]` : s;
}

/** What the model may answer from: the run as recorded. No tools: a question never runs anything. */
function runContext(run: RunJson, memory: string | null): string {
  const lines = [
    `Run ${run.id} of workflow ${run.workflow}: ${run.status}${run.error ? ` (error: ${run.error})` : ''}.`,
    `Params: ${compact(run.params, 1000)}`,
    `Created ${run.created_at}, started ${run.started_at ?? '-'}, ended ${run.ended_at ?? '-'}.`,
  ];
  try {
    const r = buildReport(run);
    const a = r.analysis;
    lines.push(`Analysis (${r.preliminary ? 'preliminary' : 'final'}): ${a.summary.headline}. Likely root cause: ${a.summary.root_cause ?? 'none'}.`);
    for (const f of a.findings.slice(0, 10)) lines.push(`- [${f.severity}] ${f.title}. When: ${f.first_at ?? '?'} to ${f.last_at ?? '?'}. Evidence: ${compact(f.evidence, 400)}. Suggested fix: ${f.suggested_fix}`);
    if (a.remediation) lines.push(`Remediation the run can apply after a person approves it: ${a.remediation.call} (for ${a.remediation.subject}).`);
  } catch {
    // not a run with an analysis
  }
  lines.push('Steps:');
  for (const s of run.steps) if (!s.id.includes('[')) lines.push(`- ${s.id}: ${s.status}${s.error ? ` (${s.error})` : ''}; output: ${compact(s.output, OUTPUT_CHARS)}`);
  for (const n of (run.notifications ?? []).slice(-10)) lines.push(`Notification (${n.level}) at ${n.at}: ${n.title}`);
  if (memory) lines.push(`OpStream's memory of this run: ${memory}`);
  return lines.join('\n');
}

/** What `ask` uses: the run (engine), the model, its memory of the run and the conversation's row. */
export interface AskDeps {
  engine: Pick<Engine, 'get'>;
  llm: Pick<LlmGateway, 'chat'> | null;
  repos: Pick<Repos, 'memory'>;
  memory: Pick<MemoryService, 'get'>;
  store: Pick<KvStore, 'commit'>;
}

/**
 * `opstream ask ID "question"`: answered by the model from the run's stored outputs and memory,
 * with no tool calls, and kept as a conversation per run (a follow-up like "why?" sees the earlier
 * questions and answers, across daemon restarts).
 */
export async function ask(ctx: AskDeps, id: string, question: string, actor: string): Promise<{ run_id: string; answer: string; turns: number; tool_calls: 0; usage: { prompt_tokens: number | null; completion_tokens: number | null } }> {
  const run = await ctx.engine.get(id);
  if (!ctx.llm) throw new WireError('unavailable', 'ask needs a model: configure the `llm:` section in config.yaml (see the README, Ollama)', { retryable: false });
  const conv = (await ctx.repos.memory.conversation<{ turns: AskTurn[] }>(id)) ?? { turns: [] };
  const summary = ctx.memory.get(id);
  const messages: ChatMessage[] = [
    {
      role: 'system',
      content: `You answer questions about one OpStream run, from the recorded data below only. You cannot run tools or commands. Quote figures and times from the data; if the data does not say, say so and suggest the opstream command that would show more (e.g. opstream report ${id}, opstream logs ${id}).\n\n${runContext(run, summary?.text ?? null)}`,
    },
  ];
  for (const t of conv.turns.slice(-KEEP_TURNS)) messages.push({ role: 'user', content: t.q }, { role: 'assistant', content: t.a });
  messages.push({ role: 'user', content: question });
  let reply;
  try {
    reply = await ctx.llm.chat({ messages });
  } catch (e) {
    const why = isLlmError(e) ? `${e.message}${e.hint ? ` (${e.hint})` : ''}` : (e as Error).message;
    throw new WireError('unavailable', `the model did not answer: ${why}. The conversation so far (${conv.turns.length} question${conv.turns.length === 1 ? '' : 's'}) is kept; ask again when it is back`, { retryable: true });
  }
  const turn: AskTurn = { q: question, a: reply.message.content, at: new Date().toISOString(), by: actor, prompt_tokens: reply.usage.prompt_tokens, completion_tokens: reply.usage.completion_tokens };
  conv.turns.push(turn);
  await ctx.store.commit([memoryOps.conversation(id, conv)], { actor, action: 'runs.ask', target: `run:${id}` });
  return { run_id: id, answer: turn.a, turns: conv.turns.length, tool_calls: 0, usage: reply.usage };
}

export async function conversation(ctx: Pick<AskDeps, 'repos'>, id: string): Promise<AskTurn[]> {
  return ((await ctx.repos.memory.conversation<{ turns: AskTurn[] }>(id)) ?? { turns: [] }).turns;
}
