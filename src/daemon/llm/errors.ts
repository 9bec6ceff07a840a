/**
 * Why a model call failed, and whether waiting and retrying may help. Errors cross threads as
 * plain data (`toErrorData`), so callers test `code`/`retryable`, never `instanceof`.
 */
export type LlmErrorCode =
  /** Server down, reset, 5xx, busy (503) or silent past llm.timeout: retry later. */
  | 'unavailable'
  /** The model is not pulled (404). Retryable: the user can `ollama pull` while the step waits. */
  | 'model_not_found'
  /** Tools sent to a model without tool capability: pick another model. */
  | 'no_tool_support'
  /** A broken answer: stream without its done line, malformed JSON, an error line mid-stream. */
  | 'bad_response'
  /** The server refused the request (400) or the prompt cannot fit num_ctx even compacted. */
  | 'invalid_request'
  /** The caller's signal cancelled the call. */
  | 'aborted';

export interface LlmErrorData {
  code: LlmErrorCode;
  message: string;
  retryable: boolean;
  /** What the user can do about it, when there is something (e.g. `ollama pull qwen2.5:7b`). */
  hint: string | null;
}

export class LlmError extends Error {
  readonly code: LlmErrorCode;
  readonly retryable: boolean;
  readonly hint: string | null;

  constructor(data: { code: LlmErrorCode; message: string; retryable: boolean; hint?: string | null }) {
    super(data.message);
    this.name = 'LlmError';
    this.code = data.code;
    this.retryable = data.retryable;
    this.hint = data.hint ?? null;
  }

  toErrorData(): LlmErrorData {
    return { code: this.code, message: this.message, retryable: this.retryable, hint: this.hint };
  }

  static fromData(data: LlmErrorData): LlmError {
    return new LlmError(data);
  }
}

/** Structural check: works for errors rebuilt from data on another thread too. */
export function isLlmError(e: unknown): e is LlmError {
  return e instanceof Error && e.name === 'LlmError' && typeof (e as LlmError).code === 'string' && typeof (e as LlmError).retryable === 'boolean';
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/** True for fetch failures below HTTP: refused, reset, DNS, a socket closed mid-body. */
export function isNetworkError(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  }
  return e instanceof TypeError && /fetch failed|terminated|socket/i.test(e.message);
}

/** The network error's code (ECONNREFUSED, ...) for messages, or null. */
export function networkCode(e: unknown): string | null {
  for (let cur: unknown = e, depth = 0; cur && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return null;
}

/** Maps an HTTP status and server message to our codes (shared by both providers). */
export function httpError(status: number, serverMessage: string, ctx: { model: string; provider: 'ollama' | 'openai-compatible'; host: string; withTools: boolean }): LlmError {
  const where = ctx.provider === 'ollama' ? `Ollama at ${ctx.host}` : `${ctx.host}`;
  if (status === 404) {
    return new LlmError({
      code: 'model_not_found',
      message: `model ${ctx.model} is not available on ${where}: ${serverMessage}`,
      retryable: true,
      hint: ctx.provider === 'ollama' ? `ollama pull ${ctx.model}` : `check llm.model and llm.base_url (GET ${ctx.host}/models lists the models)`,
    });
  }
  if ((status === 400 || status === 422) && /does not support tools|tool/i.test(serverMessage) && ctx.withTools) {
    return new LlmError({
      code: 'no_tool_support',
      message: `model ${ctx.model} cannot call tools: ${serverMessage}`,
      retryable: false,
      hint: `choose a model with tool support (see \`ollama show ${ctx.model}\` capabilities), e.g. qwen2.5 or llama3.1`,
    });
  }
  if (status === 401 || status === 403) {
    return new LlmError({ code: 'invalid_request', message: `${where} refused the credentials (HTTP ${status}): ${serverMessage}`, retryable: false, hint: 'check llm.api_key' });
  }
  if (status === 503) {
    return new LlmError({ code: 'unavailable', message: `${where} is busy (HTTP 503): ${serverMessage}`, retryable: true, hint: 'the server queue is full (OLLAMA_NUM_PARALLEL / OLLAMA_MAX_QUEUE); lower llm.concurrency or retry later' });
  }
  if (status >= 500 || status === 429 || status === 408) {
    return new LlmError({ code: 'unavailable', message: `${where} failed (HTTP ${status}): ${serverMessage}`, retryable: true, hint: null });
  }
  return new LlmError({ code: 'invalid_request', message: `${where} rejected the request (HTTP ${status}): ${serverMessage}`, retryable: false, hint: null });
}
