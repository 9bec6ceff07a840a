/**
 * The LLM gateway's contract. Everything here is plain data so that a request and its reply can
 * cross the worker-thread boundary (postMessage) and be recorded as run events unchanged.
 */

export type LlmProvider = 'ollama' | 'openai-compatible';

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

/** One tool call the model asked for. */
export interface ToolCallData {
  /** Set by servers that give calls ids (Ollama >= 0.12.10, OpenAI-compatible); absent otherwise. */
  id?: string;
  name: string;
  /** Always an object: Ollama sends objects, OpenAI-compatible strings are parsed. */
  arguments: Record<string, unknown>;
}

export interface ChatMessage {
  role: ChatRole;
  content: string;
  /** An assistant turn that called tools (replayed so the model sees its own calls). */
  tool_calls?: ToolCallData[];
  /** A tool turn: the tool that produced this result (Ollama matches results to calls by name). */
  tool_name?: string;
  /** A tool turn: the call it answers (OpenAI-compatible servers need it; derived when absent). */
  tool_call_id?: string;
}

export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON Schema of the arguments (an MCP tool's inputSchema). */
  parameters: Record<string, unknown>;
}

/** 'json' for any JSON, or a JSON Schema the answer must match (structured output). */
export type ResponseFormat = 'json' | Record<string, unknown>;

export interface ChatRequest {
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  /**
   * Structured output. Real models tend to stop calling tools when `format` comes with `tools`:
   * do the tool turns without it, then one final turn with `format` and no tools.
   */
  format?: ResponseFormat;
  /** Overrides `llm.model` for this call. */
  model?: string;
  temperature?: number;
  /** Cap on generated tokens (Ollama `num_predict`, OpenAI `max_tokens`); a cut answer ends with done_reason 'length'. */
  max_tokens?: number;
}

export interface ChatOptions {
  /** Cancels a queued or running call; it then fails with code 'aborted'. */
  signal?: AbortSignal;
  /**
   * Ollama only. Default true: streaming lets a stall between chunks be detected after `llm.timeout`
   * of silence. false is for proxies that buffer NDJSON; then only the whole call is timed.
   */
  stream?: boolean;
}

/** What compaction did to fit the prompt into num_ctx, so nothing is lost without a trace. */
export interface CompactionReport {
  estimated_tokens_before: number;
  estimated_tokens_after: number;
  /** The target: ~90% of num_ctx, leaving room for the answer and estimate error. */
  budget_tokens: number;
  /** Older tool results replaced by "[older tool output dropped: N chars]". */
  tool_outputs_dropped: number;
  /** Older assistant/tool/user turns folded into one summary note. */
  messages_summarized: number;
  /** Tool results of the latest turn cut (with a marker) because even they did not fit. */
  tool_outputs_cut: number;
  chars_removed: number;
}

export interface Usage {
  /** null = the server did not say (e.g. older Ollama on a cached prompt), never a made-up 0. */
  prompt_tokens: number | null;
  completion_tokens: number | null;
}

export interface ChatReply {
  message: { content: string; tool_calls: ToolCallData[] };
  model: string;
  provider: LlmProvider;
  /** 'stop', 'length' (cut off), 'tool_calls' (OpenAI-compatible), or null when the server gave none. */
  done_reason: string | null;
  usage: Usage;
  /** The context window the call ran with (sent as options.num_ctx to Ollama). */
  num_ctx: number;
  /** Our estimate of the prompt as sent (after redaction, caps and compaction). */
  estimated_prompt_tokens: number;
  /** Things the caller should know but that did not fail the call (context possibly lost, answer cut). */
  warnings: string[];
  /** Present when older turns were shortened to fit num_ctx. */
  compacted?: CompactionReport;
  /** Secrets masked before sending. */
  redactions: number;
  /** Time from sending to the last byte (excludes queueing). */
  duration_ms: number;
  /** Time spent waiting for a concurrency slot. */
  queued_ms: number;
}

export interface ModelDescription {
  provider: LlmProvider;
  /** Ollama host or OpenAI-compatible base_url. */
  host: string;
  model: string;
  reachable: boolean;
  /** Ollama: listed by /api/tags; OpenAI-compatible: listed by GET /models. */
  pulled: boolean;
  /** From /api/show capabilities; null when the server does not say. */
  tools: boolean | null;
  context_length: number | null;
  error?: string;
}

export interface EmbedResult {
  model: string;
  dimension: number;
  /** One per input text, in order (L2-normalised by Ollama). */
  vectors: number[][];
}

export interface ModelStats {
  calls: number;
  errors: number;
  errors_by_code: Record<string, number>;
  prompt_tokens: number;
  completion_tokens: number;
  /** Calls whose token counts the server did not report (not included in the sums above). */
  calls_without_usage: number;
  compactions: number;
  redactions: number;
  embed_calls: number;
  in_flight: number;
  queued: number;
}

export interface LlmStats {
  provider: LlmProvider;
  host: string;
  totals: { calls: number; errors: number; prompt_tokens: number; completion_tokens: number };
  models: Record<string, ModelStats>;
}
