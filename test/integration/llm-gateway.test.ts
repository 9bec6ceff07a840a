import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ollama } from 'ollama';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { CompiledLlm } from '../../src/config/load.js';
import { LlmGateway, isLlmError, type ChatMessage, type ChatRequest, type LlmError, type ToolDefinition } from '../../src/daemon/llm/index.js';
import { deferred, startOllamaLoopback, startOpenAiLoopback, type OllamaLoopback, type OllamaLoopbackOptions, type RecordedChat } from '../support/ollama-loopback.js';

const MODEL = 'qwen2.5:7b';
const log = pino({ level: 'silent' });
const closers: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

function llmConfig(over: Partial<CompiledLlm>): CompiledLlm {
  return {
    provider: 'ollama',
    host: 'http://127.0.0.1:1',
    model: MODEL,
    redact: [],
    concurrency: 1,
    keep_alive: '30m',
    timeout: '5m',
    tool_output_share: 0.25,
    wait_unavailable: '5m',
    waitUnavailableMs: 5 * 60_000,
    keepAliveMs: 30 * 60_000,
    timeoutMs: 5 * 60_000,
    redactPatterns: [],
    ...over,
  };
}

async function setup(over: Partial<CompiledLlm> = {}, fakeOpts: OllamaLoopbackOptions = {}, models: Parameters<typeof startOllamaLoopback>[0] = [MODEL, { name: 'gemma2:2b', tools: false }, { name: 'nomic-embed-text', embedding: true }]) {
  const fake = await startOllamaLoopback(models, fakeOpts);
  const gw = new LlmGateway(llmConfig({ host: fake.host, ...over }), log);
  closers.push(() => fake.close(), () => gw.stop());
  return { fake, gw };
}

