/**
 * The LLM gateway: the daemon's one way to a model (Ollama or an OpenAI-compatible server).
 * Contract: types.ts (requests and replies as plain data), errors.ts (codes and retryability).
 */
export { LlmGateway } from './gateway.js';
export { LlmError, isLlmError, type LlmErrorCode, type LlmErrorData } from './errors.js';
export { redact, redactCount, redactMessages, type RedactResult } from './redact.js';
export { capToolOutput, cutText, estimateTokens, estimatePromptTokens, CHARS_PER_TOKEN, DEFAULT_NUM_CTX, PROMPT_BUDGET_SHARE } from './budget.js';
export { compactMessages } from './compact.js';
export type {
  ChatMessage,
  ChatOptions,
  ChatReply,
  ChatRequest,
  ChatRole,
  CompactionReport,
  EmbedResult,
  LlmProvider,
  LlmStats,
  ModelDescription,
  ModelStats,
  ResponseFormat,
  ToolCallData,
  ToolDefinition,
  Usage,
} from './types.js';
