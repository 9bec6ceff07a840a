import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EVERYTHING, HitCounter, startRun, waitStatus, type Run } from '../support/engine-fixtures.js';
import { startDemoService, type DemoService } from '../support/demo-service.js';
import { cli, tempHome, waitFor, type TempHome } from '../support/home.js';
import { demoServiceYaml } from '../support/stories.js';
import { startOllamaLoopback, type OllamaLoopback, type RecordedChat } from '../support/ollama-loopback.js';

// Memory that saves work: summaries of finished runs recalled as "seen before", `ask` about a run,
// `replay` on recorded tool results, `memory forget`, and the tool cache in agent steps. Real daemon,
// real workers, real MCP servers and the demo service; the model is the loopback Ollama.

function config(h: TempHome, ollama: OllamaLoopback, extra = ''): void {
  writeFileSync(
    join(h.home, 'config.yaml'),
    ['mcpServers:', '  everything:', `    command: ${process.execPath}`, `    args: ["${EVERYTHING}", "stdio"]`, 'notify: { desktop: "off" }', 'llm:', `  host: "${ollama.host}"`, '  model: "qwen2.5:7b"', extra].join('\n'),
  );
}

function workflow(h: TempHome, name: string, yaml: string): void {
  mkdirSync(join(h.home, 'workflows'), { recursive: true });
  writeFileSync(join(h.home, 'workflows', name), yaml);
}

const userPrompt = (c: RecordedChat): string => String(c.body.messages.find((m) => m.role === 'user')?.content ?? '');

/** A model that answers the profiling prompt with an explanation and fixes, in the shape asked for. */
function explainer(chat: RecordedChat): { content: string } {
  if (chat.body.format) {
    const seen = /Seen before/.test(userPrompt(chat));
    return { content: JSON.stringify({ explanation: 'checkout waits on a payments dependency that times out', seen_before: seen ? 'yes: the same 504s; raising the dependency timeout fixed it' : 'no', fixes: ['raise the payments client timeout to 2000 ms', 'add retries with backoff'] }) };
  }
  return { content: 'The 504s on /api/checkout come from the payments dependency timing out.' };
}

