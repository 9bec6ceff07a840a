import type { Logger } from 'pino';
import type { CompiledLlm } from '../../config/load.js';
import type { Service } from '../context.js';
import type { LlmBackend, ModelFacts } from './backend.js';
import { DEFAULT_NUM_CTX, PROMPT_BUDGET_SHARE, capToolOutput, estimatePromptTokens, estimateToolsTokens } from './budget.js';
import { CallWatch } from './call-watch.js';
import { compactMessages } from './compact.js';
import { LlmError, httpError, isLlmError, isNetworkError, networkCode } from './errors.js';
import { FifoLimiter } from './limiter.js';
import { OllamaBackend } from './ollama-backend.js';
import { OpenAiBackend } from './openai-backend.js';
import { redactCount, redactMessages, SecretMasker } from './redact.js';
import type { ChatMessage, ChatOptions, ChatReply, ChatRequest, CompactionReport, EmbedResult, LlmProvider, LlmStats, ModelDescription, ModelStats } from './types.js';

/** Metadata requests (/api/tags, /api/show, /models) should answer fast even when a model is busy. */
const METADATA_TIMEOUT_MS = 15_000;

/** Ollama treats `qwen2.5` and `qwen2.5:latest` as the same model. */
function sameModel(a: string, b: string): boolean {
  const norm = (s: string) => (s.includes(':') ? s : `${s}:latest`);
  return norm(a) === norm(b);
}

function emptyStats(): ModelStats {
  return { calls: 0, errors: 0, errors_by_code: {}, prompt_tokens: 0, completion_tokens: 0, calls_without_usage: 0, compactions: 0, redactions: 0, embed_calls: 0, in_flight: 0, queued: 0 };
}

/**
 * The daemon's only way to a model. Every call is redacted, fitted to the context window,
 * queued per model, timed, classified into retryable or not, and counted. Owned by the main
 * thread: workers ask for calls by message, so the recording and rate limiting happen here.
 */
export class LlmGateway implements Service {
  readonly name = 'llm';
  private readonly backend: LlmBackend;
  private readonly limiters = new Map<string, FifoLimiter>();
  private readonly facts = new Map<string, ModelFacts>();
  private readonly factsInFlight = new Map<string, Promise<ModelFacts>>();
  private readonly counters = new Map<string, ModelStats>();
  /** Fires on stop(): cancels queued and running calls with a retryable 'unavailable'. */
  private readonly stopping = new AbortController();
  private probe: Promise<void> | null = null;

  constructor(
    private readonly config: CompiledLlm,
    private readonly log: Logger,
    /** The daemon's secret values, masked in every prompt in any formatted shape. */
    private readonly secrets: SecretMasker = new SecretMasker([]),
  ) {
    this.backend = config.provider === 'openai-compatible' ? new OpenAiBackend(config.base_url ?? config.host, config.api_key) : new OllamaBackend(config.host, config.keepAliveMs);
  }

  get provider(): LlmProvider {
    return this.backend.provider;
  }

  /** The configured default model. */
  get model(): string {
    return this.config.model;
  }

  /**
   * Does not wait for the server: the daemon must start without Ollama. A background probe logs
   * whether the model is there (and warms the per-model facts cache).
   */
  async start(): Promise<void> {
    this.log.info({ provider: this.provider, host: this.backend.host, model: this.config.model }, 'llm gateway ready');
    this.probe = this.describe()
      .then((d) => {
        if (!d.reachable || !d.pulled) this.log.warn({ model: d.model, host: d.host, error: d.error }, 'llm: model not usable yet');
        else this.log.info({ model: d.model, tools: d.tools, context_length: d.context_length }, 'llm: model available');
      })
      .catch(() => undefined);
  }

  /** Cancels queued and running calls (they fail retryable, so their steps run again after a restart). */
  async stop(): Promise<void> {
    const reason = new LlmError({ code: 'unavailable', message: 'the LLM gateway is stopping (daemon shutdown)', retryable: true });
    this.stopping.abort(reason);
    for (const l of this.limiters.values()) l.rejectAll(reason);
    await this.probe;
  }

  private stats_(model: string): ModelStats {
    let s = this.counters.get(model);
    if (!s) this.counters.set(model, (s = emptyStats()));
    return s;
  }

  private limiter(model: string): FifoLimiter {
    let l = this.limiters.get(model);
    if (!l) this.limiters.set(model, (l = new FifoLimiter(this.config.concurrency)));
    return l;
  }

