import { createHash } from 'node:crypto';
import { formatDuration } from '../../config/duration.js';
import type { Step, Workflow } from '../../workflows/schema.js';
import type { CompiledConfig } from '../../config/load.js';
import type { LlmGateway } from '../llm/index.js';
import type { ToolService } from '../tools/service.js';
import { capToolOutput, isLlmError, type ChatReply, type ToolDefinition } from '../llm/index.js';
import { canonicalJson } from '../tools/cache.js';
import { LOCAL_TRIGGERS } from '../tools/destinations.js';
import { compileArgsValidator, type ArgsValidator } from '../tools/validate.js';
import type { EventBody } from '../../protocol/events.js';
import { durationMs, stepAt } from './step-paths.js';
import { untrustedSources } from '../../workflows/template.js';
import type { AgentState, ErrorData, RunEvent, RunRecord, WaitingFor, WorkerMessage } from './types.js';

type Msg<T extends WorkerMessage['type']> = Extract<WorkerMessage, { type: T }>;
type Commit = (run: RunRecord, events: EventBody[], audit?: { actor: string; action: string }) => Promise<RunEvent[]>;

/** What the worker gets back: the events committed for its request (applied to its copy). */
export interface HostReply {
  recorded: RunEvent[];
  suspended?: boolean;
}

/** Models' function names allow [A-Za-z0-9_-] (OpenAI-compatible servers refuse dots). */
export const modelToolName = (name: string): string => name.replace('.', '__');
export const realToolName = (name: string): string => (name.includes('__') ? name.replace('__', '.') : name);

/** An approval binds to exact arguments: the hash the approver sees and the decision is stored under. */
export function argsHash(name: string, args: Record<string, unknown>): string {
  return createHash('sha256').update(`${name}\n${canonicalJson(args)}`).digest('hex').slice(0, 16);
}

const fail = (message: string, retryable: boolean, code = 'agent'): ErrorData => ({ message, retryable, code });

/** Back-off between tries of an unreachable model: 5 s, 10 s, 20 s, ... capped at 2 min. */
const llmBackoffMs = (n: number): number => Math.min(120_000, 5000 * 2 ** (n - 1));

/** What agent steps use: the LLM gateway (null: none configured), its config, and the tools they may call. */
export interface AgentHostDeps {
  llm: LlmGateway | null;
  config: Pick<CompiledConfig, 'llm'>;
  tools: Pick<ToolService, 'list' | 'get' | 'servers' | 'call'>;
}

/**
 * The main thread's half of agent steps: the model calls, the tool calls, and the guard rails
 * (which tools, which arguments, which need a person), each committed as an event before the worker
 * hears back. Nothing here trusts the model or what tools returned.
 */
export class AgentHost {
  private readonly validators = new Map<string, ArgsValidator>();

  constructor(
    private readonly d: AgentHostDeps,
    private readonly commit: Commit,
  ) {}


  private stepOf(def: Workflow, path: string): Step {
    const step = stepAt(def, path);
    if (!step?.agent) throw fail(`step ${path} is not an agent step (engine bug)`, false);
    return step;
  }

  /** The step's allowed tools as the model sees them (their MCP input schemas). */
  async tools(run: RunRecord, def: Workflow, msg: Msg<'agent.tools'>): Promise<ToolDefinition[]> {
    const step = this.stepOf(def, msg.step);
    const llm = this.d.llm;
    if (!llm) throw fail('no LLM configured: agent steps need an `llm:` section in config.yaml (see the README, Ollama)', false);
    const model = step.agent!.model ?? llm.model;
    if ((await llm.supportsTools(model)) === false) throw fail(`model ${model} does not support tools (its /api/show capabilities lack "tools"); use a model that does, e.g. qwen2.5 or llama3.1`, false);
    await this.d.tools.list(); // waits (bounded) for servers still starting
    const out: ToolDefinition[] = [];
    for (const name of step.agent!.tools) {
      const info = this.d.tools.get(name);
      if (!info) {
        const server = this.d.tools.servers().find((s) => s.name === name.split('.')[0]);
        throw fail(`tool ${name} is not available${server ? ` (server ${server.name} is ${server.state}${server.reason ? `: ${server.reason}` : ''})` : ' (no such server configured)'}`, true);
      }
      out.push({ name: modelToolName(name), description: `${info.description ?? info.title ?? name}${info.destructive ? ' (destructive: runs only after a person approves these exact arguments)' : ''}`, parameters: info.inputSchema });
    }
    return out;
  }

