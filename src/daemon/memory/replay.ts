import { WireError } from '../../protocol/index.js';
import type { Step } from '../../workflows/schema.js';
import type { Engine } from '../engine/engine.js';
import type { LlmGateway } from '../llm/index.js';
import type { Repos } from '../repos/index.js';
import type { KvStore } from '../store/kv.js';
import { argsHash, realToolName } from '../engine/agent-host.js';
import type { AgentState, RunEvent, StepState } from '../engine/types.js';
import { runAgentWith, type AgentIo } from '../engine/worker/agent.js';
import { validateOutput } from '../engine/worker/output-schema.js';
import { isLlmError, type ChatReply, type ToolDefinition } from '../llm/index.js';

export interface ReplaySide {
  answer: unknown;
  tool_calls: string[];
  prompt_tokens: number;
  completion_tokens: number;
  turns: number;
  error?: string;
}

export interface ReplayStep {
  step: string;
  original: ReplaySide;
  replay: ReplaySide;
  not_recorded: string[];
  changed: { answer: boolean; tool_calls: boolean };
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** What a replay uses: the run and its events, the model, and where the replay is kept. */
export interface ReplayDeps {
  engine: Pick<Engine, 'get'>;
  llm: Pick<LlmGateway, 'model' | 'describe' | 'chat'> | null;
  repos: Pick<Repos, 'runs' | 'memory'>;
  store: Pick<KvStore, 'commit'>;
}

/**
 * `opstream replay`: re-runs a finished run's agent steps with the same (or an edited) prompt and
 * maybe another model, against the tool results the run recorded. No live tool call is made: a call
 * the recording lacks is answered "not recorded". The model calls are real. The replay is stored
 * beside the run (memory `replay:RUN:N`); the run itself is not touched.
 */
export async function replay(ctx: ReplayDeps, o: { id: string; step?: string; model?: string; prompt?: string }, actor: string): Promise<{ run_id: string; replay_id: string; model: string; steps: ReplayStep[] }> {
  const run = await ctx.engine.get(o.id);
  if (!TERMINAL.has(run.status)) throw new WireError('invalid_state', `run ${o.id} is still ${run.status}; replay it once it has ended`);
  if (!ctx.llm) throw new WireError('unavailable', 'replay needs a model: configure the `llm:` section in config.yaml', { retryable: false });
  const events = await ctx.repos.runs.events<RunEvent>(o.id);
  const started = events.filter((e) => e.type === 'agent.started');
  if (!started.length) throw new WireError('invalid_state', `run ${o.id} has no agent steps to replay`);
  // the last attempt of each step is the one that counts
  const byStep = new Map<string, RunEvent>();
  for (const e of started) byStep.set(e.step!, e);
  if (o.step && !byStep.has(o.step)) throw new WireError('not_found', `run ${o.id} has no agent step ${o.step} (agent steps: ${[...byStep.keys()].join(', ')})`);
  const model = o.model ?? ctx.llm.model;
  const d = await ctx.llm.describe(model);
  if (!d.reachable) throw new WireError('unavailable', `the model server at ${d.host} is not reachable: ${d.error ?? 'no answer'}`);
  if (!d.pulled) throw new WireError('invalid_params', d.error ?? `model ${model} is not available`);

  const out: ReplayStep[] = [];
  for (const [path, start] of byStep) {
    if (o.step && path !== o.step) continue;
    const after = events.filter((e) => e.seq > start.seq && e.step === path);
    const recordedCalls = after.filter((e) => e.type === 'agent.tool');
    const original: ReplaySide = {
      answer: run.steps.find((s) => s.id === path)?.output ?? null,
      tool_calls: recordedCalls.filter((c) => c.status === 'ok' || c.status === 'error').map((c) => `${String(c.name)} ${JSON.stringify(c.args)}`),
      prompt_tokens: after.filter((e) => e.type === 'agent.turn').reduce((n, e) => n + Number(e.prompt_tokens ?? 0), 0),
      completion_tokens: after.filter((e) => e.type === 'agent.turn').reduce((n, e) => n + Number(e.completion_tokens ?? 0), 0),
      turns: after.filter((e) => e.type === 'agent.turn').length,
    };
    const results = new Map<string, string>();
    for (const c of recordedCalls) if (c.status === 'ok' || c.status === 'error') results.set(`${String(c.name)}|${String(c.args_hash)}`, String(c.content));
    const state: StepState = { status: 'running', attempts: 1, started_at: null, ended_at: null, output: null, error: null, agent: { started: true, turns: [], calls: [], approvals: {} } };
    const a = state.agent as AgentState;
    const side: ReplaySide = { answer: null, tool_calls: [], prompt_tokens: 0, completion_tokens: 0, turns: 0 };
    const notRecorded: string[] = [];
    const schema = (start.schema as Record<string, unknown> | null) ?? undefined;
    const cfg = { prompt: String(start.prompt), tools: (start.tools as ToolDefinition[]).map((t) => realToolName(t.name)), max_turns: Number(start.max_turns ?? 8), output: schema, model, trust_tool_output: false } as NonNullable<Step['agent']>;
    const io: AgentIo = {
      request: async <T>(msg: { type: string } & Record<string, unknown>): Promise<T> => {
        if (msg.type === 'agent.tools') return start.tools as T;
        if (msg.type === 'llm') {
          const req = { ...(msg.request as object), model } as Parameters<NonNullable<typeof ctx.llm>['chat']>[0];
          let r: ChatReply;
          try {
            r = await ctx.llm!.chat(req);
          } catch (e) {
            throw { message: isLlmError(e) ? `${e.message}${e.hint ? ` (${e.hint})` : ''}` : (e as Error).message, retryable: false, code: 'llm' };
          }
          a.turns.push({ turn: msg.turn as number, phase: msg.phase as 'tools' | 'final', content: r.message.content, tool_calls: msg.phase === 'tools' ? r.message.tool_calls : [], prompt_tokens: r.usage.prompt_tokens, completion_tokens: r.usage.completion_tokens, done_reason: r.done_reason });
          side.prompt_tokens += r.usage.prompt_tokens ?? 0;
          side.completion_tokens += r.usage.completion_tokens ?? 0;
          side.turns++;
          return { recorded: [] } as T;
        }
        if (msg.type === 'agent.call') {
          const name = realToolName(String(msg.name));
          const args = (msg.args as Record<string, unknown>) ?? {};
          const hit = results.get(`${name}|${argsHash(name, args)}`);
          const content = hit ?? `not recorded: the original run never called ${name} with ${JSON.stringify(args)}, and a replay makes no live tool calls.`;
          if (!hit) notRecorded.push(`${name} ${JSON.stringify(args)}`);
          else side.tool_calls.push(`${name} ${JSON.stringify(args)}`);
          a.calls.push({ turn: msg.turn as number, index: msg.index as number, name, args_hash: argsHash(name, args), status: hit ? 'ok' : 'refused', content });
          return { recorded: [] } as T;
        }
        throw { message: `replay cannot serve ${msg.type}`, retryable: false };
      },
      record: async () => undefined,
      state: () => state,
      render: (v) => v,
      suspend: () => {
        throw { message: 'the replay wanted to wait (an approval); it stops there', retryable: false };
      },
      fail: (message) => {
        throw { message, retryable: false };
      },
    } as AgentIo;
    try {
      const prompt = o.prompt ?? String(start.prompt);
      const r = await runAgentWith(cfg, path, 1, io, validateOutput, String(start.system), prompt, schema);
      side.answer = r.output;
    } catch (e) {
      side.error = (e as { message?: string }).message ?? String(e);
    }
    out.push({
      step: path,
      original,
      replay: side,
      not_recorded: notRecorded,
      changed: { answer: JSON.stringify(side.answer) !== JSON.stringify(original.answer), tool_calls: JSON.stringify(side.tool_calls) !== JSON.stringify(original.tool_calls) },
    });
  }
  const { id: replayId, op } = await ctx.repos.memory.nextReplay(o.id, { at: new Date().toISOString(), by: actor, model, prompt_changed: o.prompt !== undefined, steps: out });
  await ctx.store.commit([op], { actor, action: 'runs.replay', target: `run:${o.id}` });
  return { run_id: o.id, replay_id: replayId, model, steps: out };
}
