import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';

/**
 * Loopback stand-ins for the LLM servers OpStream talks to, speaking their real HTTP APIs so the
 * official clients can be pointed at them (Ollama `host`, an OpenAI-compatible `base_url`).
 *
 * The Ollama fake reproduces the behaviours that bite in production (DESIGN.md "Stack notes"):
 * NDJSON streaming that ends in a `done: true` line carrying the counts, tool-call arguments as
 * objects, `id`/`function.index` only on newer versions, 404 for a model that is not pulled, 400 for
 * tools sent to a model without tool support, `{"error"}` lines on HTTP 200 mid-stream, a default
 * context of 4096 tokens with the OLDEST messages silently dropped past `options.num_ctx`, and
 * `format` + `tools` suppressing tool calls.
 */

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** The same rough estimate the gateway uses: ~4 characters per token plus a few per message. */
export function fakeTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

interface WireMessage {
  role: string;
  content?: string;
  tool_calls?: unknown[];
  tool_name?: string;
}

function promptTokens(messages: WireMessage[], tools: unknown[] | undefined, charsPerToken = 4): number {
  const t = (text: string) => Math.ceil(text.length / charsPerToken);
  let n = tools && tools.length > 0 ? t(JSON.stringify(tools)) : 0;
  for (const m of messages) {
    n += 4 + t(m.content ?? '');
    if (m.tool_calls && m.tool_calls.length > 0) n += t(JSON.stringify(m.tool_calls));
  }
  return n;
}

/** Ollama treats `qwen2.5` as `qwen2.5:latest`. */
function normalizeModel(name: string): string {
  return name.includes(':') ? name : `${name}:latest`;
}

function versionAtLeast(version: string, min: string): boolean {
  const a = version.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const b = min.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A deferred promise, for tests that hold a reply until they release it. */
export function deferred<T = void>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Tracks sockets so close() can end hanging requests instead of waiting for them. */
function trackSockets(server: Server): () => Promise<void> {
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
      server.closeAllConnections?.();
    });
}

// ---------------------------------------------------------------------------------------------
// Ollama

export interface FakeModel {
  name: string;
  /** Lists `tools` in /api/show capabilities; without it /api/chat with tools answers 400. Default true. */
  tools?: boolean;
  /** An embedding-only model (capabilities: ['embedding']): chat answers 400. Default false. */
  embedding?: boolean;
  /** `<arch>.context_length` in /api/show model_info. Default 32768. */
  contextLength?: number;
  /** `general.architecture`. Default 'qwen2'. */
  architecture?: string;
}

export interface ScriptedToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/** What the model "says". Content is streamed in a few chunks; tool calls arrive in one chunk before the done line. */
export interface ScriptedAnswer {
  content?: string;
  tool_calls?: ScriptedToolCall[];
  /** Default 'stop'. 'length' mimics an answer cut at num_predict / the context limit. */
  done_reason?: string;
  /** Counts left out of the final line, as older servers do for a cached prompt (unknown, not 0). */
  omit?: Array<'prompt_eval_count' | 'eval_count'>;
  /** Content chunks when streaming (default 3). */
  chunks?: number;
}

export type FaultKind = 'http500' | 'error_mid_stream' | 'no_done' | 'hang' | 'malformed_json' | 'busy503';

export interface ScriptedFault {
  fault: FaultKind;
  /** For 'hang': 'headers' = send headers and one chunk first (a stall between chunks, the default); 'nothing' = never answer. */
  hangAfter?: 'headers' | 'nothing';
}

export type ScriptedReply = ScriptedAnswer | ScriptedFault;