  async llm(run: RunRecord, def: Workflow, msg: Msg<'llm'>): Promise<HostReply> {
    const step = this.stepOf(def, msg.step);
    const llm = this.d.llm;
    if (!llm) throw fail('no LLM configured: agent steps need an `llm:` section in config.yaml (see the README, Ollama)', false);
    const st = run.steps[msg.step];
    if (st?.agent?.turns.some((t) => t.turn === msg.turn)) return { recorded: [] }; // already recorded
    const limit = def.budget?.tokens;
    const used = run.usage.prompt_tokens + run.usage.completion_tokens;
    if (limit !== undefined && used >= limit * (1 + run.budget_grants)) {
      await this.commit(run, [{ type: 'run.pause_requested', reason: `budget exceeded: ${used} of ${limit * (1 + run.budget_grants)} tokens used` }]);
      throw fail('budget exceeded', false, 'stopped');
    }
    let reply: ChatReply;
    try {
      reply = await llm.chat(msg.request);
    } catch (e) {
      if (!isLlmError(e)) throw fail(`model call failed: ${(e as Error).message}`, true);
      const model = msg.request.model ?? step.agent!.model ?? llm.model;
      if (!e.retryable) throw fail(`${e.message}${e.hint ? ` (${e.hint})` : ''}`, false);
      const n = (st?.llm_waits ?? 0) + 1;
      const cfg = this.d.config.llm!;
      const waited = Array.from({ length: n - 1 }, (_, i) => llmBackoffMs(i + 1)).reduce((a, b) => a + b, 0);
      if (waited >= cfg.waitUnavailableMs) throw fail(`the model was unavailable for ${formatDuration(waited)} (${e.message})${e.hint ? `; ${e.hint}` : ''}`, false);
      const waiting_for: WaitingFor = {
        kind: 'llm',
        step: msg.step,
        until: new Date(Date.now() + llmBackoffMs(n)).toISOString(),
        reason: e.code === 'model_not_found' ? 'model_not_pulled' : 'llm_unavailable',
        prompt: e.message,
        host: llm.provider === 'ollama' ? cfg.host : (cfg.base_url ?? cfg.host),
        model,
        hint: e.hint ?? null,
        llm_attempt: n,
      };
      const recorded = await this.commit(run, [{ type: 'step.waiting', step: msg.step, waiting_for }]);
      return { recorded, suspended: true };
    }
    const warnings = [...reply.warnings];
    if (reply.compacted) warnings.push(`the conversation was compacted to fit num_ctx ${reply.num_ctx}: ${reply.compacted.tool_outputs_dropped} older tool outputs dropped, ${reply.compacted.messages_summarized} turns summarised`);
    const recorded = await this.commit(run, [
      {
        type: 'agent.turn' as const,
        step: msg.step,
        attempt: msg.attempt,
        turn: msg.turn,
        phase: msg.phase,
        model: reply.model,
        content: reply.message.content,
        tool_calls: msg.phase === 'tools' ? reply.message.tool_calls : [],
        prompt_tokens: reply.usage.prompt_tokens,
        completion_tokens: reply.usage.completion_tokens,
        done_reason: reply.done_reason,
        duration_ms: reply.duration_ms,
        warnings,
      },
    ]);
    return { recorded };
  }

