// Discord bridge figures, against the compiled daemon started in-process and the loopback Discord
// (test/support/discord-loopback.ts, loaded through tsx) that discord.js connects to (REST v10 and the
// gateway websocket):
//  1. interaction -> deferred ack: from the loopback sending INTERACTION_CREATE to it receiving the
//     interaction's callback (type 5, or an immediate type 4), while N runs wait on timers (default
//     1,000), a slow step is in flight (a tool call that never returns) and a busy run commits a step
//     every 100 ms with its card being edited; the commands' work happens after each ack.
//  2. run event -> message edit: from the feed publishing a durable run event (right after its
//     fsynced commit) to the loopback answering the PATCH of that run's card; the loopback enforces a
//     per-channel edit bucket (5 per second) and counts 429s; update_interval is the default 250 ms
//     and the commits come ~300 ms apart.
// DISCORD_BENCH_WAITING (1,000; quick 200), DISCORD_BENCH_INTERACTIONS (300; quick 100),
// DISCORD_BENCH_UPDATES (200; quick 50) change the sizes; DISCORD_BENCH_DEBUG=1 prints progress.
import { chatBenchDaemon, percentile, runPartsInChildren, size } from './support.js';

const WAITING = size('DISCORD_BENCH_WAITING', 1000, 200);
const INTERACTIONS = size('DISCORD_BENCH_INTERACTIONS', 300, 100);
const UPDATES = size('DISCORD_BENCH_UPDATES', 200, 50);
const debug = (...a) => process.env.DISCORD_BENCH_DEBUG && process.stderr.write(`[discord.bench ${(performance.now() / 1000).toFixed(1)}s] ${a.join(' ')}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const BOB = { id: '222222', username: 'bob' };

async function setup(updateInterval) {
  const { tsImport } = await import('tsx/esm/api');
  const { startDiscordLoopback } = await tsImport('../test/support/discord-loopback.ts', import.meta.url);
  // Discord's message edit bucket is about 5 per 5 s per channel for bots in practice; 5 per second here
  const lb = await startDiscordLoopback({ channels: ['789000000000000000'], editsPerWindow: 5, rateWindowMs: 1000 });
  const config = [
    'discord:',
    `  token: "${lb.token}"`,
    `  application_id: "${lb.applicationId}"`,
    `  guild_id: "${lb.guildId}"`,
    '  channel: "789000000000000000"',
    `  roles: { "${BOB.id}": operator }`,
    `  api_url: ${lb.apiUrl}`,
    `  update_interval: ${updateInterval}`,
  ];
  return chatBenchDaemon('opsb-dc-', config, lb, async (d) => {
    while (!(d.ctx.discord.status().state === 'connected' && d.ctx.discord.status().command_registered)) await sleep(20);
  });
}

const wf = (d, id) => d.ctx.workflows.current().workflows.get(id);
const start = (d, id, actor = 'bench') => d.ctx.engine.startRun({ workflow: wf(d, id), params: {}, trigger: 'cli', actor });

/** Starts a run from Discord and waits for its card; returns the run id and the card's message id. */
async function startFromDiscord(lb, workflow) {
  const ix = lb.command(BOB, 'start', { workflow });
  lb.deliver(ix);
  const said = await lb.answerOf(ix.id, 30_000);
  const id = /r_[a-z0-9]+/.exec(said)?.[0];
  if (!id) throw new Error(`not started: ${said}`);
  const card = await lb.waitFor(() => [...lb.messages.values()].find((m) => m.thread_id && JSON.stringify(m.embeds).includes(id)), `the card of ${id}`, 30_000);
  return { id, card: card.id };
}

async function ackLatency() {
  const s = await setup('250ms');
  const { lb, d } = s;
  try {
    for (let i = 0; i < WAITING; i += 50) await Promise.all(Array.from({ length: Math.min(50, WAITING - i) }, () => start(d, 'waiter')));
    while ((d.ctx.engine.runCounts().waiting ?? 0) < WAITING) await sleep(50);
    debug('waiting runs', WAITING);
    await startFromDiscord(lb, 'slow');
    const busy = await startFromDiscord(lb, 'busy');
    const editsBefore = lb.calls.filter((c) => c.method === 'PATCH' && c.path.includes('/channels/')).length;
    const t0 = performance.now();
    const ids = [];
    for (let i = 0; i < INTERACTIONS; i++) {
      const ix = i % 3 === 0 ? lb.command(BOB, 'list') : i % 3 === 1 ? lb.command(BOB, 'status', { run: busy.id }) : lb.command(BOB, 'help');
      lb.deliver(ix);
      ids.push(ix.id);
      await sleep(10);
    }
    await lb.waitFor(() => ids.every((id) => lb.interactions.get(id).callbacks.length > 0), 'every interaction acknowledged', 60_000).catch(() => null);
    const window = (performance.now() - t0) / 1000;
    const lat = ids
      .map((id) => lb.interactions.get(id))
      .filter((r) => r.callbacks.length)
      .map((r) => r.callbacks[0].at - r.sentAt)
      .sort((a, b) => a - b);
    const { events } = await d.ctx.engine.events(busy.id, 0, 100_000);
    const iterations = events.filter((e) => e.type === 'repeat.iteration').length;
    const edits = lb.calls.filter((c) => c.method === 'PATCH' && c.path.includes('/channels/')).length - editsBefore;
    debug('card edits at', lb.calls.filter((c) => c.method === 'PATCH' && c.path.includes('/channels/')).map((c) => `${c.status}@${c.at % 100000}`).join(' '));
    const note = `${WAITING} runs waiting, slow step in flight, busy run ${iterations} iterations (${edits} card edits, ${lb.rateLimited} 429s); ${INTERACTIONS} interactions over ${window.toFixed(1)} s; ${INTERACTIONS - lat.length} not acknowledged`;
    return [
      { id: 'discord_ack_p50_ms', name: `interaction -> deferred ack p50 (busy daemon, ${WAITING} waiting runs)`, value: percentile(lat, 50), unit: 'ms', note: 'loopback: INTERACTION_CREATE sent -> callback received (ms resolution)' },
      { id: 'discord_ack_p99_ms', name: 'interaction -> deferred ack p99 (Discord allows 3 s)', value: percentile(lat, 99), unit: 'ms', note, ...(lat.length < INTERACTIONS ? { failed: true, error: `${INTERACTIONS - lat.length} of ${INTERACTIONS} interactions not acknowledged` } : {}) },
    ];
  } finally {
    await s.close();
  }
}

async function messageEdit() {
  // the default update_interval: at most 4 edits a second per run card, under the bucket
  const s = await setup('250ms');
  const { lb, d } = s;
  try {
    const { id, card } = await startFromDiscord(lb, 'gate');
    while ((await d.ctx.engine.get(id)).status !== 'waiting') await sleep(20);
    await sleep(300);
    let committedAt = 0;
    const off = d.ctx.feed.onPublish((item) => {
      if (item.topic === 'runs' && item.data.run_id === id && committedAt === 0) committedAt = performance.now();
    });
    const lat = [];
    const before429 = lb.rateLimited;
    for (let i = 0; i < UPDATES; i++) {
      committedAt = 0;
      const seq = lb.calls.length;
      const want = i % 2 === 0 ? 'paused' : 'waiting';
      if (i % 2 === 0) await d.ctx.engine.pause(id, 'bench');
      else await d.ctx.engine.resume(id, 'bench');
      await lb.waitFor(() => lb.calls.slice(seq).some((c) => c.method === 'PATCH' && c.status === 200 && c.path.endsWith(`/messages/${card}`) && JSON.stringify(c.body).includes(`"value":"${want}"`)), `the card to show ${want}`, 10_000);
      lat.push(performance.now() - committedAt);
      // events a little further apart than update_interval, so each edit is sent at once (leading edge)
      await sleep(300);
    }
    off();
    lat.sort((a, b) => a - b);
    return [
      { id: 'discord_edit_p50_ms', name: 'run event -> Discord card edit at the loopback, p50', value: percentile(lat, 50), unit: 'ms', note: `${UPDATES} pause/resume commits ~300 ms apart; update_interval 250 ms (the default)` },
      { id: 'discord_edit_p99_ms', name: 'run event -> Discord card edit at the loopback, p99', value: percentile(lat, 99), unit: 'ms', note: `feed publish (after the fsynced commit) -> PATCH answered, through discord.js REST (rate-limit buckets); ${lb.rateLimited - before429} 429s` },
      { id: 'discord_edit_429s', name: '429 answers during the edit run', value: lb.rateLimited - before429, unit: 'responses' },
    ];
  } finally {
    await s.close();
  }
}

const parts = { ackLatency, messageEdit };

export async function run() {
  if (process.env.BENCH_PART) return parts[process.env.BENCH_PART]();
  return runPartsInChildren(import.meta.url, Object.keys(parts));
}