async function failure(p: Promise<unknown>): Promise<LlmError> {
  try {
    await p;
  } catch (e) {
    if (isLlmError(e)) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

const probeTool: ToolDefinition = {
  name: 'ops.http_probe',
  description: 'GET a URL and report status and latency',
  parameters: { type: 'object', properties: { url: { type: 'string' }, timeout: { type: 'number' } }, required: ['url'] },
};
const ask = (content: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({ messages: [{ role: 'user', content }], ...extra });
const chatBody = (fake: OllamaLoopback, i = 0) => fake.chats[i].body;

describe('LLM gateway against a loopback Ollama', () => {
  it('streams an answer with tool calls: arguments as objects, ids, usage from the done line', async () => {
    const { fake, gw } = await setup({ num_ctx: 8192 });
    fake.script({ content: 'Let me check the service.', tool_calls: [{ name: 'ops.http_probe', arguments: { url: 'https://checkout.internal/health', timeout: 5 } }] });
    const reply = await gw.chat(ask('Is checkout healthy?', { tools: [probeTool] }));

    expect(reply.message.content).toBe('Let me check the service.');
    expect(reply.message.tool_calls).toEqual([{ id: expect.stringMatching(/^call_/), name: 'ops.http_probe', arguments: { url: 'https://checkout.internal/health', timeout: 5 } }]);
    expect(reply.done_reason).toBe('stop');
    expect(reply.usage).toEqual({ prompt_tokens: fake.counters.promptTokens, completion_tokens: fake.counters.completionTokens });
    expect(reply.usage.prompt_tokens).toBeGreaterThan(0);
    expect(reply.warnings).toEqual([]);
    expect(chatBody(fake).stream).toBe(true);
    expect(chatBody(fake).tools).toEqual([{ type: 'function', function: { name: 'ops.http_probe', description: probeTool.description, parameters: probeTool.parameters } }]);
    // The server's count includes the tool definitions, and our estimate is close to it.
    expect(fake.chats[0].promptTokens).toBeGreaterThan(JSON.stringify(chatBody(fake).tools).length / 4);
    expect(reply.estimated_prompt_tokens).toBeGreaterThanOrEqual(fake.chats[0].promptTokens);
    expect(gw.stats().models[MODEL]).toMatchObject({ calls: 1, errors: 0, prompt_tokens: reply.usage.prompt_tokens, completion_tokens: reply.usage.completion_tokens });
  });

  it('reads a non-streamed answer from an older server whose tool calls have no id or index', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096 }, { version: '0.11.4' });
    fake.script({ tool_calls: [{ name: 'ops.http_probe', arguments: { url: 'https://a' } }, { name: 'ops.http_probe', arguments: { url: 'https://b' } }] });
    const reply = await gw.chat(ask('probe both', { tools: [probeTool] }), { stream: false });

    expect(chatBody(fake).stream).toBe(false);
    expect(reply.message.tool_calls).toEqual([
      { name: 'ops.http_probe', arguments: { url: 'https://a' } },
      { name: 'ops.http_probe', arguments: { url: 'https://b' } },
    ]);
    expect(reply.message.tool_calls[0]).not.toHaveProperty('id');
  });

  it('reports token counts the server left out as unknown (null), not 0', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096 });
    fake.script({ content: 'cached', omit: ['prompt_eval_count', 'eval_count'] }, { content: 'half', omit: ['prompt_eval_count'] });
    expect((await gw.chat(ask('again'))).usage).toEqual({ prompt_tokens: null, completion_tokens: null });
    const second = await gw.chat(ask('again'));
    expect(second.usage.prompt_tokens).toBeNull();
    expect(second.usage.completion_tokens).toBeGreaterThan(0);
    expect(gw.stats().models[MODEL]).toMatchObject({ calls: 2, calls_without_usage: 2, prompt_tokens: 0, completion_tokens: 0 });
  });

  it('says model_not_found with the pull command for a model that is not pulled, and works once it is', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096 });
    const err = await failure(gw.chat(ask('hi', { model: 'llama3.1:8b' })));
    expect(err.toErrorData()).toEqual({ code: 'model_not_found', message: expect.stringContaining("model 'llama3.1:8b' not found"), retryable: true, hint: 'ollama pull llama3.1:8b' });
    expect(gw.stats().models['llama3.1:8b']).toMatchObject({ calls: 1, errors: 1, errors_by_code: { model_not_found: 1 } });

    fake.setModels([MODEL, 'llama3.1:8b']); // the user ran `ollama pull` while the step waited
    expect((await gw.chat(ask('hi', { model: 'llama3.1:8b' }))).message.content).toBe('echo: hi');
  });

  it('says no_tool_support (not retryable) when tools go to a model without tool capability', async () => {
    const { gw } = await setup({ num_ctx: 4096 });
    const err = await failure(gw.chat(ask('probe', { model: 'gemma2:2b', tools: [probeTool] })));
    expect(err).toMatchObject({ code: 'no_tool_support', retryable: false });
    expect(err.message).toContain('does not support tools');
    expect(err.hint).toContain('tool support');
    expect(await gw.supportsTools('gemma2:2b')).toBe(false);
    expect(await gw.supportsTools(MODEL)).toBe(true);
  });

  it('turns an error line mid-stream (HTTP 200) into a retryable bad_response', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096 });
    fake.script({ fault: 'error_mid_stream' });
    const err = await failure(gw.chat(ask('go')));
    expect(err).toMatchObject({ code: 'bad_response', retryable: true });
    expect(err.message).toContain('unexpected EOF');
  });

  it('turns a stream that ends without its done line into bad_response', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096 });
    fake.script({ fault: 'no_done' });
    const err = await failure(gw.chat(ask('go')));
    expect(err).toMatchObject({ code: 'bad_response', retryable: true });
    expect(err.message).toContain('without its final done line');
  });

  it('notices a malformed JSON line that the client alone would skip', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096 });
    fake.script({ fault: 'malformed_json' });
    const err = await failure(gw.chat(ask('go')));
    expect(err).toMatchObject({ code: 'bad_response', retryable: true });
    expect(err.message).toContain('malformed JSON line');
  });

  it('treats HTTP 500 and a busy 503 as unavailable and retryable', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096 });
    fake.script({ fault: 'http500' }, { fault: 'busy503' });
    expect(await failure(gw.chat(ask('a')))).toMatchObject({ code: 'unavailable', retryable: true, message: expect.stringContaining('HTTP 500') });
    const busy = await failure(gw.chat(ask('b')));
    expect(busy).toMatchObject({ code: 'unavailable', retryable: true, message: expect.stringContaining('busy') });
    expect(gw.stats().models[MODEL].errors_by_code).toEqual({ unavailable: 2 });
  });

  it('aborts a stream that stalls past llm.timeout and reports unavailable', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096, timeoutMs: 300 });
    fake.script({ fault: 'hang' });
    const aborted = fake.next<RecordedChat>('aborted');
    const err = await failure(gw.chat(ask('go')));
    expect(err).toMatchObject({ code: 'unavailable', retryable: true, message: expect.stringContaining('sent nothing for 300 ms') });
    expect((await aborted).seq).toBe(1); // the server saw the client go away: the request is not left running
    expect(fake.counters.inFlight).toBe(0);
  });

  it('also times out a server that never sends the response head', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096, timeoutMs: 300 });
    fake.script({ fault: 'hang', hangAfter: 'nothing' });
    const aborted = fake.next<RecordedChat>('aborted');
    expect(await failure(gw.chat(ask('go')))).toMatchObject({ code: 'unavailable', retryable: true });
    await aborted;
  });

  it('reports a refused connection as unavailable with a hint to start Ollama', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    const gw = new LlmGateway(llmConfig({ host: `http://127.0.0.1:${port}`, num_ctx: 4096 }), log);
    const err = await failure(gw.chat(ask('hi')));
    expect(err).toMatchObject({ code: 'unavailable', retryable: true, hint: expect.stringContaining('ollama serve') });
    expect(await gw.describe()).toMatchObject({ reachable: false, pulled: false, error: expect.stringContaining('cannot reach') });
  });

  it('warns when the answer was cut at the length limit and when the prompt filled num_ctx', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096 });
    fake.script({ content: 'The root cause is', done_reason: 'length' });
    const reply = await gw.chat(ask('explain', { max_tokens: 5 }));
    expect(reply.done_reason).toBe('length');
    expect(reply.warnings).toContain('answer cut off at the length limit (done_reason: length)');
    expect(chatBody(fake).options).toMatchObject({ num_predict: 5 });
  });

  it('warns when the server counted the prompt as filling num_ctx (text denser than the estimate)', async () => {
    const { fake, gw } = await setup({ num_ctx: 2048 }, { charsPerToken: 2 });
    const reply = await gw.chat({ messages: [{ role: 'user', content: 'old question' }, { role: 'assistant', content: 'old answer' }, { role: 'user', content: '{"k":1},'.repeat(700) }] });
    expect(reply.compacted).toBeUndefined(); // by our estimate (~1400 tokens) it fitted
    expect(fake.chats[0].droppedMessages).toBeGreaterThan(0);
    expect(reply.usage.prompt_tokens).toBe(2048);
    expect(reply.warnings).toContain('prompt_eval_count 2048 reached num_ctx 2048: the server may have dropped context');
  });

  it('sends num_ctx (from /api/show when not configured, cached) and keep_alive on every request', async () => {
    const { fake, gw } = await setup({ keepAliveMs: 10 * 60_000 }, {}, [{ name: MODEL, contextLength: 8192 }]);
    await gw.chat(ask('one'));
    await gw.chat(ask('two'));
    expect(fake.chats.map((c) => c.body.options?.num_ctx)).toEqual([8192, 8192]);
    expect(fake.chats.map((c) => c.body.keep_alive)).toEqual(['600s', '600s']);
    expect(fake.counters.showCalls).toBe(1);
    expect((await gw.chat(ask('three'))).num_ctx).toBe(8192);
  });

  it('uses llm.num_ctx when configured without asking /api/show, and 4096 when nothing says otherwise', async () => {
    const { fake, gw } = await setup({ num_ctx: 2048 });
    await gw.chat(ask('one'));
    expect(chatBody(fake).options?.num_ctx).toBe(2048);
    expect(fake.requests.filter((r) => r.path === '/api/show')).toEqual([]);

    // An older server whose /api/show gives no context length: fall back to Ollama's default.
    const old = await startOllamaLoopback([{ name: MODEL, architecture: 'llama' }]);
    closers.push(() => old.close());
    const info = (await new Ollama({ host: old.host }).show({ model: MODEL })).model_info as unknown as Record<string, unknown>;
    expect(info['llama.context_length']).toBe(32768);
    const gw2 = new LlmGateway(llmConfig({ host: old.host }), log);
    expect(await gw2.numCtx()).toBe(32768);
  });

  it('compacts a long agent conversation so the server never drops the oldest messages', async () => {
    const { fake, gw } = await setup({ num_ctx: 1024 });
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are an ops assistant. Answer briefly.' },
      { role: 'user', content: 'TASK: find why checkout latency rose at 14:00.' },
    ];
    for (let i = 0; i < 6; i++) {
      messages.push({ role: 'assistant', content: '', tool_calls: [{ name: 'ops.http_probe', arguments: { url: `https://svc-${i}.internal` } }] });
      messages.push({ role: 'tool', tool_name: 'ops.http_probe', content: `svc-${i}: ${'latency sample 120ms; '.repeat(40)}` });
    }

    // Without compaction the fake (like real Ollama) silently drops the task.
    const client = new Ollama({ host: fake.host });
    await client.chat({ model: MODEL, messages: messages.map((m) => ({ role: m.role, content: m.content })), options: { num_ctx: 1024 } });
    expect(fake.chats[0].droppedMessages).toBeGreaterThan(0);
    expect(fake.chats[0].seenMessages.some((m) => m.content?.startsWith('TASK'))).toBe(false);

    const reply = await gw.chat({ messages, tools: [probeTool] });
    const seen = fake.chats[1];
    expect(seen.droppedMessages).toBe(0);
    expect(seen.promptTokens).toBeLessThan(1024);
    expect(seen.seenMessages.some((m) => m.content === 'TASK: find why checkout latency rose at 14:00.')).toBe(true);
    expect(seen.seenMessages.at(-1)?.content).toBe(messages.at(-1)!.content); // the latest result is whole
    expect(seen.seenMessages.some((m) => /^\[older tool output dropped: \d+ chars\]$/.test(m.content ?? ''))).toBe(true);
    expect(reply.compacted).toMatchObject({ tool_outputs_dropped: expect.any(Number), estimated_tokens_after: expect.any(Number) });
    expect(reply.compacted!.estimated_tokens_after).toBeLessThanOrEqual(reply.compacted!.budget_tokens);
    expect(reply.warnings.some((w) => w.startsWith('prompt compacted'))).toBe(true);
    expect(reply.warnings.some((w) => w.startsWith('prompt_eval_count'))).toBe(false);
    expect(gw.stats().models[MODEL].compactions).toBe(1);
  });

  it('refuses a prompt that cannot fit num_ctx even compacted instead of letting the server cut it', async () => {
    const { fake, gw } = await setup({ num_ctx: 512 });
    const err = await failure(gw.chat({ messages: [{ role: 'system', content: 'S'.repeat(4000) }, { role: 'user', content: 'go' }] }));
    expect(err).toMatchObject({ code: 'invalid_request', retryable: false, hint: expect.stringContaining('llm.num_ctx') });
    expect(fake.chats).toEqual([]);
  });

  it('masks secrets before the server sees them (recorded body), including configured patterns', async () => {
    const { fake, gw } = await setup({ num_ctx: 8192, redactPatterns: [/ACME-\d{4}/g] });
    const reply = await gw.chat({
      messages: [
        { role: 'user', content: 'Post to Slack with xoxb-2222222222-3333333333-AbCdEfGhIjKlMnOp, ticket ACME-1234' },
        { role: 'assistant', content: '', tool_calls: [{ name: 'db.query', arguments: { dsn: 'postgres://app:hunter2@db/x' } }] },
        { role: 'tool', tool_name: 'db.query', content: 'config: password=s3cret AWS AKIAIOSFODNN7EXAMPLE' },
      ],
    });
    const wire = JSON.stringify(fake.requests.find((r) => r.path === '/api/chat')!.body);
    for (const secret of ['xoxb-2222222222', 'ACME-1234', 'hunter2', 's3cret', 'AKIAIOSFODNN7EXAMPLE']) expect(wire).not.toContain(secret);
    expect(wire).toContain('[redacted:slack-token]');
    expect(reply.redactions).toBe(5);
  });

  it('cuts an oversized tool result to its share of the context with the marker', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096, tool_output_share: 0.25 });
    const big = 'row '.repeat(10_000);
    const reply = await gw.chat({ messages: [{ role: 'user', content: 'summarize' }, { role: 'tool', tool_name: 'db.query', content: big }] });
    const sent = fake.chats[0].body.messages[1].content!;
    expect(sent.length).toBeLessThanOrEqual(4096);
    expect(sent).toMatch(/\[\.\.\. truncated \d+ of 40000 chars; the full result is kept in the run\]/);
    expect(reply.warnings[0]).toContain('1 tool result(s) cut');
  });

  it('serialises calls with concurrency 1 (the server never sees two at once)', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096, concurrency: 1 });
    const gate = deferred();
    fake.setHandler(async (c) => {
      if (c.seq === 1) await gate.promise;
      return { content: `reply ${c.seq}` };
    });
    const firstArrived = fake.next('chat');
    const a = gw.chat(ask('first'));
    const b = gw.chat(ask('second'));
    await firstArrived;
    await expect.poll(() => gw.stats().models[MODEL].queued, { timeout: 20_000 }).toBe(1);
    expect(fake.chats).toHaveLength(1);
    gate.resolve();
    expect((await a).message.content).toBe('reply 1');
    expect((await b).message.content).toBe('reply 2');
    expect(fake.counters.maxInFlight).toBe(1);
    expect(fake.chats.map((c) => c.body.messages[0].content)).toEqual(['first', 'second']);
  });

  it('lets two calls run together with concurrency 2 (the counter does see overlap)', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096, concurrency: 2 });
    const both = deferred();
    fake.setHandler(async () => {
      if (fake.counters.inFlight >= 2) both.resolve();
      await both.promise;
      return { content: 'ok' };
    });
    await Promise.all([gw.chat(ask('a')), gw.chat(ask('b'))]);
    expect(fake.counters.maxInFlight).toBe(2);
  });

  it('cancels a queued call with the caller signal, and a running one on stop()', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096 });
    fake.script({ fault: 'hang' });
    const running = gw.chat(ask('long'));
    await fake.next('chat');
    const ac = new AbortController();
    const queued = gw.chat(ask('later'), { signal: ac.signal });
    await expect.poll(() => gw.stats().models[MODEL].queued, { timeout: 20_000 }).toBe(1);
    ac.abort();
    expect(await failure(queued)).toMatchObject({ code: 'aborted', retryable: false });

    const aborted = fake.next('aborted');
    await gw.stop();
    expect(await failure(running)).toMatchObject({ code: 'unavailable', retryable: true, message: expect.stringContaining('stopping') });
    await aborted;
    expect(await failure(gw.chat(ask('after')))).toMatchObject({ code: 'unavailable' });
  });

  it('describes the model: reachable, pulled, tool support, context length', async () => {
    const { gw } = await setup({}, {}, [{ name: MODEL, contextLength: 32768 }, { name: 'gemma2:2b', tools: false, contextLength: 8192 }]);
    expect(await gw.describe()).toEqual({ provider: 'ollama', host: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), model: MODEL, reachable: true, pulled: true, tools: true, context_length: 32768 });
    expect(await gw.describe('gemma2:2b')).toMatchObject({ pulled: true, tools: false, context_length: 8192 });
    expect(await gw.describe('mistral')).toMatchObject({ reachable: true, pulled: false, tools: null, error: expect.stringContaining('ollama pull mistral') });
  });

  it('embeds texts into normalised vectors where similar texts are closer', async () => {
    const { fake, gw } = await setup({ embed_model: 'nomic-embed-text' }, { embedDimension: 128 });
    const r = await gw.embed(['checkout latency high at 14:00', 'checkout latency rose at 14:00', 'disk full on build agent', 'token xoxb-1234567890-abcdefghij']);
    expect(r).toMatchObject({ model: 'nomic-embed-text', dimension: 128 });
    for (const v of r.vectors) expect(Math.hypot(...v)).toBeCloseTo(1, 6);
    const cos = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
    expect(cos(r.vectors[0], r.vectors[1])).toBeGreaterThan(cos(r.vectors[0], r.vectors[2]));
    const body = fake.requests.find((q) => q.path === '/api/embed')!.body as { input: string[]; keep_alive: string };
    expect(body.input[3]).toBe('token [redacted:slack-token]');
    expect(body.keep_alive).toBe('1800s');
    expect(gw.stats().models['nomic-embed-text'].embed_calls).toBe(1);
  });

  it('the fake ignores scripted tool calls when format comes with tools, and the gateway warns', async () => {
    const { fake, gw } = await setup({ num_ctx: 4096 });
    fake.script({ tool_calls: [{ name: 'ops.http_probe', arguments: { url: 'https://a' } }] });
    const reply = await gw.chat(ask('probe', { tools: [probeTool], format: { type: 'object', properties: { ok: { type: 'boolean' } } } }));
    expect(reply.message.tool_calls).toEqual([]);
    expect(reply.message.content).toBe('{}');
    expect(chatBody(fake).format).toEqual({ type: 'object', properties: { ok: { type: 'boolean' } } });
    expect(reply.warnings.some((w) => w.startsWith('format together with tools'))).toBe(true);
  });
});