  async call(run: RunRecord, def: Workflow, msg: Msg<'agent.call'>): Promise<HostReply> {
    const step = this.stepOf(def, msg.step);
    const st = run.steps[msg.step];
    const a = st?.agent ?? { turns: [], calls: [], approvals: {} };
    if (a.calls.some((c) => c.turn === msg.turn && c.index === msg.index)) return { recorded: [] };
    const name = realToolName(msg.name);
    const args = msg.args && typeof msg.args === 'object' && !Array.isArray(msg.args) ? msg.args : {};
    const hash = argsHash(name, args);
    const base = { type: 'agent.tool' as const, step: msg.step, attempt: msg.attempt, turn: msg.turn, index: msg.index, name, args, args_hash: hash };
    const answer = async (status: 'ok' | 'error' | 'refused' | 'duplicate' | 'rejected', content: string, extra: Record<string, unknown> = {}): Promise<HostReply> => ({ recorded: await this.commit(run, [{ ...base, status, content, ...extra }]) });

    // 1. only the step's tools, with arguments that fit their schema: never executed otherwise
    const allowed = step.agent!.tools;
    if (!allowed.includes(name)) return answer('refused', `error: "${msg.name}" is not one of the tools you may use in this step (${allowed.map(modelToolName).join(', ') || 'none'}); nothing was run.`);
    // its server may not have started yet (servers start when first needed: after a daemon restart
    // a resumed step can call before it lists): waited for, bounded, like a listing
    const info = this.d.tools.get(name) ?? (await this.d.tools.list().then(() => this.d.tools.get(name)));
    if (!info) return answer('refused', `error: tool ${name} is not available right now; nothing was run.`);
    const problem = this.validator(name, info.inputSchema)(args);
    if (problem) return answer('refused', `error: the arguments do not fit ${msg.name}'s input schema: ${problem}; nothing was run. Fix the arguments and call again.`);

    // 2. the same call again: the earlier result, and the model is told so
    const same = a.calls.find((c) => c.args_hash === hash && c.name === name && (c.status === 'ok' || c.status === 'error'));
    if (same) return answer('duplicate', `(this is the same call as in turn ${same.turn}: nothing was run again; its result was)\n${same.content}`);

    // 3. destructive: a person approves these exact arguments. Policy (auto_resolve) may grant it only
    // in a step that has seen no text from outside: not in its prompt (step outputs, chat params,
    // recalled memory) and not in any tool output it read (prompt injection arrives both ways).
    const destructive = info.destructive;
    if (destructive) {
      const d = a.approvals[hash];
      if (d?.decision === 'rejected') return answer('rejected', `${d.by} rejected this call; nothing was run. Do not call it again with these arguments; carry on without it.`);
      if (!d) {
        const untrusted = untrustedSeen(run, def, step, a);
        if (def.auto_resolve && untrusted.length === 0) {
          await this.commit(run, [{ type: 'approval.answered', step: msg.step, args_hash: hash, decision: 'approved', by: 'policy:auto_resolve', policy: true }], { actor: 'policy:auto_resolve', action: 'agent.approve_tool' });
        } else {
          const why = untrusted.length ? ` Why a person must approve: ${untrusted.join('; ')}; such text may carry injected instructions${def.auto_resolve ? ', so auto_resolve does not apply' : ''}.` : '';
          const waiting_for: WaitingFor = {
            kind: 'approval',
            step: msg.step,
            prompt: `The agent in step ${msg.step} wants to run ${name} (destructive) with ${JSON.stringify(args)}. Argument hash ${hash}: approving runs exactly this.${why}`,
            until: null,
            approvers: [],
            on_timeout: 'reject',
            tool: name,
            args,
            args_hash: hash,
            ...(untrusted.length ? { untrusted } : {}),
          };
          return { recorded: await this.commit(run, [{ type: 'step.waiting', step: msg.step, waiting_for }]), suspended: true };
        }
      }
    }

    // 4. run it, within the tool-call budget
    const limit = def.budget?.tool_calls;
    if (limit !== undefined && run.usage.tool_calls >= limit * (1 + run.budget_grants)) {
      await this.commit(run, [{ type: 'run.pause_requested', reason: `budget exceeded: ${run.usage.tool_calls} of ${limit * (1 + run.budget_grants)} tool calls used` }]);
      throw fail('budget exceeded', false, 'stopped');
    }
    const cacheTtlMs = step.agent!.cache === undefined ? undefined : (durationMs(step.agent!.cache) ?? undefined);
    const r = await this.d.tools.call({ tool: name, args, cacheTtlMs, idempotencyKey: `${run.id}:${msg.step}:${msg.attempt}:t${msg.turn}:c${msg.index}`, origin: { run: run.id, workflow: run.workflow, trigger: run.trigger, actor: run.actor, def } });
    const age = r.cached && r.cachedAt ? Date.now() - r.cachedAt : null;
    if (r.error) return answer('error', frame(name, 'error', `error: ${r.error.message}`, null), { error: r.error.message });
    const full = r.structured !== null && r.structured !== undefined ? JSON.stringify(r.structured) : r.text;
    const llm = this.d.llm!;
    const numCtx = await llm.numCtx(step.agent!.model ?? llm.model);
    const shown = capToolOutput(full, numCtx, this.d.config.llm!.tool_output_share);
    return answer(r.isError ? 'error' : 'ok', frame(name, r.isError ? 'error' : 'ok', shown, age), { result: r.structured ?? r.text, bytes: r.bytes, cached: r.cached, cached_age_ms: age, truncated: shown.length < full.length });
  }