  private ensureRunning(): void {
    if (this.stopping.signal.aborted) throw this.stopping.signal.reason as LlmError;
  }

  private signalFor(opts: { signal?: AbortSignal }): AbortSignal {
    return opts.signal ? AbortSignal.any([opts.signal, this.stopping.signal]) : this.stopping.signal;
  }

  /** Turns whatever a request threw into an LlmError, using what the watch saw on the wire. */
  private classify(e: unknown, watch: CallWatch, model: string, withTools: boolean): LlmError {
    const host = this.backend.host;
    if (watch.cancelled) {
      const reason = watch.cancelled.reason;
      if (isLlmError(reason)) return reason;
      return new LlmError({ code: 'aborted', message: `the call to ${model} was cancelled`, retryable: false });
    }
    if (isLlmError(e)) return e;
    if (watch.timedOut) {
      return new LlmError({
        code: 'unavailable',
        message: `${host} sent nothing for ${watch.idleMs} ms (model ${model}); the request was aborted`,
        retryable: true,
        hint: 'the server may be stuck or the model still loading; raise llm.timeout if this model is slow on this machine',
      });
    }
    const status = (e as { status_code?: unknown })?.status_code;
    if (typeof status === 'number') {
      const msg = String((e as { error?: unknown }).error ?? (e as Error).message);
      return httpError(status, msg, { model, provider: this.provider, host, withTools });
    }
    if (watch.malformedLine !== null) return new LlmError({ code: 'bad_response', message: `${host} sent a malformed JSON line mid-answer: ${watch.malformedLine}`, retryable: true });
    if (watch.errorLine !== null) return new LlmError({ code: 'bad_response', message: `${host} failed mid-answer: ${watch.errorLine}`, retryable: true });
    const message = (e as Error)?.message ?? String(e);
    if (/Did not receive done/i.test(message)) return new LlmError({ code: 'bad_response', message: `${host} ended the answer stream without its final done line (model ${model})`, retryable: true });
    if (isNetworkError(e)) {
      const code = networkCode(e);
      return new LlmError({
        code: 'unavailable',
        message: `cannot reach ${host}${code ? ` (${code})` : ''}: ${message}`,
        retryable: true,
        hint: this.provider === 'ollama' ? `is Ollama running? start it with \`ollama serve\` (llm.host: ${host})` : `is the server at llm.base_url running? (${host})`,
      });
    }
    if (e instanceof SyntaxError) return new LlmError({ code: 'bad_response', message: `${host} answered with invalid JSON: ${message}`, retryable: true });
    return new LlmError({ code: 'bad_response', message: `${host}: ${message}`, retryable: true });
  }

  /** Runs one backend request under a fresh watch and classifies its failure. */
  private async watched<T>(idleMs: number, signal: AbortSignal, model: string, withTools: boolean, fn: (w: CallWatch) => Promise<T>): Promise<T> {
    const watch = new CallWatch(idleMs, [signal]);
    try {
      return await fn(watch);
    } catch (e) {
      throw this.classify(e, watch, model, withTools);
    } finally {
      watch.dispose();
    }
  }

  /** /api/show (or GET /models), once per model; failures are not cached (the user may pull meanwhile). */
  private modelFacts(model: string): Promise<ModelFacts> {
    const known = this.facts.get(model);
    if (known) return Promise.resolve(known);
    let p = this.factsInFlight.get(model);
    if (!p) {
      p = this.watched(Math.min(this.config.timeoutMs, METADATA_TIMEOUT_MS), this.stopping.signal, model, false, (w) => this.backend.modelFacts(model, w));
      this.factsInFlight.set(model, p);
      p.then(
        (f) => this.facts.set(model, f),
        () => undefined,
      ).finally(() => this.factsInFlight.delete(model));
    }
    return p;
  }

  /** The context window used for `model`: llm.num_ctx, else the model's own length from /api/show, else 4096. */
  async numCtx(model: string = this.config.model): Promise<number> {
    if (this.config.num_ctx) return this.config.num_ctx;
    try {
      return (await this.modelFacts(model)).contextLength ?? DEFAULT_NUM_CTX;
    } catch {
      // The chat itself will report why the server cannot be used; this call just falls back.
      return DEFAULT_NUM_CTX;
    }
  }

  /** From /api/show capabilities (cached): true/false, or null when the server does not list capabilities. */
  async supportsTools(model: string = this.config.model): Promise<boolean | null> {
    this.ensureRunning();
    const f = await this.modelFacts(model);
    return f.capabilities ? f.capabilities.includes('tools') : null;
  }