/** One /api/chat request as the server understood it. */
export interface RecordedChat {
  /** 1-based, in arrival order. */
  seq: number;
  body: {
    model: string;
    messages: WireMessage[];
    tools?: unknown[];
    format?: unknown;
    stream?: boolean;
    keep_alive?: string | number;
    options?: Record<string, unknown>;
  };
  /** num_ctx in force for this request (`options.num_ctx` or 4096). */
  numCtx: number;
  /** Estimate of the whole prompt (messages + tool definitions) before any truncation. */
  promptTokens: number;
  /** How many of the oldest non-system messages the server dropped to fit num_ctx (0 = none). */
  droppedMessages: number;
  /** The messages the "model" actually saw after truncation. */
  seenMessages: WireMessage[];
  /** The client went away before the response ended (a timeout abort, for instance). */
  aborted: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON when the body was JSON, the raw text otherwise (undefined for GET). */
  body: unknown;
}

export type ChatHandler = (chat: RecordedChat) => ScriptedReply | Promise<ScriptedReply>;

export interface OllamaLoopbackOptions {
  /** Reported by /api/version. Tool calls carry `function.index` from 0.12.6 and `id` from 0.12.10. Default '0.12.10'. */
  version?: string;
  /** Replies used in order, one per /api/chat call; when empty, `handler` or an echo answer is used. */
  replies?: ScriptedReply[];
  handler?: ChatHandler;
  /** Dimension of /api/embed vectors. Default 64. */
  embedDimension?: number;
  /** With `format` and `tools` together, drop scripted tool calls (the real tendency). Default true. */
  formatSuppressesTools?: boolean;
  /**
   * The fake tokenizer's density. Default 4 (the gateway's own estimate); lower it to mimic text
   * that tokenizes denser than estimated (logs, JSON, non-English), so a prompt the gateway
   * thinks fits still overflows num_ctx.
   */
  charsPerToken?: number;
}

export interface OllamaCounters {
  chatCalls: number;
  embedCalls: number;
  showCalls: number;
  promptTokens: number;
  completionTokens: number;
  /** Chats in which the server dropped messages to fit num_ctx. */
  truncations: number;
  /** Responses the client abandoned before they ended. */
  aborted: number;
  inFlight: number;
  maxInFlight: number;
}

export interface OllamaLoopback {
  host: string;
  requests: RecordedRequest[];
  chats: RecordedChat[];
  counters: OllamaCounters;
  /**
   * Emits 'request' (RecordedRequest), 'chat' (RecordedChat, once parsed, before the reply),
   * 'aborted' (RecordedChat) and 'chat-end' (RecordedChat): tests wait on these, never on time.
   */
  events: EventEmitter;
  /** Appends replies to the queue. */
  script(...replies: ScriptedReply[]): void;
  setHandler(handler: ChatHandler | undefined): void;
  /** Replaces the pulled models (e.g. to simulate `ollama pull` while a step waits). */
  setModels(models: Array<string | FakeModel>): void;
  /** Resolves with the next event of that name (already-recorded ones do not count). */
  next<T = RecordedChat>(event: 'chat' | 'aborted' | 'chat-end' | 'request'): Promise<T>;
  /** Clears records, counters and the reply queue. */
  reset(): void;
  /** Ends hanging responses, destroys every socket and closes the server. */
  close(): Promise<void>;
}

const DEFAULT_NUM_CTX = 4096;

function toModel(m: string | FakeModel): FakeModel {
  return typeof m === 'string' ? { name: normalizeModel(m) } : { ...m, name: normalizeModel(m.name) };
}

/** Hashed bag of words, L2-normalised: texts sharing words get a high cosine similarity. */
export function fakeEmbedding(text: string, dimension: number): number[] {
  const v = new Array<number>(dimension).fill(0);
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
    let h = 0x811c9dc5;
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x01000193) >>> 0;
    v[h % dimension] += 1;
  }
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  if (norm === 0) {
    v[0] = 1;
    return v;
  }
  return v.map((x) => x / norm);
}

/**
 * Starts the fake. `models` are the pulled models (plain names get tool support and a 32k context).
 * The one-argument form is what `opstream doctor`'s test uses.
 */
