import type { ChatMessage, ToolDefinition } from './types.js';

/**
 * Token arithmetic without a tokenizer. ~4 characters per token is right for English prose and
 * optimistic for JSON and logs, which is why compaction aims at 90% of num_ctx rather than 100%,
 * and why the reply warns when the server's own count reaches the window.
 */
export const CHARS_PER_TOKEN = 4;
/** Role markers and separators a chat template adds around each message. */
export const MESSAGE_OVERHEAD_TOKENS = 4;
/** Used when neither config nor the server gives a context length (Ollama's own default). */
export const DEFAULT_NUM_CTX = 4096;
/** Compaction target as a share of num_ctx: room for the answer and for estimate error. */
export const PROMPT_BUDGET_SHARE = 0.9;

export function estimateTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/** Tool definitions as Ollama and OpenAI-compatible servers receive them (and count them). */
export function toWireTools(tools: readonly ToolDefinition[]): Array<{ type: 'function'; function: { name: string; description: string; parameters: Record<string, unknown> } }> {
  return tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description ?? '', parameters: t.parameters } }));
}

export function estimateMessageTokens(m: ChatMessage): number {
  let n = MESSAGE_OVERHEAD_TOKENS + estimateTokens(m.content);
  if (m.tool_calls && m.tool_calls.length > 0) {
    // The wire form wraps each call in { id, function: { index, name, arguments } }: count that shape.
    n += estimateTokens(JSON.stringify(m.tool_calls.map((tc, index) => ({ id: tc.id ?? 'call_00000000', function: { index, name: tc.name, arguments: tc.arguments } }))));
  }
  return n;
}

/** Tool definitions count against the prompt (Ollama's prompt_eval_count includes them). */
export function estimateToolsTokens(tools: readonly ToolDefinition[] | undefined): number {
  return tools && tools.length > 0 ? estimateTokens(JSON.stringify(toWireTools(tools))) : 0;
}

export function estimatePromptTokens(messages: readonly ChatMessage[], tools?: readonly ToolDefinition[]): number {
  return messages.reduce((s, m) => s + estimateMessageTokens(m), estimateToolsTokens(tools));
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/**
 * Cuts `text` to at most `maxChars` (marker included), keeping the head and the tail (errors and
 * summaries tend to sit at the end of tool output) around a visible marker.
 */
export function cutText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const total = text.length;
  // The marker's length is bounded by writing the total where the removed count goes.
  const markerFor = (removed: number) => `\n[... truncated ${removed} of ${total} chars; the full result is kept in the run]\n`;
  const keep = Math.max(0, Math.floor(maxChars) - markerFor(total).length);
  let headEnd = Math.floor(keep * 0.75);
  let tailStart = total - (keep - headEnd);
  if (headEnd > 0 && isHighSurrogate(text.charCodeAt(headEnd - 1))) headEnd--;
  if (tailStart < total && isLowSurrogate(text.charCodeAt(tailStart))) tailStart++;
  const removed = tailStart - headEnd;
  return `${text.slice(0, headEnd)}${markerFor(removed)}${text.slice(tailStart)}`;
}

/**
 * Caps one tool result to `share` of the context window (~4 chars per token), with the marker
 * `[... truncated N of M chars; the full result is kept in the run]`. Text within the cap is
 * returned unchanged, so capping twice is harmless. Never cuts below 256 characters, so some of
 * the result always shows next to the marker.
 */
export function capToolOutput(text: string, numCtx: number, share: number): string {
  const maxChars = Math.max(256, Math.floor(share * numCtx * CHARS_PER_TOKEN));
  return cutText(text, maxChars);
}