  private validator(name: string, schema: Record<string, unknown>): ArgsValidator {
    let v = this.validators.get(name);
    if (!v) this.validators.set(name, (v = compileArgsValidator(schema).validate));
    return v;
  }
}

/** Step kinds whose output OpStream writes itself (no text from outside in it). */
const OWN_OUTPUT = new Set(['wait', 'notify']);

function findById(steps: Step[] | undefined, id: string): Step | undefined {
  for (const s of steps ?? []) {
    if (s.id === id) return s;
    const inner = findById(s.steps ?? s.parallel, id);
    if (inner) return inner;
  }
  return undefined;
}


/**
 * Why an agent step's next model turn may be steered by text from outside, one reason per source:
 * what its prompt templates pull in (step outputs, params typed in chat), memory recalled into the
 * prompt (recorded with agent.started), and every tool output it has read so far. Empty: only the
 * workflow author's and the local user's own words.
 */
export function untrustedSeen(run: RunRecord, def: Workflow, step: Step, a: AgentState): string[] {
  const rules = { paramsFromChat: !LOCAL_TRIGGERS.has(run.trigger), trustedStep: (id: string) => OWN_OUTPUT.has(stepKindOf(findById(def.steps, id))) };
  const cfg = step.agent!;
  const out = untrustedSources([cfg.prompt, cfg.system ?? ''], rules).map((src) => `the prompt contains untrusted ${src}`);
  for (const src of a.untrusted ?? []) out.push(`the prompt contains untrusted ${src}`);
  const read = [...new Set(a.calls.filter((c) => c.status === 'ok' || c.status === 'error').map((c) => c.name))];
  if (read.length) out.push(`the agent has read untrusted output of ${read.map((n) => `tool ${n}`).join(', ')}`);
  return out;
}

function stepKindOf(s: Step | undefined): string {
  if (!s) return 'unknown';
  for (const k of ['wait', 'notify'] as const) if (s[k] !== undefined) return k;
  return 'other';
}

/** Tool output reaches the model as framed, untrusted data; a cached result says how old it is. */
function frame(name: string, status: string, text: string, cachedAgeMs: number | null): string {
  const cached = cachedAgeMs === null ? '' : ` source="cache" age="${formatDuration(cachedAgeMs)}"`;
  const note = cachedAgeMs === null ? '' : `(this result came from OpStream's cache and is ${formatDuration(cachedAgeMs)} old; the system may have changed since)\n`;
  return `<tool_output tool="${name}" status="${status}"${cached}>\n${note}${text}\n</tool_output>`;
}