  /**
   * Redaction, tool-output caps and compaction: what makes a request safe to send and sure to fit.
   * Throws invalid_request when even the compacted prompt exceeds num_ctx, because sending it
   * would let the server drop the oldest messages (the task) without telling anyone.
   */
  private prepare(req: ChatRequest, model: string, numCtx: number): { messages: ChatMessage[]; redactions: number; estimate: number; compacted?: CompactionReport; warnings: string[] } {
    const warnings: string[] = [];
    const red = redactMessages(req.messages, this.config.redactPatterns, this.secrets);
    let capped = 0;
    let messages = red.messages.map((m) => {
      if (m.role !== 'tool') return m;
      const content = capToolOutput(m.content, numCtx, this.config.tool_output_share);
      if (content === m.content) return m;
      capped++;
      return { ...m, content };
    });
    if (capped > 0) warnings.push(`${capped} tool result(s) cut to ${Math.round(this.config.tool_output_share * 100)}% of the context window (num_ctx ${numCtx})`);

    const fixed = estimateToolsTokens(req.tools);
    const budget = Math.floor(numCtx * PROMPT_BUDGET_SHARE);
    const { messages: fitted, report } = compactMessages(messages, fixed, budget);
    messages = fitted;
    const estimate = fixed + estimatePromptTokens(messages);
    if (report) {
      warnings.push(
        `prompt compacted from ~${report.estimated_tokens_before} to ~${report.estimated_tokens_after} tokens to fit num_ctx ${numCtx}: ` +
          `${report.tool_outputs_dropped} older tool output(s) dropped, ${report.messages_summarized} older message(s) summarized, ${report.tool_outputs_cut} latest tool output(s) cut`,
      );
    }
    if (estimate > numCtx) {
      throw new LlmError({
        code: 'invalid_request',
        message: `the prompt for ${model} needs ~${estimate} tokens (tool definitions: ~${fixed}) but num_ctx is ${numCtx}, even after compaction`,
        retryable: false,
        hint: 'raise llm.num_ctx (if the model allows it), offer fewer tools, or give the step less input',
      });
    }
    if (req.format !== undefined && req.tools && req.tools.length > 0) {
      warnings.push('format together with tools tends to suppress tool calls: do the tool turns without format, then one final turn with format and no tools');
    }
    return { messages, redactions: red.count, estimate, compacted: report ?? undefined, warnings };
  }

  /**
   * One model turn. Waits for a slot (FIFO, `llm.concurrency` per model), then sends the redacted,
   * fitted request and returns the whole answer. Throws LlmError (see errors.ts for which codes may
   * be retried).
   */
  async chat(req: ChatRequest, opts: ChatOptions = {}): Promise<ChatReply> {
    this.ensureRunning();
    const model = req.model ?? this.config.model;
    const stats = this.stats_(model);
    stats.calls++;
    const withTools = Boolean(req.tools && req.tools.length > 0);
    const signal = this.signalFor(opts);
    const limiter = this.limiter(model);
    let release: (() => void) | null = null;
    const queuedAt = Date.now();
    try {
      if (!Array.isArray(req.messages) || req.messages.length === 0) {
        throw new LlmError({ code: 'invalid_request', message: 'a chat needs at least one message', retryable: false });
      }
      stats.queued++;
      try {
        release = await limiter.acquire(signal);
      } finally {
        stats.queued--;
      }
      stats.in_flight++;
      const queued_ms = Date.now() - queuedAt;
      const numCtx = await this.numCtx(model);
      const prepared = this.prepare(req, model, numCtx);
      stats.redactions += prepared.redactions;
      if (prepared.compacted) stats.compactions++;

      const started = Date.now();
      const out = await this.watched(this.config.timeoutMs, signal, model, withTools, (w) =>
        this.backend.chat(
          { model, messages: prepared.messages, tools: req.tools, format: req.format, numCtx, temperature: req.temperature, maxTokens: req.max_tokens, stream: opts.stream ?? true },
          w,
        ),
      );
      const warnings = [...prepared.warnings, ...out.warnings];
      if (out.usage.prompt_tokens !== null && out.usage.prompt_tokens >= numCtx * 0.98) {
        warnings.push(`prompt_eval_count ${out.usage.prompt_tokens} reached num_ctx ${numCtx}: the server may have dropped context`);
      }
      if (out.done_reason === 'length') warnings.push('answer cut off at the length limit (done_reason: length)');

      if (out.usage.prompt_tokens === null || out.usage.completion_tokens === null) stats.calls_without_usage++;
      else {
        stats.prompt_tokens += out.usage.prompt_tokens;
        stats.completion_tokens += out.usage.completion_tokens;
      }
      const reply: ChatReply = {
        message: { content: out.content, tool_calls: out.tool_calls },
        model,
        provider: this.provider,
        done_reason: out.done_reason,
        usage: out.usage,
        num_ctx: numCtx,
        estimated_prompt_tokens: prepared.estimate,
        warnings,
        redactions: prepared.redactions,
        duration_ms: Date.now() - started,
        queued_ms,
      };
      if (prepared.compacted) reply.compacted = prepared.compacted;
      this.log.debug({ model, prompt_tokens: reply.usage.prompt_tokens, completion_tokens: reply.usage.completion_tokens, duration_ms: reply.duration_ms, tool_calls: reply.message.tool_calls.length, warnings: warnings.length }, 'llm chat');
      return reply;
    } catch (e) {
      const err = isLlmError(e) ? e : new LlmError({ code: 'bad_response', message: (e as Error)?.message ?? String(e), retryable: true });
      stats.errors++;
      stats.errors_by_code[err.code] = (stats.errors_by_code[err.code] ?? 0) + 1;
      if (err.code !== 'aborted') this.log.warn({ model, code: err.code, retryable: err.retryable, err: err.message }, 'llm chat failed');
      throw err;
    } finally {
      if (release) {
        stats.in_flight--;
        release();
      }
    }
  }

