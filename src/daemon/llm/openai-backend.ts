import { toWireTools } from './budget.js';
import { parseArguments, type BackendChatInput, type BackendChatOutput, type LlmBackend, type ModelFacts } from './backend.js';
import type { CallWatch } from './call-watch.js';
import { LlmError, httpError } from './errors.js';
import type { ChatMessage } from './types.js';

interface OpenAiToolCall {
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: unknown };
}

interface OpenAiCompletion {
  model?: string;
  choices?: Array<{ message?: { content?: string | null; tool_calls?: OpenAiToolCall[] }; finish_reason?: string | null }>;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
}

interface OpenAiModelList {
  data?: Array<{ id?: string; max_model_len?: number; context_length?: number; context_window?: number }>;
}

/**
 * An OpenAI-compatible server (LM Studio, vLLM, llama.cpp's server) over plain fetch: the `openai`
 * package needs Node 22. Non-streaming, so `llm.timeout` bounds the whole call here.
 */
export class OpenAiBackend implements LlmBackend {
  readonly provider = 'openai-compatible' as const;
  readonly host: string;

  constructor(
    baseUrl: string,
    private readonly apiKey: string | undefined,
  ) {
    this.host = baseUrl.replace(/\/+$/, '');
  }

  private async request<T>(watch: CallWatch, method: 'GET' | 'POST', path: string, body: unknown, ctx: { model: string; withTools: boolean }): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    const res = await watch.fetch(`${this.host}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    if (!res.ok) throw httpError(res.status, errorMessage(text) ?? `HTTP ${res.status} ${res.statusText}`, { model: ctx.model, provider: this.provider, host: this.host, withTools: ctx.withTools });
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new LlmError({ code: 'bad_response', message: `${this.host}${path} answered with something that is not JSON: ${text.slice(0, 200)}`, retryable: true });
    }
  }

  async chat(input: BackendChatInput, watch: CallWatch): Promise<BackendChatOutput> {
    const body: Record<string, unknown> = { model: input.model, messages: toOpenAiMessages(input.messages), stream: false };
    if (input.tools && input.tools.length > 0) body.tools = toWireTools(input.tools);
    if (input.format === 'json') body.response_format = { type: 'json_object' };
    else if (input.format) body.response_format = { type: 'json_schema', json_schema: { name: 'output', schema: input.format } };
    if (input.temperature !== undefined) body.temperature = input.temperature;
    if (input.maxTokens !== undefined) body.max_tokens = input.maxTokens;

    const res = await this.request<OpenAiCompletion>(watch, 'POST', '/chat/completions', body, { model: input.model, withTools: Boolean(input.tools?.length) });
    const choice = res.choices?.[0];
    if (!choice) throw new LlmError({ code: 'bad_response', message: `${this.host}/chat/completions answered without choices`, retryable: true });
    const warnings: string[] = [];
    const tool_calls = (choice.message?.tool_calls ?? []).map((tc) => {
      const name = tc.function?.name ?? '';
      return { ...(tc.id ? { id: tc.id } : {}), name, arguments: parseArguments(tc.function?.arguments, name, warnings) };
    });
    return {
      content: choice.message?.content ?? '',
      tool_calls,
      done_reason: choice.finish_reason ?? null,
      usage: {
        prompt_tokens: typeof res.usage?.prompt_tokens === 'number' ? res.usage.prompt_tokens : null,
        completion_tokens: typeof res.usage?.completion_tokens === 'number' ? res.usage.completion_tokens : null,
      },
      warnings,
    };
  }

  async listModels(watch: CallWatch): Promise<string[]> {
    const res = await this.request<OpenAiModelList>(watch, 'GET', '/models', undefined, { model: '', withTools: false });
    return (res.data ?? []).map((m) => m.id ?? '').filter(Boolean);
  }

  async modelFacts(model: string, watch: CallWatch): Promise<ModelFacts> {
    const res = await this.request<OpenAiModelList>(watch, 'GET', '/models', undefined, { model, withTools: false });
    const entry = (res.data ?? []).find((m) => m.id === model);
    if (!entry) throw httpError(404, `not in GET /models (have: ${(res.data ?? []).map((m) => m.id).join(', ') || 'none'})`, { model, provider: this.provider, host: this.host, withTools: false });
    const ctx = entry.max_model_len ?? entry.context_length ?? entry.context_window;
    return { capabilities: null, contextLength: typeof ctx === 'number' && ctx > 0 ? ctx : null };
  }

  async embed(texts: string[], model: string, watch: CallWatch): Promise<number[][]> {
    const res = await this.request<{ data?: Array<{ index?: number; embedding?: number[] }> }>(watch, 'POST', '/embeddings', { model, input: texts }, { model, withTools: false });
    const data = [...(res.data ?? [])].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    if (data.length !== texts.length) throw new LlmError({ code: 'bad_response', message: `${this.host}/embeddings returned ${data.length} vectors for ${texts.length} texts`, retryable: true });
    return data.map((d) => d.embedding ?? []);
  }
}

/** OpenAI, vLLM and LM Studio put the message in different places. */
function errorMessage(text: string): string | null {
  try {
    const j = JSON.parse(text) as { error?: unknown; detail?: unknown; message?: unknown };
    if (typeof j.error === 'string') return j.error;
    if (j.error && typeof j.error === 'object' && typeof (j.error as { message?: unknown }).message === 'string') return (j.error as { message: string }).message;
    if (typeof j.detail === 'string') return j.detail;
    if (typeof j.message === 'string') return j.message;
  } catch {
    // not JSON
  }
  return text.trim() ? text.trim().slice(0, 300) : null;
}

/**
 * OpenAI's shape: assistant tool calls carry ids and JSON-string arguments, and each tool result
 * names the call it answers. Ids are made up when the history has none (calls recorded from an
 * Ollama server without ids), pairing results with calls by tool name, then in order.
 */
function toOpenAiMessages(messages: readonly ChatMessage[]): Array<Record<string, unknown>> {
  let pending: Array<{ id: string; name: string }> = [];
  return messages.map((m, mi) => {
    if (m.role === 'assistant' && m.tool_calls && m.tool_calls.length > 0) {
      const calls = m.tool_calls.map((tc, i) => ({ id: tc.id ?? `call_${mi}_${i}`, type: 'function', function: { name: tc.name, arguments: JSON.stringify(tc.arguments) } }));
      pending = calls.map((c) => ({ id: c.id, name: c.function.name }));
      return { role: 'assistant', content: m.content || null, tool_calls: calls };
    }
    if (m.role === 'tool') {
      let id = m.tool_call_id;
      if (!id) {
        const i = Math.max(0, pending.findIndex((p) => p.name === m.tool_name));
        id = pending[i]?.id ?? `call_${mi}`;
        pending.splice(i, 1);
      }
      return { role: 'tool', tool_call_id: id, content: m.content };
    }
    return { role: m.role, content: m.content };
  });
}
