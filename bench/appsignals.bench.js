// Issue 23's goals for the AWS stories, measured through the real CLI and a daemon in its own
// process, with the stand-in of the AWS Labs Application Signals MCP server
// (test/support/appsignals-standin.mjs, mirroring release 0.1.40) configured as mcpServers.appsignals
// exactly as a user configures the real one (`npm run bench -- appsignals`):
//  breach  `slo_appsignals checkout-api every 5s` watches a healthy world; at a random moment of a
//          check interval the stand-in's world turns breached (its state file, read on every call);
//          counted from that write until the run's critical alert arrives on a `notifications`
//          subscription. Then the world heals, the run reports the SLO restored, and the next breach
//          comes. Every other breach comes just after a check has read the SLI report instead (the
//          worst moment: only the next check sees it). Goal: every breach reported within one check
//          interval + 5 s (the figure is the worst).
//  tokens  the same incident (a slow payment dependency breaking the checkout SLO) seen by the
//          built-in `slo` story (the demo service with its dependency timing out) and by
//          `slo_appsignals`, both explained by the loopback Ollama (test/support/ollama-loopback.ts,
//          loaded through tsx) answering as test/support/stories.ts' story model; the model prompt
//          tokens each run spent until its alert (the loopback's tokenizer, the same for both).
//          Goal: the AppSignals story costs no more (ratio <= 1.0).
// Sizes: APPSIGNALS_BENCH_BREACHES (6; quick 2), APPSIGNALS_BENCH_INTERVAL_S (5).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchHome, BIN, percentile, ROOT, runPartsInChildren, size } from './support.js';

const STANDIN = join(ROOT, 'test', 'support', 'appsignals-standin.mjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function awsConfig(state, extra = []) {
  // the stand-in's credentials are the documented AWS example keys; it never calls AWS
  const env = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', APPSIGNALS_STANDIN_STATE: state };
  return ['notify: { desktop: "off" }', ...extra, 'mcpServers:', '  appsignals:', '    command: node', `    args: [${JSON.stringify(STANDIN)}]`, `    env: ${JSON.stringify(env)}`, ''].join('\n');
}

function cliStart(env, args) {
  const r = spawnSync(process.execPath, [BIN, 'start', ...args, '--json'], { env, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`opstream start ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout).id;
}

async function until(check, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A client on the home's daemon with the notifications of one run, as they are committed. */
async function follow(env) {
  const { DaemonClient } = await import('../dist/client/client.js');
  const client = await DaemonClient.connect({ env, client: 'test' });
  const notes = [];
  /** When each check read the SLI report (its `slis` step succeeded), as the events arrive. */
  const reads = [];
  return {
    client,
    notes,
    reads,
    async watch(runId) {
      await client.subscribe('notifications', { run_id: runId }, (e, data) => {
        if (e === 'notification') notes.push({ ...data, seen_at: performance.now() });
      });
      await client.subscribe('runs', { run_id: runId }, (e, data) => {
        if (e === 'step.succeeded' && /^monitor\[\d+\]\.slis$/.test(data.step)) reads.push(performance.now());
      });
    },
    run: (id) => client.request('runs.get', { id }),
  };
}

async function breach() {
  const BREACHES = size('APPSIGNALS_BENCH_BREACHES', 6, 2);
  const intervalS = size('APPSIGNALS_BENCH_INTERVAL_S', 5, 5);
  const b = benchHome();
  const state = join(b.home, 'aws-world.json');
  writeFileSync(state, JSON.stringify({ scenario: 'healthy' }));
  writeFileSync(join(b.home, 'config.yaml'), awsConfig(state));
  let f;
  const took = [];
  const kinds = [];
  try {
    const id = cliStart(b.env, ['slo_appsignals', 'checkout-api', 'every', `${intervalS}s`, 'recheck_every=1s']);
    f = await follow(b.env);
    await f.watch(id);
    const checks = async () => {
      const out = (await f.run(id)).steps.find((s) => s.id === 'monitor')?.output;
      return Array.isArray(out) ? out.length : 0;
    };
    for (let i = 0; i < BREACHES; i++) {
      // back to watching a healthy world (a finished check after the last recovery); then the
      // breach comes at a random moment of the interval (even breaches), or just after a check has
      // read the SLI report (odd ones: the worst moment, seen only by the next check)
      const done = await checks();
      await until(async () => (await checks()) > done, 'a healthy check', 120_000);
      if (i % 2 === 0) {
        kinds.push('random');
        await sleep(Math.random() * intervalS * 1000);
      } else {
        kinds.push('after a read');
        // from the event, not by polling the run: the step's state lives only until its check ends,
        // a few ms later when the world is healthy
        const before = f.reads.length;
        await until(() => f.reads.length > before, 'the next check to read the SLI report', 120_000);
      }
      const seen = f.notes.length;
      const t0 = performance.now();
      writeFileSync(state, JSON.stringify({}));
      const alert = await until(() => f.notes.slice(seen).find((n) => n.level === 'critical' && /SLO breach on checkout-api/.test(n.text)), 'the breach alert', 120_000);
      if (!/checkout-api-latency-p99/.test(alert.text) || !/payment-service/.test(alert.text)) throw new Error(`the alert does not name the SLO and the slow dependency: ${alert.text}`);
      took.push((alert.seen_at - t0) / 1000);
      process.stderr.write(`  appsignals: breach ${i + 1}/${BREACHES} (${kinds.at(-1)}) reported in ${took.at(-1).toFixed(2)} s\n`);
      // healed: the run says the SLO is restored and goes back to its checks
      writeFileSync(state, JSON.stringify({ remediated: true }));
      await until(() => f.notes.slice(seen).find((n) => /SLO checkout-api-latency-p99 restored/.test(n.text)), 'the restored report', 120_000);
    }
    await f.client.request('runs.cancel', { id });
  } finally {
    f?.client.close();
    await b.cleanup();
  }
  const sorted = [...took].sort((a, b2) => a - b2);
  return [
    {
      id: 'appsignals_breach_report_s',
      name: `slo_appsignals every ${intervalS}s: from a breach appearing in the AppSignals world to the run's critical alert naming the SLO and the slow dependency, worst of ${took.length}`,
      value: sorted.at(-1),
      unit: 's',
      goal: { op: '<', value: intervalS + 5 },
      baseline: { name: 'the check interval', value: intervalS, unit: 's' },
      note: `p50 ${percentile(sorted, 50).toFixed(2)} s; at a random moment: ${took.filter((_, i) => kinds[i] === 'random').map((t) => t.toFixed(2)).join(', ')} s; just after a check read the SLI report: ${took.filter((_, i) => kinds[i] !== 'random').map((t) => t.toFixed(2)).join(', ')} s`,
    },
  ];
}