describe('memory against the loopback Ollama and the demo service', () => {
  let h: TempHome;
  let ollama: OllamaLoopback;
  let svc: DemoService | undefined;

  beforeEach(async () => {
    h = tempHome('opm-');
    ollama = await startOllamaLoopback(['qwen2.5:7b']);
  });
  afterEach(async () => {
    await h.cleanup();
    await ollama.close();
    await svc?.stop();
    svc = undefined;
  });

  it('a second profiling run of the same service gets the first one\'s finding and fix as "seen before"; ask answers from the run with no tool call, keeps the conversation across a restart; forget removes it from recall', async () => {
    svc = await startDemoService(['--fault', 'dependency-timeout']);
    config(h, ollama);
    ollama.setHandler(explainer);
    const args = ['profile', 'checkout', 'for', '4s', 'interval=2s', `url=${svc.url}`, 'endpoints=/api/checkout', 'requests=3'];
    const first = await startRun(h, args);
    const r1 = await waitStatus(h, first, (r) => r.status === 'succeeded', 'the first profiling run', 90_000);
    const explain = r1.steps.find((s: Run) => s.id === 'explain');
    expect(explain.status).toBe('succeeded');
    expect(explain.output.fixes[0]).toContain('payments client timeout');
    const chatsAfterFirst = ollama.chats.length;
    expect(userPrompt(ollama.chats[0])).not.toContain('Seen before');
    // the completion notification quotes the model
    const done = (r1.notifications as Run[]).find((n) => n.kind === 'notify' && /AI: /.test(n.text));
    expect(done?.text).toContain('payments dependency');

    const mem = JSON.parse((await cli(['memory', 'search', 'checkout', '504', '--json'], h.env)).stdout) as Run[];
    expect(mem.map((m) => m.id)).toContain(first);
    expect(mem.find((m) => m.id === first)?.fixes.join(' ')).toContain('payments client timeout');

    const second = await startRun(h, args);
    await waitStatus(h, second, (r) => r.status === 'succeeded', 'the second profiling run', 90_000);
    const prompt2 = userPrompt(ollama.chats[chatsAfterFirst]);
    expect(prompt2).toContain('Seen before');
    expect(prompt2).toContain(first);
    expect(prompt2).toContain('payments client timeout');

    // ask: from the stored outputs, no tools offered, no tool call made; the conversation is kept
    const before = ollama.chats.length;
    ollama.setHandler((c) => ({ content: `answer ${c.body.messages.filter((m) => m.role === 'user').length}` }));
    const a1 = await cli(['ask', first, 'show me the details', '--json'], h.env);
    expect(a1.code, a1.stderr).toBe(0);
    expect(JSON.parse(a1.stdout)).toMatchObject({ answer: 'answer 1', turns: 1, tool_calls: 0 });
    const askChat = ollama.chats[before];
    expect(askChat.body.tools).toBeUndefined();
    expect(askChat.body.messages[0].content).toContain('GET /api/checkout fails'); // the run's findings are the context
    expect((await cli(['ask', first, 'why?'], h.env)).stdout.trim()).toBe('answer 2');
    expect(ollama.chats[before + 1].body.messages.map((m) => m.content)).toEqual(expect.arrayContaining(['show me the details', 'answer 1', 'why?']));
    await cli(['daemon', 'stop'], h.env);
    const a3 = await cli(['ask', first, 'and the fix?', '--json'], h.env);
    expect(JSON.parse(a3.stdout)).toMatchObject({ answer: 'answer 3', turns: 3 });
    const toolCallsBefore = (await cli(['status', first, '--json'], h.env)).stdout;
    expect(JSON.parse(toolCallsBefore).usage.tool_calls).toBe(r1.usage.tool_calls); // ask ran nothing

    // ask while the model is down: a clear error, and the conversation stays
    await ollama.close();
    const down = await cli(['ask', first, 'still there?'], h.env);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/the model did not answer: .*The conversation so far \(3 questions\) is kept/);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    const bad = await cli(['ask', 'r_nosuchrun', 'hello'], h.env);
    expect(bad.stderr).toMatch(/no run r_nosuchrun/);

    // forget: no longer recalled
    expect((await cli(['memory', 'forget', first], h.env)).code).toBe(0);
    const after = JSON.parse((await cli(['memory', 'search', 'checkout', '--json'], h.env)).stdout) as Run[];
    expect(after.map((m) => m.id)).not.toContain(first);
    expect((await cli(['memory', 'forget', first], h.env)).stderr).toMatch(/no memory of run/);
    const stats = JSON.parse((await cli(['memory', 'stats', '--json'], h.env)).stdout);
    expect(stats.summaries).toBe(1);
  });

  it('memory keeps the fix that worked with its measured effect and the fix a person rejected with the comment; memory search/show and the next run\'s recall say both', async () => {
    svc = await startDemoService(['--fault', 'slow-endpoint']);
    writeFileSync(join(h.home, 'config.yaml'), ['notify: { desktop: "off" }', 'llm:', `  host: "${ollama.host}"`, '  model: "qwen2.5:7b"', demoServiceYaml(svc, { interval: '1s' })].join('\n'));
    ollama.setHandler((c) => (c.body.format ? { content: JSON.stringify({ explanation: 'the search pool is too small', fixes: ['raise the pool'] }) } : { content: 'the search pool is too small' }));
    const args = ['profile', 'demo-service', 'for', '3s'];
    const atApproval = (id: string): Promise<Run> => waitStatus(h, id, (r) => r.waiting_for?.kind === 'approval', `run ${id} to ask for the fix`, 90_000);

    // A: approved, applied, measured
    const a = await startRun(h, args);
    await atApproval(a);
    expect((await cli(['approve', a, '--comment', 'pool is too small'], h.env)).code).toBe(0);
    const runA = await waitStatus(h, a, (r) => r.status === 'succeeded', 'the fixed run', 120_000);
    const confirmed = (runA.notifications as Run[]).find((n) => /^Fix confirmed/.test(n.text));
    // the verdict names the endpoint, the percentile and the metric, with units
    expect(confirmed?.text).toMatch(/^Fix confirmed: \/api\/search p95 latency \d+ ms -> \d+ ms \(after POST \/admin\/pool \{"size":20\}/);

    // B: the fault is back; this time the fix is turned down
    await svc.post('/admin/faults', { enable: ['slow-endpoint'] });
    const b = await startRun(h, args);
    await atApproval(b);
    expect((await cli(['reject', b, '--comment', 'not during the sale'], h.env)).code).toBe(0);
    await waitStatus(h, b, (r) => r.status === 'succeeded' || r.status === 'failed', 'the rejected run', 90_000);

    const found = JSON.parse((await cli(['memory', 'search', 'search', 'pool', '--json'], h.env)).stdout) as Run[];
    const memA = found.find((m) => m.id === a)!;
    const memB = found.find((m) => m.id === b)!;
    expect(memA.applied).toHaveLength(1);
    expect(memA.applied[0]).toMatchObject({ fix: 'POST /admin/pool {"size":20}', comment: 'pool is too small', confirmed: true });
    expect(memA.applied[0].effect).toMatch(/^\/api\/search p95 latency \d+ ms -> \d+ ms$/);
    expect(memA.applied[0].by).toEqual(expect.any(String));
    expect(memA.rejected).toEqual([]);
    expect(memB.applied).toEqual([]);
    expect(memB.rejected).toEqual([expect.objectContaining({ proposal: 'POST /admin/pool {"size":20}', comment: 'not during the sale', by: memA.applied[0].by })]);
    const text = await cli(['memory', 'search', 'search', 'pool'], h.env);
    expect(text.stdout).toMatch(/fix applied: POST \/admin\/pool \{"size":20\} for \/api\/search\?q=a p95 latency \d+ ms \(limit 500 ms\), approved by \S+; effect: \/api\/search p95 latency \d+ ms -> \d+ ms \(confirmed\)/);
    expect(text.stdout).toMatch(/fix rejected: POST \/admin\/pool \{"size":20\} .*rejected by \S+: "not during the sale"/);
    const show = await cli(['memory', 'show', b], h.env);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/fix rejected: .*"not during the sale"/);
    expect((await cli(['memory', 'show', 'r_nosuchrun'], h.env)).stderr).toMatch(/no memory of run r_nosuchrun/);

    // C: the next run's recall (what its agent step is told) carries both
    const chatsBefore = ollama.chats.length;
    const c = await startRun(h, args);
    await atApproval(c);
    const prompt = ollama.chats.slice(chatsBefore).map(userPrompt).find((p) => p.includes('Seen before')) ?? '';
    expect(prompt).toMatch(new RegExp(`run ${a} .*fix applied: POST /admin/pool \\{"size":20\\}.*effect: /api/search p95 latency \\d+ ms -> \\d+ ms \\(confirmed\\)`));
    expect(prompt).toMatch(new RegExp(`run ${b} .*fix rejected: POST /admin/pool \\{"size":20\\}.*"not during the sale"`));
    expect((await cli(['cancel', c], h.env)).code).toBe(0);
  }, 300_000);

  it('replay with another prompt makes no live tool call, changes the answer, and leaves the run as it was; bad replays are refused clearly', async () => {
    const hits = new HitCounter();
    await hits.start();
    hits.release();
    try {
      config(h, ollama);
      const fetchArgs = { name: 'a.gz', data: `http://127.0.0.1:${hits.port}/probe`, outputType: 'resource' };
      workflow(h, 'look.yaml', `id: look\ntools: [everything.gzip-file-as-resource]\nnotifications: []\nsteps:\n  - id: think\n    agent:\n      prompt: "Fetch the probe and summarise."\n      tools: [everything.gzip-file-as-resource]\n  - id: after\n    notify: { text: "done", level: info }\n`);
      workflow(h, 'plain.yaml', `id: plain\nnotifications: []\nsteps:\n  - id: only\n    notify: { text: "no agent here", level: info }\n`);
      ollama.setHandler((c) => {
        const assistant = c.body.messages.filter((m) => m.role === 'assistant').length;
        const edited = /BRIEFLY/.test(userPrompt(c));
        if (assistant === 0) return { tool_calls: [{ name: 'everything__gzip-file-as-resource', arguments: edited ? { ...fetchArgs, name: 'other.gz' } : fetchArgs }] };
        return { content: edited ? 'short answer' : 'long original answer' };
      });
      const id = await startRun(h, ['look']);
      const run = await waitStatus(h, id, (r) => r.status === 'succeeded', 'the run', 90_000);
      expect(hits.count('/probe')).toBe(1);
      const original = (await cli(['status', id, '--json'], h.env)).stdout;
      const promptFile = join(h.home, 'prompt.txt');
      writeFileSync(promptFile, 'Fetch the probe and summarise BRIEFLY.');
      const r = await cli(['replay', id, '--prompt-file', promptFile, '--json'], h.env);
      expect(r.code, r.stderr).toBe(0);
      const rep = JSON.parse(r.stdout);
      expect(rep.steps[0]).toMatchObject({ step: 'think', changed: { answer: true } });
      expect(rep.steps[0].original.answer).toBe('long original answer');
      expect(rep.steps[0].replay.answer).toBe('short answer');
      expect(rep.steps[0].not_recorded[0]).toContain('other.gz');
      expect(hits.count('/probe')).toBe(1); // no live tool call
      expect((await cli(['status', id, '--json'], h.env)).stdout).toBe(original);
      expect(run.steps[0].output).toBe('long original answer');
      const text = await cli(['replay', id], h.env); // same prompt: the recorded result is used
      expect(text.stdout).toMatch(/answer unchanged/);
      expect(text.stdout).toMatch(/tokens: \d+ -> \d+ in/);

      const plain = await startRun(h, ['plain']);
      await waitStatus(h, plain, (x) => x.status === 'succeeded', 'the plain run');
      expect((await cli(['replay', plain], h.env)).stderr).toMatch(/has no agent steps to replay/);
      expect((await cli(['replay', id, '--model', 'nope:1b'], h.env)).stderr).toMatch(/nope:1b is not pulled.*ollama pull nope:1b/);
      expect((await cli(['replay', id, '--prompt-file', '/nonexistent'], h.env)).stderr).toMatch(/cannot read --prompt-file \/nonexistent: ENOENT/);
    } finally {
      await hits.stop();
    }
  });

  it('a repeat investigation within the cache TTL uses fewer tokens and tool calls, counted by the loopback server', async () => {
    const hits = new HitCounter();
    await hits.start();
    hits.release();
    try {
      config(h, ollama);
      const urls = ['a', 'b', 'c'].map((x) => `http://127.0.0.1:${hits.port}/${x}`);
      workflow(
        h,
        'inv.yaml',
        `id: inv\ntools: [everything.gzip-file-as-resource]\nnotifications: []\nparams:\n  service: { type: string }\nsteps:\n  - id: think\n    agent:\n      prompt: "Investigate {{ params.service }}."\n      tools: [everything.gzip-file-as-resource]\n      cache: 10m\n      output: { type: object, required: [summary], properties: { summary: { type: string } } }\n`,
      );
      // a model that uses what it is given: with a recent finding recalled it checks one source (the
      // cache answers) and concludes; without, it checks all three
      ollama.setHandler((c) => {
        if (c.body.format) return { content: JSON.stringify({ summary: 'c is down' }) };
        const seen = /Seen before/.test(userPrompt(c));
        const calls = c.body.messages.filter((m) => m.role === 'tool').length;
        const want = seen ? 1 : 3;
        if (calls < want) return { tool_calls: [{ name: 'everything__gzip-file-as-resource', arguments: { name: `${calls}.gz`, data: urls[calls], outputType: 'resource' } }] };
        return { content: 'c is down' };
      });
      const first = await startRun(h, ['inv', 'service=shop']);
      const r1 = await waitStatus(h, first, (r) => r.status === 'succeeded', 'the first investigation', 90_000);
      const tokens1 = ollama.counters.promptTokens;
      const hits1 = hits.count('/a') + hits.count('/b') + hits.count('/c');
      ollama.reset();
      const second = await startRun(h, ['inv', 'service=shop']);
      const r2 = await waitStatus(h, second, (r) => r.status === 'succeeded', 'the repeat', 90_000);
      const tokens2 = ollama.counters.promptTokens;
      const hits2 = hits.count('/a') + hits.count('/b') + hits.count('/c') - hits1;
      expect(hits1).toBe(3);
      expect(hits2).toBe(0); // the one call it made came from the cache
      expect(r1.usage.tool_calls).toBe(3);
      expect(r2.usage.tool_calls).toBe(0);
      expect(r2.steps[0].usage.cache_hits).toBe(1);
      expect(tokens2).toBeLessThan(tokens1);
      // the model was told the cached result's age
      const toolMsg = ollama.chats.flatMap((c) => c.body.messages).find((m) => m.role === 'tool');
      expect(String(toolMsg?.content)).toMatch(/came from OpStream's cache and is \S+ old/);
    } finally {
      await hits.stop();
    }
  });

  it('an embedding model that changed dimension: old vectors are never compared across it, re-embedded in the background, and text search covers the gap', async () => {
    const other = await startOllamaLoopback(['qwen2.5:7b', { name: 'emb-a', embedding: true }], { embedDimension: 32 });
    try {
      config(h, other, '  embed_model: "emb-a"');
      workflow(h, 'note.yaml', `id: note\nnotifications: []\nparams:\n  service: { type: string }\nsteps:\n  - id: say\n    notify: { text: "disk full on {{ params.service }}", level: info }\n`);
      for (const svc of ['db-1', 'db-1']) {
        const id = await startRun(h, ['note', `service=${svc}`]);
        await waitStatus(h, id, (r) => r.status === 'succeeded', 'a note run');
      }
      const stats1 = await waitFor(async () => {
        const st = JSON.parse((await cli(['memory', 'stats', '--json'], h.env)).stdout);
        return st.vectors['emb-a (32 dims)'] === 2 ? st : null;
      }, { what: 'two 32-dim vectors' });
      expect(stats1.summaries).toBe(2);
      await cli(['daemon', 'stop'], h.env);
      // the model changes: 64 dims now
      const wide = await startOllamaLoopback(['qwen2.5:7b', { name: 'emb-b', embedding: true }], { embedDimension: 64 });
      try {
        config(h, wide, '  embed_model: "emb-b"');
        const found = JSON.parse((await cli(['memory', 'search', 'db-1', '--json'], h.env)).stdout) as Run[];
        expect(found).toHaveLength(2); // text search meanwhile
        const stats2 = await waitFor(async () => {
          const st = JSON.parse((await cli(['memory', 'stats', '--json'], h.env)).stdout);
          return st.vectors['emb-b (64 dims)'] === 2 ? st : null;
        }, { what: 'the summaries re-embedded with emb-b' });
        expect(stats2.vectors['emb-a (32 dims)']).toBeUndefined();
        expect(wide.counters.embedCalls).toBeGreaterThanOrEqual(1);
      } finally {
        await wide.close();
      }
    } finally {
      await other.close();
    }
  });
});