export async function startOllamaLoopback(models: Array<string | FakeModel>, options: OllamaLoopbackOptions = {}): Promise<OllamaLoopback> {
  const version = options.version ?? '0.12.10';
  const dimension = options.embedDimension ?? 64;
  const suppress = options.formatSuppressesTools ?? true;
  const cpt = options.charsPerToken ?? 4;
  let pulled = new Map(models.map((m) => [toModel(m).name, toModel(m)]));
  let queue: ScriptedReply[] = [...(options.replies ?? [])];
  let handler = options.handler;
  const events = new EventEmitter();
  events.setMaxListeners(100);
  const requests: RecordedRequest[] = [];
  const chats: RecordedChat[] = [];
  const zero = (): OllamaCounters => ({ chatCalls: 0, embedCalls: 0, showCalls: 0, promptTokens: 0, completionTokens: 0, truncations: 0, aborted: 0, inFlight: 0, maxInFlight: 0 });
  const counters = zero();
  /** Responses that never end on their own ('hang'): ended by close(). */
  const hanging = new Set<ServerResponse>();
  let callId = 0;

  const notFound = (res: ServerResponse, model: string) => sendJson(res, 404, { error: `model '${model}' not found` });

  const tags = () => ({
    models: [...pulled.values()].map((m) => ({
      name: m.name,
      model: m.name,
      modified_at: new Date().toISOString(),
      size: 4_683_087_332,
      digest: 'sha256:0',
      details: { parent_model: '', format: 'gguf', family: m.architecture ?? 'qwen2', families: [m.architecture ?? 'qwen2'], parameter_size: '7.6B', quantization_level: 'Q4_K_M' },
    })),
  });

  const show = (m: FakeModel) => {
    const arch = m.architecture ?? 'qwen2';
    const capabilities = m.embedding ? ['embedding'] : m.tools === false ? ['completion'] : ['completion', 'tools'];
    return {
      license: '',
      modelfile: `FROM ${m.name}`,
      parameters: '',
      template: '{{ .Prompt }}',
      details: { parent_model: '', format: 'gguf', family: arch, families: [arch], parameter_size: '7.6B', quantization_level: 'Q4_K_M' },
      model_info: { 'general.architecture': arch, [`${arch}.context_length`]: m.contextLength ?? 32768, [`${arch}.embedding_length`]: 3584 },
      // /api/show has listed capabilities since 0.6.4; older servers leave them out.
      ...(versionAtLeast(version, '0.6.4') ? { capabilities } : {}),
      modified_at: new Date().toISOString(),
    };
  };

  async function chat(req: IncomingMessage, res: ServerResponse, body: RecordedChat['body']): Promise<void> {
    const name = normalizeModel(String(body.model ?? ''));
    const model = pulled.get(name);
    if (!model) return notFound(res, String(body.model));
    if (model.embedding) return sendJson(res, 400, { error: `"${body.model}" does not support chat` });
    const tools = Array.isArray(body.tools) && body.tools.length > 0 ? body.tools : undefined;
    if (tools && model.tools === false) return sendJson(res, 400, { error: `registry.ollama.ai/library/${body.model} does not support tools` });

    const numCtx = typeof body.options?.num_ctx === 'number' ? body.options.num_ctx : DEFAULT_NUM_CTX;
    const messages = Array.isArray(body.messages) ? body.messages : [];
    const fullTokens = promptTokens(messages, tools, cpt);
    // Real Ollama fits the prompt into num_ctx by dropping the oldest messages (keeping system
    // messages and the latest message) and only logs it: the caller never hears about it.
    const seen = [...messages];
    let dropped = 0;
    while (promptTokens(seen, tools, cpt) > numCtx) {
      const i = seen.findIndex((m, idx) => m.role !== 'system' && idx < seen.length - 1);
      if (i < 0) break;
      seen.splice(i, 1);
      dropped++;
    }
    const stream = body.stream !== false;
    const rec: RecordedChat = { seq: ++callId, body, numCtx, promptTokens: fullTokens, droppedMessages: dropped, seenMessages: seen, aborted: false };
    chats.push(rec);
    counters.chatCalls++;
    if (dropped > 0) counters.truncations++;
    counters.inFlight++;
    counters.maxInFlight = Math.max(counters.maxInFlight, counters.inFlight);
    let ended = false;
    const finish = () => {
      if (ended) return;
      ended = true;
      counters.inFlight--;
      hanging.delete(res);
      events.emit('chat-end', rec);
    };
    res.on('close', () => {
      if (!res.writableFinished) {
        rec.aborted = true;
        counters.aborted++;
        events.emit('aborted', rec);
      }
      finish();
    });
    req.on('error', () => undefined);
    events.emit('chat', rec);

    const reply: ScriptedReply = queue.length > 0 ? queue.shift()! : handler ? await handler(rec) : { content: `echo: ${[...messages].reverse().find((m) => m.role === 'user')?.content ?? ''}` };
    if (res.destroyed) return finish();

    const created = () => new Date().toISOString();
    const line = (obj: unknown) => res.write(`${JSON.stringify(obj)}\n`);
    const ndjsonHead = () => res.writeHead(200, { 'content-type': 'application/x-ndjson' });

    if ('fault' in reply) {
      switch (reply.fault) {
        case 'http500':
          return sendJson(res, 500, { error: 'llama runner process has terminated: signal: killed' });
        case 'busy503':
          return sendJson(res, 503, { error: 'server busy, please try again.  maximum pending requests exceeded' });
        case 'error_mid_stream':
          if (!stream) return sendJson(res, 500, { error: 'an error was encountered while running the model: unexpected EOF' });
          ndjsonHead();
          line({ model: body.model, created_at: created(), message: { role: 'assistant', content: 'Partial' }, done: false });
          line({ error: 'an error was encountered while running the model: unexpected EOF' });
          res.end();
          return;
        case 'no_done':
          ndjsonHead();
          line({ model: body.model, created_at: created(), message: { role: 'assistant', content: 'Half an answer' }, done: false });
          res.end();
          return;
        case 'malformed_json':
          ndjsonHead();
          line({ model: body.model, created_at: created(), message: { role: 'assistant', content: 'Half' }, done: false });
          res.write('{"model":"' + body.model + '","message":{"role":"assistant","content":"unterminated\n');
          // A done line follows: the official client skips bad lines with a console warning, so
          // only a caller that checks each line notices the answer lost a piece.
          line({ model: body.model, created_at: created(), message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 1, eval_count: 1 });
          res.end();
          return;
        case 'hang':
          hanging.add(res);
          if (reply.hangAfter !== 'nothing') {
            ndjsonHead();
            line({ model: body.model, created_at: created(), message: { role: 'assistant', content: 'Thinking' }, done: false });
          }
          return; // never ends: the client must time out and abort, or close() ends it
      }
    }

    const ignoreTools = Boolean(body.format && tools && suppress);
    const scriptedCalls = ignoreTools ? [] : (reply.tool_calls ?? []);
    const content = ignoreTools && !reply.content ? '{}' : (reply.content ?? '');
    const toolCalls = scriptedCalls.map((tc, index) => ({
      ...(versionAtLeast(version, '0.12.10') ? { id: `call_${Math.random().toString(36).slice(2, 10)}` } : {}),
      function: { ...(versionAtLeast(version, '0.12.6') ? { index } : {}), name: tc.name, arguments: tc.arguments },
    }));
    const evalCount = Math.max(1, fakeTokens(content) + (toolCalls.length > 0 ? fakeTokens(JSON.stringify(toolCalls)) : 0));
    const promptEval = Math.min(fullTokens, numCtx);
    counters.promptTokens += promptEval;
    counters.completionTokens += evalCount;
    const omit = new Set(reply.omit ?? []);
    const final = {
      done: true,
      done_reason: reply.done_reason ?? 'stop',
      total_duration: 1_234_567,
      load_duration: 12_345,
      ...(omit.has('prompt_eval_count') ? {} : { prompt_eval_count: promptEval, prompt_eval_duration: 123_456 }),
      ...(omit.has('eval_count') ? {} : { eval_count: evalCount, eval_duration: 234_567 }),
    };

    if (!stream) {
      return sendJson(res, 200, {
        model: body.model,
        created_at: created(),
        message: { role: 'assistant', content, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) },
        ...final,
      });
    }
    ndjsonHead();
    const n = Math.max(1, reply.chunks ?? 3);
    const size = Math.ceil(content.length / n) || 1;
    for (let i = 0; i < content.length; i += size) {
      line({ model: body.model, created_at: created(), message: { role: 'assistant', content: content.slice(i, i + size) }, done: false });
    }
    if (toolCalls.length > 0) line({ model: body.model, created_at: created(), message: { role: 'assistant', content: '', tool_calls: toolCalls }, done: false });
    line({ model: body.model, created_at: created(), message: { role: 'assistant', content: '' }, ...final });
    res.end();
  }

  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      const raw = req.method === 'GET' || req.method === 'HEAD' ? '' : await readBody(req);
      let body: unknown = undefined;
      if (raw) {
        try {
          body = JSON.parse(raw);
        } catch {
          body = raw;
        }
      }
      const rec: RecordedRequest = { method: req.method ?? 'GET', path, headers: req.headers, body };
      requests.push(rec);
      events.emit('request', rec);
      if (raw && typeof body === 'string') return sendJson(res, 400, { error: 'invalid character in JSON body' });
      const b = (body ?? {}) as Record<string, unknown>;

      if (req.method === 'GET' && path === '/api/tags') return sendJson(res, 200, tags());
      if (req.method === 'GET' && path === '/api/version') return sendJson(res, 200, { version });
      if (req.method === 'GET' && path === '/') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end('Ollama is running');
      }
      if (req.method === 'POST' && path === '/api/show') {
        counters.showCalls++;
        const name = String(b.model ?? b.name ?? '');
        const m = pulled.get(normalizeModel(name));
        return m ? sendJson(res, 200, show(m)) : notFound(res, name);
      }
      if (req.method === 'POST' && path === '/api/embed') {
        const name = String(b.model ?? '');
        const m = pulled.get(normalizeModel(name));
        if (!m) return notFound(res, name);
        counters.embedCalls++;
        const input = Array.isArray(b.input) ? b.input.map(String) : [String(b.input ?? '')];
        return sendJson(res, 200, {
          model: name,
          embeddings: input.map((t) => fakeEmbedding(t, dimension)),
          total_duration: 1_000_000,
          load_duration: 1_000,
          prompt_eval_count: input.reduce((s, t) => s + fakeTokens(t), 0),
        });
      }
      if (req.method === 'POST' && path === '/api/chat') return chat(req, res, b as RecordedChat['body']);
      sendJson(res, 404, { error: `no route ${req.method} ${path}` });
    })().catch((e: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(e) });
      else res.destroy();
    });
  });
  const closeAll = trackSockets(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;

  return {
    host: `http://127.0.0.1:${port}`,
    requests,
    chats,
    counters,
    events,
    script: (...replies) => void queue.push(...replies),
    setHandler: (h) => void (handler = h),
    setModels: (ms) => void (pulled = new Map(ms.map((m) => [toModel(m).name, toModel(m)]))),
    next: async <T>(event: string) => (await once(events, event))[0] as T,
    reset() {
      requests.length = 0;
      chats.length = 0;
      queue = [];
      Object.assign(counters, zero(), { inFlight: counters.inFlight });
    },
    async close() {
      for (const res of hanging) res.destroy();
      hanging.clear();
      await closeAll();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible (LM Studio, vLLM, llama.cpp server): POST {base_url}/chat/completions

export interface OpenAiScriptedAnswer {
  content?: string | null;
  tool_calls?: ScriptedToolCall[];
  /** Default 'stop' ('tool_calls' when tool calls are scripted). */
  finish_reason?: string;
  /** Leave `usage` out of the response (some servers do). */
  omitUsage?: boolean;
}

export type OpenAiReply = OpenAiScriptedAnswer | { status: number; error: string };

export interface OpenAiLoopbackOptions {
  models?: string[];
  /** When set, requests without `Authorization: Bearer <apiKey>` get 401. */
  apiKey?: string;
  replies?: OpenAiReply[];
  handler?: (body: Record<string, unknown>) => OpenAiReply | Promise<OpenAiReply>;
  embedDimension?: number;
}

export interface OpenAiLoopback {
  /** Ends in /v1, as `llm.base_url` is written. */
  baseUrl: string;
  requests: RecordedRequest[];
  script(...replies: OpenAiReply[]): void;
  close(): Promise<void>;
}

export async function startOpenAiLoopback(options: OpenAiLoopbackOptions = {}): Promise<OpenAiLoopback> {
  const models = options.models ?? ['local-model'];
  const queue: OpenAiReply[] = [...(options.replies ?? [])];
  const requests: RecordedRequest[] = [];
  const dimension = options.embedDimension ?? 64;
  let n = 0;
  const server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      const raw = req.method === 'GET' ? '' : await readBody(req);
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body: raw ? body : undefined });
      if (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`) {
        return sendJson(res, 401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } });
      }
      if (req.method === 'GET' && path === '/v1/models') return sendJson(res, 200, { object: 'list', data: models.map((id) => ({ id, object: 'model', owned_by: 'local', max_model_len: 8192 })) });
      if (req.method === 'POST' && path === '/v1/embeddings') {
        const input = Array.isArray(body.input) ? body.input.map(String) : [String(body.input ?? '')];
        return sendJson(res, 200, { object: 'list', model: body.model, data: input.map((t, index) => ({ object: 'embedding', index, embedding: fakeEmbedding(t, dimension) })), usage: { prompt_tokens: 1, total_tokens: 1 } });
      }
      if (req.method === 'POST' && path === '/v1/chat/completions') {
        if (!models.includes(String(body.model))) return sendJson(res, 404, { error: { message: `The model \`${String(body.model)}\` does not exist.`, type: 'invalid_request_error', code: 'model_not_found' } });
        const reply: OpenAiReply = queue.length > 0 ? queue.shift()! : options.handler ? await options.handler(body) : { content: 'ok' };
        if ('status' in reply) return sendJson(res, reply.status, { error: { message: reply.error, type: 'server_error' } });
        const messages = (body.messages as WireMessage[] | undefined) ?? [];
        const toolCalls = (reply.tool_calls ?? []).map((tc, i) => ({ id: `call_${++n}_${i}`, type: 'function', function: { name: tc.name, arguments: JSON.stringify(tc.arguments) } }));
        const content = reply.content === undefined ? (toolCalls.length > 0 ? null : 'ok') : reply.content;
        return sendJson(res, 200, {
          id: `chatcmpl-${n}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) }, finish_reason: reply.finish_reason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop') }],
          ...(reply.omitUsage ? {} : { usage: { prompt_tokens: promptTokens(messages, body.tools as unknown[] | undefined), completion_tokens: Math.max(1, fakeTokens(content ?? '')), total_tokens: 0 } }),
        });
      }
      sendJson(res, 404, { error: { message: `no route ${req.method} ${path}` } });
    })().catch((e: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(e) } });
    });
  });
  const closeAll = trackSockets(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}/v1`, requests, script: (...r) => void queue.push(...r), close: closeAll };
}
