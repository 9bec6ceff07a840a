// Slack bridge figures, against the compiled daemon started in-process and the loopback Slack
// (test/support/slack-loopback.ts, loaded through tsx) speaking Socket Mode and the Web API:
//  1. envelope ack latency (slash commands and DMs, as the loopback measures it: frame sent to ack
//     received) while N runs wait on timers (default 1,000), a slow step is in flight (a tool call
//     that never returns) and a busy run commits a step every 100 ms with its Slack thread being
//     edited; the commands' work (listing 1,000 runs, answering) happens after each ack.
//  2. run commit -> thread update: from the feed publishing a durable run event (right after its
//     fsynced commit) to the loopback recording the chat.update of that run's start message.
// SLACK_BENCH_WAITING (1,000; quick 200), SLACK_BENCH_ENVELOPES (300; quick 100),
// SLACK_BENCH_UPDATES (200; quick 50) change the sizes;
// SLACK_BENCH_DEBUG=1 prints progress on stderr. Runs in its own process.
import { chatBenchDaemon, percentile, runPartsInChildren, size } from './support.js';

const WAITING = size('SLACK_BENCH_WAITING', 1000, 200);
const ENVELOPES = size('SLACK_BENCH_ENVELOPES', 300, 100);
const UPDATES = size('SLACK_BENCH_UPDATES', 200, 50);
const debug = (...a) => process.env.SLACK_BENCH_DEBUG && process.stderr.write(`[slack.bench ${(performance.now() / 1000).toFixed(1)}s] ${a.join(' ')}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function setup(updateInterval) {
  const { tsImport } = await import('tsx/esm/api');
  const { startSlackLoopback } = await tsImport('../test/support/slack-loopback.ts', import.meta.url);
  const lb = await startSlackLoopback({ channels: [{ id: 'C0OPSALERTS', name: 'ops-alerts' }, { id: 'C0INCIDENTS', name: 'incidents' }, { id: 'D0BOB', user: 'U0BOB' }] });
  const config = [
    'slack:',
    `  app_token: "${lb.appToken}"`,
    `  bot_token: "${lb.botToken}"`,
    `  api_url: "${lb.apiUrl}"`,
    '  channels: { default: "#ops-alerts", critical: "#incidents" }',
    '  users: { U0ALICE: admin, U0BOB: operator }',
    `  update_interval: ${updateInterval}`,
  ];
  return chatBenchDaemon('opsb-sl-', config, lb, async (d) => {
    await lb.waitForConnection(1, 30_000);
    while (d.ctx.slack.status().state !== 'connected') await sleep(20);
  });
}

const wf = (d, id) => d.ctx.workflows.current().workflows.get(id);
const start = (d, id, actor = 'slack:U0BOB') => d.ctx.engine.startRun({ workflow: wf(d, id), params: {}, trigger: 'slack', actor });

async function ackLatency() {
  const s = await setup('1s');
  const { lb, d } = s;
  try {
    // N runs waiting on a timer (no notifications: they wait, nothing else)
    for (let i = 0; i < WAITING; i += 50) await Promise.all(Array.from({ length: Math.min(50, WAITING - i) }, () => start(d, 'waiter', 'bench')));
    while ((d.ctx.engine.runCounts().waiting ?? 0) < WAITING) await sleep(50);
    debug('waiting runs', WAITING);
    const slow = await start(d, 'slow');
    const busy = await start(d, 'busy');
    // both have their Slack thread before measuring
    await lb.waitForMessage('#ops-alerts', (m) => JSON.stringify(m.blocks ?? '').includes(slow.id), 30_000);
    await lb.waitForMessage('#ops-alerts', (m) => JSON.stringify(m.blocks ?? '').includes(busy.id), 30_000);
    const updatesBefore = d.ctx.slack ? lb.calls('chat.update').length : 0;
    const t0 = performance.now();
    const deliveries = [];
    for (let i = 0; i < ENVELOPES; i++) {
      // a third are DMs in plain words, the rest slash commands (status and list of 1,000 runs)
      const p =
        i % 3 === 2
          ? lb.event({ type: 'message', channel_type: 'im', channel: 'D0BOB', user: 'U0BOB', text: 'what is running?' })
          : lb.slashCommand({ text: i % 3 === 0 ? 'list' : `status ${busy.id}`, user_id: 'U0BOB', channel_id: '#ops-alerts' });
      deliveries.push(p);
      await sleep(10);
    }
    const done = await Promise.all(deliveries);
    const window = (performance.now() - t0) / 1000;
    const lat = done.filter((x) => x.acked).map((x) => x.ack.latencyMs).sort((a, b) => a - b);
    const { events } = await d.ctx.engine.events(busy.id, 0, 100_000);
    const iterations = events.filter((e) => e.type === 'repeat.iteration').length;
    const note = `${WAITING} runs waiting, slow step in flight, busy run ${iterations} iterations (${lb.calls('chat.update').length - updatesBefore} thread edits); ${ENVELOPES} envelopes over ${window.toFixed(1)} s; ${ENVELOPES - lat.length} not acked`;
    return [
      { id: 'slack_ack_p50_ms', name: `Socket Mode envelope ack latency p50 (busy daemon, ${WAITING} waiting runs)`, value: percentile(lat, 50), unit: 'ms', note: 'loopback: frame sent -> ack received (ms resolution)' },
      { id: 'slack_ack_p99_ms', name: 'Socket Mode envelope ack latency p99 (Slack allows 3 s)', value: percentile(lat, 99), unit: 'ms', note, ...(lat.length < ENVELOPES ? { failed: true, error: `${ENVELOPES - lat.length} of ${ENVELOPES} envelopes not acknowledged` } : {}) },
      { id: 'slack_ack_max_ms', name: 'Socket Mode envelope ack latency max', value: lat[lat.length - 1], unit: 'ms' },
    ];
  } finally {
    await s.close();
  }
}

async function threadUpdate() {
  const s = await setup('50ms');
  const { lb, d } = s;
  try {
    const run = await start(d, 'gate');
    const header = await lb.waitForMessage('#ops-alerts', (m) => JSON.stringify(m.blocks ?? '').includes(run.id), 30_000);
    while ((await d.ctx.engine.get(run.id)).status !== 'waiting') await sleep(20);
    // settle: the edits for the events so far
    await sleep(300);
    let committedAt = 0;
    const off = d.ctx.feed.onPublish((item) => {
      if (item.topic === 'runs' && item.data.run_id === run.id && committedAt === 0) committedAt = performance.now();
    });
    const lat = [];
    for (let i = 0; i < UPDATES; i++) {
      committedAt = 0;
      const seq = lb.calls().length;
      const want = i % 2 === 0 ? 'paused' : 'waiting';
      // pause/resume: each is one durable commit of run events, then the start message shows it
      if (i % 2 === 0) await d.ctx.engine.pause(run.id, 'bench');
      else await d.ctx.engine.resume(run.id, 'bench');
      await lb.waitForCall('chat.update', (c) => c.seq > seq && c.args.ts === header.ts && String(c.args.blocks).includes(`*${want}*`), 10_000);
      lat.push(performance.now() - committedAt);
      // past the coalescing interval, so each edit is sent at once (leading edge)
      await sleep(80);
    }
    off();
    lat.sort((a, b) => a - b);
    return [
      { id: 'slack_thread_update_p50_ms', name: 'run commit -> thread update at the loopback Slack, p50', value: percentile(lat, 50), unit: 'ms', note: `${UPDATES} pause/resume commits 130 ms apart; update_interval 50 ms` },
      { id: 'slack_thread_update_p99_ms', name: 'run commit -> thread update at the loopback Slack, p99', value: percentile(lat, 99), unit: 'ms', note: 'feed publish (after the fsynced commit) -> chat.update answered; includes reading the run and rendering Block Kit' },
    ];
  } finally {
    await s.close();
  }
}

const parts = { ackLatency, threadUpdate };

export async function run() {
  if (process.env.BENCH_PART) return parts[process.env.BENCH_PART]();
  return runPartsInChildren(import.meta.url, Object.keys(parts));
}
