// AI core benchmarks, against the loopback Ollama server (test/support/ollama-loopback.ts, run
// through tsx's loader-free path: the bench imports the compiled gateway and a tiny inline server).
//  1. gateway overhead per model turn over the raw `ollama` client on the same server (p50/p99):
//     both stream the same scripted answer; the difference is redaction, the prompt estimate,
//     queueing, stream checks and accounting.
//  2. an agent step with 5 tool turns (in a real daemon, real ops tool): time per turn outside the
//     model and the tool (bookkeeping and commits), p50/p99.
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile, runPartsHere, size } from './support.js';

/** A minimal Ollama: /api/show, /api/tags and /api/chat (NDJSON stream, done line with counts). */
function fakeOllama(script) {
  let n = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.url === '/api/tags') return res.end(JSON.stringify({ models: [{ name: 'qwen2.5:7b', model: 'qwen2.5:7b' }] }));
      if (req.url === '/api/show') return res.end(JSON.stringify({ capabilities: ['completion', 'tools'], model_info: { 'general.architecture': 'qwen2', 'qwen2.context_length': 32768 } }));
      const reqBody = JSON.parse(body);
      const t0 = performance.now();
      const reply = script(n++, reqBody);
      const at = new Date().toISOString();
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ model: 'qwen2.5:7b', created_at: at, message: { role: 'assistant', content: reply.content ?? '' }, done: false })}\n`);
      const done = { model: 'qwen2.5:7b', created_at: at, message: { role: 'assistant', content: '', ...(reply.tool_calls ? { tool_calls: reply.tool_calls.map((c, i) => ({ id: `call_${n}_${i}`, function: { index: i, name: c.name, arguments: c.arguments } })) } : {}) }, done: true, done_reason: 'stop', prompt_eval_count: 100, eval_count: 10, total_duration: 1 };
      res.end(`${JSON.stringify(done)}\n`);
      fakeOllama.serverMs.push(performance.now() - t0);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ host: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) })));
}
fakeOllama.serverMs = [];

async function overhead() {
  const srv = await fakeOllama(() => ({ content: 'ok' }));
  const { Ollama } = await import('ollama');
  const { LlmGateway } = await import('../dist/daemon/llm/index.js');
  const { pino } = await import('pino');
  const raw = new Ollama({ host: srv.host });
  const cfg = { provider: 'ollama', host: srv.host, model: 'qwen2.5:7b', redact: [], concurrency: 1, keep_alive: '30m', timeout: '5m', wait_unavailable: '5m', tool_output_share: 0.25, keepAliveMs: 1_800_000, timeoutMs: 300_000, waitUnavailableMs: 300_000, redactPatterns: [] };
  const gw = new LlmGateway(cfg, pino({ level: 'silent' }));
  const messages = [{ role: 'system', content: 'You are a helper.' }, { role: 'user', content: 'Summarise: p95 1200 ms on /api/search, 504s on /api/checkout. '.repeat(20) }];
  try {
    const N = size('LLM_BENCH_N', 2000, 500);
    const rawTurn = async () => {
      const stream = await raw.chat({ model: 'qwen2.5:7b', messages, stream: true, keep_alive: '1800s', options: { num_ctx: 32768 } });
      for await (const _ of stream) void _;
    };
    // alternately (raw, gateway, raw...), so both see the same moments of a busy machine
    const rawT = [];
    const gwT = [];
    for (let i = 0; i < N + 200; i++) {
      let t = performance.now();
      await rawTurn();
      if (i >= 200) rawT.push((performance.now() - t) * 1000);
      t = performance.now();
      await gw.chat({ messages });
      if (i >= 200) gwT.push((performance.now() - t) * 1000);
    }
    rawT.sort((a, b) => a - b);
    gwT.sort((a, b) => a - b);
    const d50 = (percentile(gwT, 50) - percentile(rawT, 50)) / 1000;
    const d99 = (percentile(gwT, 99) - percentile(rawT, 99)) / 1000;
    return [
      { id: 'llm_overhead_p99_ms', name: 'LLM gateway turn p99 minus the raw ollama client turn p99 (loopback server)', value: d99, unit: 'ms', goal: { op: '<', value: 2 }, baseline: { name: 'raw ollama client turn p99', value: percentile(rawT, 99) / 1000, unit: 'ms' }, note: `gateway p99 ${(percentile(gwT, 99) / 1000).toFixed(2)} ms; ${N} turns each, alternating` },
      { id: 'llm_overhead_p50_ms', name: 'LLM gateway turn p50 minus the raw ollama client turn p50', value: d50, unit: 'ms', baseline: { name: 'raw ollama client turn p50', value: percentile(rawT, 50) / 1000, unit: 'ms' } },
      { id: 'llm_gateway_turn_p50_ms', name: 'LLM gateway turn (loopback) p50', value: percentile(gwT, 50) / 1000, unit: 'ms' },
    ];
  } finally {
    await gw.stop();
    await srv.close();
  }
}

async function agentTurns() {
  const TURNS = 5;
  const RUNS = size('LLM_BENCH_AGENT_RUNS', 20, 5);
  const srv = await fakeOllama((_n, body) => {
    const assistant = body.messages.filter((m) => m.role === 'assistant').length;
    return assistant < TURNS ? { tool_calls: [{ name: 'ops__system_stats', arguments: { turn: assistant } }] } : { content: 'done' };
  });
  const home = mkdtempSync(join(tmpdir(), 'opbl-'));
  mkdirSync(join(home, 'workflows'));
  writeFileSync(join(home, 'config.yaml'), `notify: { desktop: "off" }\nllm: { host: "${srv.host}", model: "qwen2.5:7b" }\n`);
  writeFileSync(join(home, 'workflows', 'a.yaml'), `id: a\ntools: [ops.system_stats]\nnotifications: []\nsteps:\n  - id: think\n    agent: { prompt: "look", tools: [ops.system_stats], max_turns: 10 }\n`);
  process.env.OPSTREAM_HOME = home;
  const { startDaemon } = await import('../dist/daemon/main.js');
  const o = await startDaemon(process.env);
  const d = o.daemon;
  const perTurn = [];
  try {
    const wf = () => d.ctx.workflows.current().workflows.get('a');
    for (let i = 0; i < RUNS; i++) {
      fakeOllama.serverMs.length = 0;
      const toolMs = [];
      const off = d.ctx.bus.subscribe('tools', undefined, (_e, data) => data.durationMs !== undefined && toolMs.push(data.durationMs));
      const t0 = performance.now();
      const run = await d.ctx.engine.startRun({ workflow: wf(), params: {}, trigger: 'bench', actor: 'bench' });
      await new Promise((resolve) => {
        const stop = d.ctx.bus.subscribe('runs', { run_id: run.id }, (e) => {
          if (e === 'run.succeeded' || e === 'run.failed') {
            stop();
            resolve();
          }
        });
      });
      off();
      const total = performance.now() - t0;
      const model = fakeOllama.serverMs.reduce((a, b) => a + b, 0);
      const tools = toolMs.reduce((a, b) => a + b, 0);
      if (i > 0) perTurn.push((total - model - tools) / (TURNS + 1)); // the first run includes worker warm-up
    }
    perTurn.sort((a, b) => a - b);
    return [
      { id: 'agent_turn_bookkeeping_p50_ms', name: 'agent step, 5 tool turns: time per turn outside model and tool, p50', value: percentile(perTurn, 50), unit: 'ms', note: `${RUNS - 1} runs; includes the worker thread start, 2 fsynced commits per turn` },
      { id: 'agent_turn_bookkeeping_p99_ms', name: 'agent step, 5 tool turns: time per turn outside model and tool, p99', value: percentile(perTurn, 99), unit: 'ms' },
    ];
  } finally {
    await d.stop();
    await srv.close();
    rmSync(home, { recursive: true, force: true });
  }
}

export async function run() {
  return runPartsHere('llm', { overhead, agentTurns });
}
