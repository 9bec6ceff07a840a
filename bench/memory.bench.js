// Memory benchmarks (issue: memory that saves work).
//  1. recall over 10,000 stored run summaries: p50/p99 of the "seen before" lookup an agent step
//     makes, by full text, and by embeddings (64-dim vectors from a loopback /api/embed).
//  2. the same investigation twice within the cache TTL, in a real daemon against a loopback model
//     that counts prompt tokens: prompt-token and tool-call reduction on the repeat. The model is
//     scripted to use what OpStream gives it (a recalled finding: it verifies one source, which the
//     cache answers, instead of three); OpStream's part is the recall text and the cache.
//  3. `ask` on a finished run: tool calls made and prompt tokens.
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inProcessDaemon, percentile, runPartsInChildren, size } from './support.js';

function embed(text, dim) {
  const v = new Array(dim).fill(0);
  for (const w of text.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean)) {
    let h = 2166136261;
    for (const ch of w) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
    v[Math.abs(h) % dim] += 1;
  }
  const n = Math.hypot(...v) || 1;
  return v.map((x) => x / n);
}

/** Loopback Ollama: tags, show, embed, and chat by a script function; counts prompt tokens. */
function fakeOllama(script, dim = 64) {
  const counters = { promptTokens: 0, chats: 0 };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/api/tags') return res.end(JSON.stringify({ models: [{ name: 'qwen2.5:7b' }, { name: 'nomic-embed-text:latest' }] }));
      if (req.url === '/api/show') return res.end(JSON.stringify({ capabilities: ['completion', 'tools'], model_info: { 'general.architecture': 'qwen2', 'qwen2.context_length': 32768 } }));
      const b = JSON.parse(body);
      if (req.url === '/api/embed') {
        const input = Array.isArray(b.input) ? b.input : [b.input];
        return res.end(JSON.stringify({ model: b.model, embeddings: input.map((t) => embed(t, dim)) }));
      }
      const prompt = Math.ceil(JSON.stringify(b.messages).length / 4) + (b.tools ? Math.ceil(JSON.stringify(b.tools).length / 4) : 0);
      counters.promptTokens += prompt;
      counters.chats++;
      const r = script(b);
      const msg = { role: 'assistant', content: r.content ?? '', ...(r.tool_calls ? { tool_calls: r.tool_calls.map((c, i) => ({ id: `c${counters.chats}_${i}`, function: { index: i, name: c.name, arguments: c.arguments } })) } : {}) };
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end(`${JSON.stringify({ model: 'qwen2.5:7b', created_at: new Date().toISOString(), message: msg, done: true, done_reason: 'stop', prompt_eval_count: prompt, eval_count: 20 })}\n`);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ host: `http://127.0.0.1:${server.address().port}`, counters, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) })));
}

const daemonIn = (home) => inProcessDaemon(home);

const SERVICES = ['checkout', 'search', 'orders', 'payments', 'auth', 'cart', 'catalog', 'shipping', 'inventory', 'users'];
const CAUSES = ['payments dependency timeout', 'connection pool too small', 'memory leak in cache', 'cpu saturation from regex', 'slow unindexed query', 'log storm from retries'];

async function recall() {
  const N = size('MEMORY_BENCH_SUMMARIES', 10_000, 2_000);
  const srv = await fakeOllama(() => ({ content: 'x' }));
  const rows = [];
  for (const mode of ['text', 'embeddings']) {
    const home = mkdtempSync(join(tmpdir(), 'opbm-'));
    writeFileSync(join(home, 'config.yaml'), `notify: { desktop: "off" }\nllm: { host: "${srv.host}", model: "qwen2.5:7b"${mode === 'embeddings' ? ', embed_model: "nomic-embed-text"' : ''} }\n`);
    const { Store } = await import('../dist/daemon/store/store.js');
    mkdirSync(join(home, 'data'), { recursive: true });
    const store = await Store.open(join(home, 'data', 'db'));
    let ops = [];
    for (let i = 0; i < N; i++) {
      const service = SERVICES[i % SERVICES.length];
      const cause = CAUSES[(i * 7) % CAUSES.length];
      const id = `r_m${i.toString(36).padStart(7, '0')}`;
      const text = `application_profiling on ${service}: Found ${1 + (i % 4)} performance bottlenecks\nRoot cause: ${cause}\nFixed by / suggested: fix the ${cause}`;
      ops.push({ type: 'put', sub: 'memory', key: `sum:${id}`, value: { id, workflow: 'application_profiling', service, outcome: 'succeeded', at: new Date(Date.now() - i * 60_000).toISOString(), headline: `Found ${1 + (i % 4)} performance bottlenecks`, root_cause: cause, findings: [], fixes: [`fix the ${cause}`], text } });
      if (mode === 'embeddings') ops.push({ type: 'put', sub: 'memory', key: `vec:${id}`, value: { model: 'nomic-embed-text', dim: 64, v: embed(text, 64) } });
      if (ops.length >= 2000) {
        await store.commit(ops);
        ops = [];
      }
    }
    if (ops.length) await store.commit(ops);
    await store.close();
    const t0 = performance.now();
    const d = await daemonIn(home);
    const startMs = performance.now() - t0;
    try {
      // the first recall of a service builds its small index: timed apart
      const cold = [];
      for (const service of SERVICES) {
        const t = performance.now();
        await d.ctx.memory.seenBefore({ id: 'r_now', workflow: 'application_profiling', params: { service } }, `Profiling of ${service}`);
        cold.push(performance.now() - t);
      }
      cold.sort((a, b) => a - b);
      rows.push({ id: `recall_first_per_service_${mode}_max_ms`, name: `memory recall (${mode}), first per service (its index built), max`, value: cold[cold.length - 1], unit: 'ms', note: `${N / SERVICES.length} summaries per service` });
      const times = [];
      for (let i = 0; i < 300; i++) {
        const service = SERVICES[i % SERVICES.length];
        const t = performance.now();
        const text = await d.ctx.memory.seenBefore({ id: 'r_now', workflow: 'application_profiling', params: { service } }, `Profiling of ${service} found ${CAUSES[i % CAUSES.length]} and 504s`);
        times.push(performance.now() - t);
        if (!text.includes('Seen before')) throw new Error('recall found nothing');
      }
      times.sort((a, b) => a - b);
      rows.push({ id: mode === 'text' ? 'recall_p50_ms' : 'recall_embeddings_p50_ms', name: `memory recall over ${N} summaries (${mode}), p50`, value: percentile(times, 50), unit: 'ms', note: mode === 'embeddings' ? 'query embedded by the loopback /api/embed (HTTP round trip included)' : 'MiniSearch, filtered to workflow + service' });
      rows.push({ id: mode === 'text' ? 'recall_p99_ms' : 'recall_embeddings_p99_ms', name: `memory recall over ${N} summaries (${mode}), p99`, value: percentile(times, 99), unit: 'ms', goal: { op: '<', value: 20 } });
      rows.push({ id: `daemon_start_with_summaries_${mode}_ms`, name: `daemon start with ${N} summaries (${mode}; summaries and vectors loaded)`, value: startMs, unit: 'ms' });
    } finally {
      await d.stop();
      rmSync(home, { recursive: true, force: true });
    }
  }
  await srv.close();
  return rows;
}

