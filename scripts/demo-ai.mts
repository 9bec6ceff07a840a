// The AI core and memory on a laptop, end to end (`npm run demo:ai`), with no model download: the
// model is the loopback Ollama server the tests use (test/support/ollama-loopback.ts), scripted to
// answer from what OpStream puts in its prompts. Everything else is real: the daemon, the workers,
// the ops MCP tools, the demo service with an injected fault, the memory and the cache.
//
// It profiles the demo service twice (the second run recalls the first as "seen before"), asks
// about the first run twice, replays its agent step with an edited prompt, and shows the memory.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemoService } from '../test/support/demo-service.js';
import { startOllamaLoopback, type RecordedChat } from '../test/support/ollama-loopback.js';

const ROOT = new URL('..', import.meta.url).pathname;
const home = mkdtempSync(join(tmpdir(), 'opstream-ai-'));
const env = { ...process.env, OPSTREAM_HOME: home };

const text = (c: RecordedChat): string => c.body.messages.map((m) => m.content).join('\n');
const pick = (re: RegExp, s: string, d = ''): string => re.exec(s)?.[1]?.trim() ?? d;

/** A stand-in model that reads its prompt the way a real one would, deterministically. */
function model(c: RecordedChat): { content: string } {
  const all = text(c);
  const last = String(c.body.messages.at(-1)?.content ?? '');
  if (c.body.messages[0]?.content.startsWith('You answer questions about one OpStream run')) {
    const finding = pick(/\n- \[critical\] ([^\n]+?)\. When/, all, 'no critical finding');
    const fix = pick(/Suggested fix: ([^\n]+)/, all, 'none recorded');
    if (/why/i.test(last)) return { content: `Because ${finding.toLowerCase()}: every request waits for the payments dependency, which answers slower than the client's timeout, so it gives up and returns 504.` };
    return { content: `The worst finding: ${finding}. Suggested fix: ${fix}` };
  }
  const seen = /Seen before[^\n]*\n- ([^\n]+)/.exec(all)?.[1];
  if (c.body.format) {
    const brief = /BRIEFLY/.test(all);
    return {
      content: JSON.stringify({
        explanation: brief ? 'Payments times out; checkout returns 504.' : `${pick(/Likely root cause: (.+?)\. Findings/, all, 'See the findings')}. The checkout handler calls the payments dependency with a timeout shorter than its normal latency.`,
        seen_before: seen ? `Yes: ${seen.slice(0, 160)}` : 'No earlier incident of this service in memory.',
        fixes: ['Raise the payments client timeout above its p99 latency (e.g. 2000 ms)', 'Add retries with backoff and a circuit breaker around payments'],
      }),
    };
  }
  return { content: 'I have read the findings.' };
}

// asynchronous: the loopback model answers from this same process
const run = async (args: string[]): Promise<string> => (await promisify(execFile)(process.execPath, [join(ROOT, 'bin/run.js'), ...args], { env, encoding: 'utf8' })).stdout;
const show = async (args: string[]): Promise<string> => {
  const out = await run(args);
  process.stdout.write(`\n$ opstream ${args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}\n${out}`);
  return out;
};

const svc = await startDemoService(['--fault', 'dependency-timeout']);
const ollama = await startOllamaLoopback(['qwen2.5:7b']);
ollama.setHandler(model);
writeFileSync(join(home, 'config.yaml'), `notify: { desktop: "off" }\nllm:\n  host: "${ollama.host}"\n  model: "qwen2.5:7b"\n`);
try {
  const args = ['start', 'profile', 'checkout', 'for', process.env.DEMO_DURATION ?? '10s', 'interval=2s', `url=${svc.url}`, 'endpoints=/health,/api/checkout', 'requests=5', '--json'];
  const first = JSON.parse(await run([...args.slice(0, -1), '--wait', '--json'])).id as string;
  await show(['status', first]);
  const second = JSON.parse(await run([...args.slice(0, -1), '--wait', '--json'])).id as string;
  process.stdout.write(`\n(second run ${second}: its prompt had "Seen before" with ${first})\n`);
  await show(['status', second]);
  await show(['ask', first, 'show me the details']);
  await show(['ask', first, 'why?']);
  writeFileSync(join(home, 'brief.txt'), 'Explain the profiling findings of checkout BRIEFLY.');
  await show(['replay', first, '--step', 'explain', '--prompt-file', join(home, 'brief.txt')]);
  await show(['memory', 'search', 'checkout', '504']);
  await show(['memory', 'stats']);
  process.stdout.write(`\nmodel calls made: ${ollama.counters.chatCalls}; prompt tokens: ${ollama.counters.promptTokens}\n`);
} finally {
  try {
    await run(['daemon', 'stop']);
  } catch {
    // not running
  }
  await ollama.close();
  await svc.stop();
  if (!process.env.KEEP_HOME) rmSync(home, { recursive: true, force: true });
  else process.stdout.write(`kept OPSTREAM_HOME=${home}\n`);
}
