import { Ollama, type ChatRequest as OllamaChatRequest, type ChatResponse, type Message, type Tool } from 'ollama';
import { toWireTools } from './budget.js';
import { parseArguments, type BackendChatInput, type BackendChatOutput, type LlmBackend, type ModelFacts } from './backend.js';
import type { CallWatch } from './call-watch.js';
import type { ChatMessage, ToolCallData } from './types.js';

/** Ollama's native API through the official client (ollama 0.6), one client per call so each gets its own watch. */
export class OllamaBackend implements LlmBackend {
  readonly provider = 'ollama' as const;

  constructor(
    readonly host: string,
    /** Sent on every request so the model stays loaded between an agent's turns. */
    private readonly keepAliveMs: number,
  ) {}

  private client(watch: CallWatch): Ollama {
    return new Ollama({ host: this.host, fetch: watch.fetch });
  }

  /** Seconds with a unit: Go's ParseDuration reads it, and it is never mistaken for nanoseconds. */
  private get keepAlive(): string {
    return `${Math.max(0, Math.round(this.keepAliveMs / 1000))}s`;
  }

  async chat(input: BackendChatInput, watch: CallWatch): Promise<BackendChatOutput> {
    const request: OllamaChatRequest = {
      model: input.model,
      messages: input.messages.map(toOllamaMessage),
      keep_alive: this.keepAlive,
      options: {
        num_ctx: input.numCtx,
        ...(input.temperature !== undefined ? { temperature: input.temperature } : {}),
        ...(input.maxTokens !== undefined ? { num_predict: input.maxTokens } : {}),
      },
    };
    if (input.tools && input.tools.length > 0) request.tools = toWireTools(input.tools) as Tool[];
    if (input.format !== undefined) request.format = input.format;

    const client = this.client(watch);
    const warnings: string[] = [];
    let content = '';
    const rawCalls: unknown[] = [];
    let final: ChatResponse;
    if (input.stream) {
      const parts = await client.chat({ ...request, stream: true });
      let last: ChatResponse | null = null;
      // The client throws when the stream ends without `done: true` or carries an error line.
      for await (const part of parts) {
        content += part.message?.content ?? '';
        rawCalls.push(...(part.message?.tool_calls ?? []));
        if (part.done) last = part;
      }
      if (!last) throw new Error('Did not receive done or success response in stream.');
      final = last;
    } else {
      final = await client.chat({ ...request, stream: false });
      content = final.message?.content ?? '';
      rawCalls.push(...(final.message?.tool_calls ?? []));
    }
    const tool_calls = rawCalls.map((raw): ToolCallData => {
      const tc = raw as { id?: unknown; function?: { name?: unknown; arguments?: unknown } };
      const name = String(tc.function?.name ?? '');
      const call: ToolCallData = { name, arguments: parseArguments(tc.function?.arguments, name, warnings) };
      if (typeof tc.id === 'string' && tc.id) call.id = tc.id;
      return call;
    });
    return {
      content,
      tool_calls,
      done_reason: typeof final.done_reason === 'string' && final.done_reason ? final.done_reason : null,
      usage: {
        prompt_tokens: typeof final.prompt_eval_count === 'number' ? final.prompt_eval_count : null,
        completion_tokens: typeof final.eval_count === 'number' ? final.eval_count : null,
      },
      warnings,
    };
  }

  async listModels(watch: CallWatch): Promise<string[]> {
    const res = await this.client(watch).list();
    return (res.models ?? []).map((m) => m.name ?? m.model);
  }

  async modelFacts(model: string, watch: CallWatch): Promise<ModelFacts> {
    const res = await this.client(watch).show({ model });
    // Typed as a Map by the client, but the wire gives a plain object.
    const info = (res.model_info ?? {}) as unknown as Record<string, unknown>;
    const arch = typeof info['general.architecture'] === 'string' ? info['general.architecture'] : null;
    let ctx = arch ? info[`${arch}.context_length`] : undefined;
    if (typeof ctx !== 'number') ctx = Object.entries(info).find(([k, v]) => k.endsWith('.context_length') && typeof v === 'number')?.[1];
    return {
      capabilities: Array.isArray(res.capabilities) ? res.capabilities.map(String) : null,
      contextLength: typeof ctx === 'number' && ctx > 0 ? ctx : null,
    };
  }

  async embed(texts: string[], model: string, watch: CallWatch): Promise<number[][]> {
    const res = await this.client(watch).embed({ model, input: texts, keep_alive: this.keepAlive, truncate: true });
    return res.embeddings;
  }
}

function toOllamaMessage(m: ChatMessage): Message {
  const out: Message = { role: m.role, content: m.content };
  if (m.tool_calls && m.tool_calls.length > 0) out.tool_calls = m.tool_calls.map((tc) => ({ function: { name: tc.name, arguments: tc.arguments } }));
  if (m.role === 'tool' && m.tool_name) out.tool_name = m.tool_name;
  return out;
}