describe('LLM gateway against a loopback OpenAI-compatible server', () => {
  async function setupOpenAi(over: Partial<CompiledLlm> = {}) {
    const server = await startOpenAiLoopback({ models: ['local-model'], apiKey: 'sk-local-test-key-0001' });
    const gw = new LlmGateway(llmConfig({ provider: 'openai-compatible', base_url: server.baseUrl, api_key: 'sk-local-test-key-0001', model: 'local-model', num_ctx: 8192, ...over }), log);
    closers.push(() => server.close(), () => gw.stop());
    return { server, gw };
  }

  it('maps tools, tool calls, ids, usage and response_format over POST /v1/chat/completions', async () => {
    const { server, gw } = await setupOpenAi();
    server.script({ tool_calls: [{ name: 'ops.http_probe', arguments: { url: 'https://b' } }] }, { content: '{"ok":true}', omitUsage: true });
    const history: ChatMessage[] = [
      { role: 'user', content: 'check a then b' },
      { role: 'assistant', content: '', tool_calls: [{ name: 'ops.http_probe', arguments: { url: 'https://a' } }] }, // recorded from Ollama: no id
      { role: 'tool', tool_name: 'ops.http_probe', content: '200 OK' },
    ];
    const first = await gw.chat({ messages: history, tools: [probeTool] });
    expect(first.provider).toBe('openai-compatible');
    expect(first.message.tool_calls).toEqual([{ id: expect.any(String), name: 'ops.http_probe', arguments: { url: 'https://b' } }]);
    expect(first.done_reason).toBe('tool_calls');
    expect(first.usage.prompt_tokens).toBeGreaterThan(0);

    const req = server.requests.find((r) => r.path === '/v1/chat/completions')!;
    expect(req.headers.authorization).toBe('Bearer sk-local-test-key-0001');
    const body = req.body as { messages: Array<Record<string, unknown>>; tools: unknown[] };
    expect(body.messages[1]).toEqual({ role: 'assistant', content: null, tool_calls: [{ id: 'call_1_0', type: 'function', function: { name: 'ops.http_probe', arguments: '{"url":"https://a"}' } }] });
    expect(body.messages[2]).toEqual({ role: 'tool', tool_call_id: 'call_1_0', content: '200 OK' });
    expect(body.tools).toEqual([{ type: 'function', function: { name: 'ops.http_probe', description: probeTool.description, parameters: probeTool.parameters } }]);

    const final = await gw.chat({ messages: [{ role: 'user', content: 'verdict' }], format: { type: 'object', properties: { ok: { type: 'boolean' } } } });
    expect(final.message.content).toBe('{"ok":true}');
    expect(final.usage).toEqual({ prompt_tokens: null, completion_tokens: null });
    expect((server.requests.at(-1)!.body as { response_format: unknown }).response_format).toEqual({ type: 'json_schema', json_schema: { name: 'output', schema: { type: 'object', properties: { ok: { type: 'boolean' } } } } });
  });

  it('maps errors and describes the served models', async () => {
    const { server, gw } = await setupOpenAi();
    server.script({ status: 500, error: 'CUDA out of memory' });
    expect(await failure(gw.chat(ask('x')))).toMatchObject({ code: 'unavailable', retryable: true, message: expect.stringContaining('CUDA out of memory') });
    expect(await failure(gw.chat(ask('x', { model: 'gpt-9' })))).toMatchObject({ code: 'model_not_found', retryable: true });
    expect(await gw.describe()).toMatchObject({ provider: 'openai-compatible', reachable: true, pulled: true, tools: null, context_length: 8192 });

    const wrongKey = new LlmGateway(llmConfig({ provider: 'openai-compatible', base_url: server.baseUrl, api_key: 'sk-wrong-key-000000000', model: 'local-model', num_ctx: 8192 }), log);
    expect(await failure(wrongKey.chat(ask('x')))).toMatchObject({ code: 'invalid_request', retryable: false, hint: 'check llm.api_key' });
    const emb = await gw.embed(['a b', 'a c'], 'local-model');
    expect(emb.vectors).toHaveLength(2);
  });
});