async function tokens() {
  const { tsImport } = await import('tsx/esm/api');
  const { startOllamaLoopback } = await tsImport('../test/support/ollama-loopback.ts', import.meta.url);
  const { storyModel } = await tsImport('../test/support/stories.ts', import.meta.url);
  const { startDemoService } = await tsImport('../test/support/demo-service.ts', import.meta.url);
  const ollama = await startOllamaLoopback(['qwen2.5:7b']);
  ollama.setHandler(storyModel);
  const svc = await startDemoService(['--fault', 'dependency-timeout']);
  const b = benchHome();
  writeFileSync(join(b.home, 'config.yaml'), awsConfig(join(b.home, 'aws-world.json'), [`llm: { host: "${ollama.host}", model: "qwen2.5:7b" }`]));
  let f;
  /** Starts a story on the incident and returns its model usage when it alerted. */
  const story = async (args) => {
    const id = cliStart(b.env, args);
    await f.watch(id);
    const alert = await until(() => f.notes.find((n) => n.run_id === id && n.level === 'critical'), `the ${args[0]} alert`, 120_000);
    const run = await f.run(id);
    await f.client.request('runs.cancel', { id });
    if (!alert.text.includes(' AI: ')) throw new Error(`${args[0]}: the alert does not quote the model, so its explain step did not run: ${alert.text}`);
    return run.usage;
  };
  try {
    spawnSync(process.execPath, [BIN, 'daemon', 'start'], { env: b.env, stdio: 'ignore', timeout: 60_000 });
    f = await follow(b.env);
    const builtin = await story(['slo', 'demo', `url=${svc.url}/api/checkout`, 'interval=2s', 'requests=5', 'recheck_every=1s']);
    const aws = await story(['slo_appsignals', 'checkout-api', 'every', '2s', 'recheck_every=1s']);
    if (!(builtin.prompt_tokens > 0)) throw new Error('the built-in story spent no prompt tokens: its explain step did not reach the model');
    return [
      {
        id: 'appsignals_tokens_vs_builtin',
        name: 'model prompt tokens of slo_appsignals explaining a slow-dependency breach, divided by the built-in slo story\'s on the same incident (loopback Ollama, story model)',
        value: Math.round((aws.prompt_tokens / builtin.prompt_tokens) * 100) / 100,
        unit: 'x',
        goal: { op: '<=', value: 1 },
        baseline: { name: 'built-in slo story prompt tokens', value: builtin.prompt_tokens, unit: 'tokens' },
        note: `slo_appsignals ${aws.prompt_tokens} prompt + ${aws.completion_tokens} completion tokens; slo ${builtin.prompt_tokens} + ${builtin.completion_tokens}`,
      },
    ];
  } finally {
    f?.client.close();
    await b.cleanup();
    await svc.stop();
    await ollama.close();
  }
}

const parts = { breach, tokens };

export async function run() {
  if (process.env.BENCH_PART) return parts[process.env.BENCH_PART]();
  return runPartsInChildren(import.meta.url, Object.keys(parts));
}