async function repeat() {
  const { HitCounter } = await import('./hit-counter.js');
  const hits = new HitCounter();
  await hits.start();
  const srv = await fakeOllama((b) => {
    if (b.format) return { content: JSON.stringify({ summary: 'c is down' }) };
    const prompt = String(b.messages.find((m) => m.role === 'user')?.content ?? '');
    const calls = b.messages.filter((m) => m.role === 'tool').length;
    const want = /Seen before/.test(prompt) ? 1 : 5;
    if (calls < want) return { tool_calls: [{ name: 'ops__http_probe', arguments: { url: `${hits.url}/s${calls}`, count: 3 } }] };
    return { content: 'c is down' };
  });
  const home = mkdtempSync(join(tmpdir(), 'opbr-'));
  mkdirSync(join(home, 'workflows'));
  writeFileSync(join(home, 'config.yaml'), `notify: { desktop: "off" }\nllm: { host: "${srv.host}", model: "qwen2.5:7b" }\n`);
  writeFileSync(join(home, 'workflows', 'inv.yaml'), `id: inv\ntools: [ops.http_probe]\nnotifications: []\nparams:\n  service: { type: string }\nsteps:\n  - id: think\n    agent:\n      prompt: "Investigate {{ params.service }}: probe its five endpoints and tell which is down."\n      tools: [ops.http_probe]\n      cache: 10m\n      max_turns: 8\n      output: { type: object, required: [summary], properties: { summary: { type: string } } }\n`);
  const d = await daemonIn(home);
  const runOnce = async () => {
    // a local user's run (`opstream start`): runs from chat or other triggers may reach only allow_hosts
    const run = await d.ctx.engine.startRun({ workflow: d.ctx.workflows.current().workflows.get('inv'), params: { service: 'shop' }, trigger: 'cli', actor: 'bench' });
    await new Promise((resolve) => {
      const off = d.ctx.bus.subscribe('runs', { run_id: run.id }, (e) => (e === 'run.succeeded' || e === 'run.failed') && (off(), resolve()));
    });
    return d.ctx.engine.get(run.id);
  };
  try {
    const t1 = srv.counters.promptTokens;
    const h1 = hits.total();
    const first = await runOnce();
    const p1 = srv.counters.promptTokens - t1;
    const c1 = hits.total() - h1;
    const t2 = srv.counters.promptTokens;
    const h2 = hits.total();
    const second = await runOnce();
    const p2 = srv.counters.promptTokens - t2;
    const c2 = hits.total() - h2;
    // ask on the finished run: tokens, and no tool call
    const h3 = hits.total();
    const t3 = srv.counters.promptTokens;
    const { ask } = await import('../dist/daemon/memory/conversation.js');
    await ask(d.ctx, first.id, 'show me the details', 'bench');
    const askTokens = srv.counters.promptTokens - t3;
    const askCalls = hits.total() - h3;
    return [
      { id: 'repeat_prompt_token_reduction', name: 'repeat investigation within the cache TTL: prompt-token reduction', value: (100 * (p1 - p2)) / p1, unit: '%', baseline: { name: 'prompt tokens of the first investigation', value: p1, unit: 'tokens' }, note: `repeat ${p2} tokens; first ${first.status}, repeat ${second.status}` },
      { id: 'repeat_tool_call_reduction', name: 'repeat investigation: tool-call reduction (calls reaching the server)', value: c1 ? (100 * (c1 - c2)) / c1 : 0, unit: '%', baseline: { name: 'tool calls of the first investigation', value: c1, unit: 'calls' }, note: `repeat ${c2} calls; repeat's cache hits ${second.steps[0].usage?.cache_hits ?? 0}` },
      { id: 'ask_tool_calls', name: 'ask on a finished run: tool calls made', value: askCalls, unit: 'calls', goal: { op: '==', value: 0 } },
      { id: 'ask_prompt_tokens', name: 'ask on a finished run: prompt tokens', value: askTokens, unit: 'tokens' },
    ];
  } finally {
    await d.stop();
    await srv.close();
    await hits.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

export async function run() {
  const parts = { recall, repeat };
  if (process.env.BENCH_PART) return parts[process.env.BENCH_PART]();
  return runPartsInChildren(import.meta.url, Object.keys(parts));
}
