// Story (a) of the vision in Slack, end to end (`npm run demo:slack`), with nothing to install:
// Slack is the loopback Slack server the tests use (test/support/slack-loopback.ts) and the model
// the loopback Ollama (scripted to answer from its prompt, as in demo-ai.mts). Everything else is
// real: the daemon (its own process, in a temporary OPSTREAM_HOME), its Socket Mode connection,
// the workers, the ops MCP tools, and the demo service with its search pool shrunk.
//
// People, as in the tests: bob (operator) types the command and asks; alice (admin) approves.
// It prints the run's thread as a person in #ops-alerts sees it, message by message, each edit of
// a message as an "[edited]" line, then removes everything it started.
//
//   DEMO_FOR="2 minutes" npm run demo:slack     the vision's exact words (default: 45 seconds)
//   DEMO_INTERVAL=10s                           time between samples (default 5s)
//   KEEP_HOME=1                                 keep the OPSTREAM_HOME (logs, store) for a look
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startDemoService } from '../test/support/demo-service.js';
import { startOllamaLoopback } from '../test/support/ollama-loopback.js';
import { LOOPBACK_OPTS, PEOPLE, buttonValue, hasButton, isTop, slackConfig } from '../test/support/slack-daemon.js';
import { startSlackLoopback } from '../test/support/slack-loopback.js';
import { demoServiceYaml, printTimeline, reply, shows, storyModel, timeline, waitMessage } from '../test/support/stories.js';

const ROOT = new URL('..', import.meta.url).pathname;
const FOR = process.env.DEMO_FOR ?? '45 seconds';
const INTERVAL = process.env.DEMO_INTERVAL ?? '5s';
const home = mkdtempSync(join(tmpdir(), 'opstream-slack-'));
const env = { ...process.env, OPSTREAM_HOME: home, NO_COLOR: '1' };
const cli = async (args: string[]): Promise<string> => (await promisify(execFile)(process.execPath, [join(ROOT, 'bin/run.js'), ...args], { env, encoding: 'utf8' })).stdout;
const say = (s: string): void => void process.stdout.write(`${s}\n`);
const CH = '#ops-alerts';
const t0 = Date.now();

const svc = await startDemoService(['--fault', 'slow-endpoint']);
const ollama = await startOllamaLoopback(['qwen2.5:7b']);
ollama.setHandler(storyModel);
const lb = await startSlackLoopback(LOOPBACK_OPTS);
writeFileSync(
  join(home, 'config.yaml'),
  [slackConfig(lb).replace('post_interval: 20ms', 'post_interval: 200ms').replace('update_interval: 50ms', 'update_interval: 2s'), `llm: { host: "${ollama.host}", model: "qwen2.5:7b" }`, demoServiceYaml(svc, { interval: INTERVAL })].join('\n'),
);
try {
  await cli(['daemon', 'start']);
  await lb.waitForConnection(1, 30_000);
  say(`demo-service on ${svc.url} with its search pool shrunk to 1 (fault slow-endpoint); OpStream connected to Slack (loopback).`);
  say('config.yaml maps the service name to its URL, endpoints, pid, log and admin hooks (services: demo-service: ...).\n');

  const command = `profile demo-service for ${FOR}`;
  say(`bob in #ops-alerts: /opstream ${command}`);
  await lb.slashCommand({ text: command, user_id: PEOPLE.bob, channel_id: CH });
  const ack = await lb.waitForResponse(() => true, 30_000);
  say(`  (only visible to bob) ${String(ack.body.text)}\n`);
  const id = /`(r_[a-z0-9]+)`/.exec(String(ack.body.text))?.[1];
  if (!id) throw new Error(`the command was not started: ${String(ack.body.text)}`);

  const header = await waitMessage(lb, CH, (m) => isTop(m) && shows(m).includes(id));
  const found = await waitMessage(lb, CH, (m) => m.thread_ts === header.ts && /Found \d+ performance bottleneck/.test(shows(m)), 10 * 60_000);
  await waitMessage(lb, CH, (m) => m.thread_ts === header.ts && (m.files?.length ?? 0) > 0);
  const ask = await waitMessage(lb, CH, (m) => m.thread_ts === header.ts && hasButton(m, 'opstream.approve'));

  // bob reads the findings and asks; the answer comes in the thread
  await reply(lb, CH, PEOPLE.bob, header.ts, 'show me the details');
  await waitMessage(lb, CH, (m) => m.thread_ts === header.ts && m.bot_id !== undefined && m.ts > found.ts && /Suggested fix|Fix:/.test(shows(m)));
  // alice approves the fix with the button
  await lb.blockAction({ user: PEOPLE.alice, channel: CH, message: { ts: ask.ts }, actions: [{ action_id: 'opstream.approve', value: buttonValue(ask, 'opstream.approve') }] });
  await waitMessage(lb, CH, (m) => m.thread_ts === header.ts && /Fix (not )?confirmed/.test(shows(m)), 5 * 60_000);
  await waitMessage(lb, CH, (m) => m.ts === header.ts && /succeeded|failed/i.test(shows(m)), 60_000);
  await waitMessage(lb, CH, (m) => m.thread_ts === header.ts && m.ts !== header.ts && /application_profiling (succeeded|failed)/.test(shows(m)), 60_000);

  say(`--- #ops-alerts, the thread of ${id}, as people in the channel saw it ---\n`);
  say(printTimeline(timeline(lb, CH, header.ts), header.ts));
  const state = (await svc.get('/admin/state')).body as { faults: string[]; pool: { size: number } };
  say(`\n--- demo-service /admin/state: faults=${JSON.stringify(state.faults)} pool.size=${state.pool.size}`);
  say(`model calls: ${ollama.counters.chatCalls}; Slack API calls: ${lb.calls().length}; took ${Math.round((Date.now() - t0) / 1000)} s`);
} finally {
  try {
    await cli(['daemon', 'stop']);
  } catch {
    // not running
  }
  await lb.close();
  await ollama.close();
  await svc.stop();
  if (!process.env.KEEP_HOME) rmSync(home, { recursive: true, force: true });
  else say(`kept OPSTREAM_HOME=${home}`);
}
