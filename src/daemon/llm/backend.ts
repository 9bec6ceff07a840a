import type { CallWatch } from './call-watch.js';
import type { ChatMessage, LlmProvider, ResponseFormat, ToolCallData, ToolDefinition, Usage } from './types.js';

/** One call as the gateway hands it to a provider: already redacted, capped and compacted. */
export interface BackendChatInput {
  model: string;
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  format?: ResponseFormat;
  numCtx: number;
  temperature?: number;
  maxTokens?: number;
  stream: boolean;
}

export interface BackendChatOutput {
  content: string;
  tool_calls: ToolCallData[];
  done_reason: string | null;
  usage: Usage;
  warnings: string[];
}

/** What a server says about a model; null where it does not say. */
export interface ModelFacts {
  capabilities: string[] | null;
  contextLength: number | null;
}

/**
 * The provider seam: Ollama's native API or an OpenAI-compatible server. Every request runs
 * through the given CallWatch (its fetch, timer and signals); failures are thrown raw and
 * classified by the gateway, which knows what the watch saw.
 */
export interface LlmBackend {
  readonly provider: LlmProvider;
  /** Ollama host or OpenAI-compatible base_url, for messages. */
  readonly host: string;
  chat(input: BackendChatInput, watch: CallWatch): Promise<BackendChatOutput>;
  /** Names of the models the server has (pulled / served). */
  listModels(watch: CallWatch): Promise<string[]>;
  modelFacts(model: string, watch: CallWatch): Promise<ModelFacts>;
  embed(texts: string[], model: string, watch: CallWatch): Promise<number[][]>;
}

/** Tool-call arguments as an object, whatever the server sent (object, JSON string, nothing). */
export function parseArguments(raw: unknown, name: string, warnings: string[]): Record<string, unknown> {
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) return raw as Record<string, unknown>;
  if (typeof raw === 'string') {
    if (!raw.trim()) return {};
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
    } catch {
      // fall through to the warning
    }
    warnings.push(`tool call ${name}: arguments are not a JSON object, passed as {}: ${raw.length > 200 ? `${raw.slice(0, 200)}...` : raw}`);
    return {};
  }
  if (raw !== undefined && raw !== null) warnings.push(`tool call ${name}: arguments are not an object, passed as {}`);
  return {};
}