  /** Vectors for `texts` (redacted first) with `model`, else llm.embed_model, else llm.model. */
  async embed(texts: string[], model?: string, opts: { signal?: AbortSignal } = {}): Promise<EmbedResult> {
    this.ensureRunning();
    const name = model ?? this.config.embed_model ?? this.config.model;
    if (texts.length === 0) return { model: name, dimension: 0, vectors: [] };
    const stats = this.stats_(name);
    stats.embed_calls++;
    const signal = this.signalFor(opts);
    let release: (() => void) | null = null;
    try {
      release = await this.limiter(name).acquire(signal);
      const input = texts.map((t) => {
        const r = redactCount(t, this.config.redactPatterns, this.secrets);
        stats.redactions += r.count;
        return r.text;
      });
      const vectors = await this.watched(this.config.timeoutMs, signal, name, false, (w) => this.backend.embed(input, name, w));
      return { model: name, dimension: vectors[0]?.length ?? 0, vectors };
    } catch (e) {
      const err = isLlmError(e) ? e : new LlmError({ code: 'bad_response', message: (e as Error)?.message ?? String(e), retryable: true });
      stats.errors++;
      stats.errors_by_code[err.code] = (stats.errors_by_code[err.code] ?? 0) + 1;
      throw err;
    } finally {
      release?.();
    }
  }

  /** For doctor and status: can `model` be used, does it call tools, how long is its context. Never throws. */
  async describe(model: string = this.config.model): Promise<ModelDescription> {
    const d: ModelDescription = { provider: this.provider, host: this.backend.host, model, reachable: false, pulled: false, tools: null, context_length: null };
    try {
      const names = await this.watched(Math.min(this.config.timeoutMs, METADATA_TIMEOUT_MS), this.stopping.signal, model, false, (w) => this.backend.listModels(w));
      d.reachable = true;
      d.pulled = names.some((n) => sameModel(n, model));
      if (!d.pulled) {
        d.error = this.provider === 'ollama' ? `model ${model} is not pulled (have: ${names.join(', ') || 'none'}); run: ollama pull ${model}` : `model ${model} is not served by ${this.backend.host} (have: ${names.join(', ') || 'none'})`;
        return d;
      }
      const f = await this.modelFacts(model);
      d.tools = f.capabilities ? f.capabilities.includes('tools') : null;
      d.context_length = f.contextLength;
    } catch (e) {
      const err = isLlmError(e) ? e : null;
      d.error = err ? `${err.message}${err.hint ? ` (${err.hint})` : ''}` : String(e);
    }
    return d;
  }

  /** Counters per model since the daemon started. */
  stats(): LlmStats {
    const models: Record<string, ModelStats> = {};
    const totals = { calls: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0 };
    for (const [name, s] of this.counters) {
      models[name] = { ...s, errors_by_code: { ...s.errors_by_code } };
      totals.calls += s.calls;
      totals.errors += s.errors;
      totals.prompt_tokens += s.prompt_tokens;
      totals.completion_tokens += s.completion_tokens;
    }
    return { provider: this.provider, host: this.backend.host, totals, models };
  }
}
