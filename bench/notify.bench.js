// Notification benchmarks (issue: notifications that really reach people).
//  1. latency from the commit of a notify step to the webhook receiver (p50/p99): a run of 300
//     notify steps in a repeat; each entry's `at` is stamped when its commit is prepared.
//  2. outbox drain after a restart: 10,000 pending entries written while the daemon was down, to a
//     local receiver that answers 200; entries/s until every one is confirmed and recorded.
//  3. runs.watch fan-out: 50 watchers on a daemon in its own process while ~1,000 events/s are made;
//     p99 delivery lag (commit to watcher) and the daemon's RSS growth.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, inProcessDaemon, percentile, runPartsInChildren, size, stopChildDaemon } from './support.js';

function receiver() {
  const got = [];
  let onHit = () => undefined;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ t: Date.now(), json: JSON.parse(body) });
      res.end('{}');
      onHit();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}/`,
        got,
        until: (n) => new Promise((r) => (got.length >= n ? r() : (onHit = () => got.length >= n && r()))),
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
      }),
    ),
  );
}

function home(config, workflows = {}) {
  const h = mkdtempSync(join(tmpdir(), 'opbn-'));
  writeFileSync(join(h, 'config.yaml'), config);
  mkdirSync(join(h, 'workflows'));
  for (const [f, y] of Object.entries(workflows)) writeFileSync(join(h, 'workflows', f), y);
  return h;
}

const inProcess = (h) => inProcessDaemon(h);

const NOTIFY_LOOP = `id: chatter
steps:
  - id: loop
    repeat: { every: 0s, max_iterations: 300 }
    steps:
      - id: say
        notify: { text: "tick", level: info }
`;

async function latency() {
  const r = await receiver();
  const h = home(`notify:\n  desktop: off\n  webhooks:\n    - { name: hook, url: "${r.url}" }\n`, { 'chatter.yaml': NOTIFY_LOOP });
  const d = await inProcess(h);
  try {
    await d.ctx.engine.startRun({ workflow: d.ctx.workflows.current().workflows.get('chatter'), params: {}, trigger: 'bench', actor: 'bench' });
    await r.until(300);
    const lags = r.got.map((g) => g.t - Date.parse(g.json.at)).sort((a, b) => a - b);
    return [
      { id: 'notify_p50_ms', name: 'notify step commit -> webhook receiver, p50', value: percentile(lags, 50), unit: 'ms', note: `${lags.length} notifications, ms clock` },
      { id: 'notify_p99_ms', name: 'notify step commit -> webhook receiver, p99', value: percentile(lags, 99), unit: 'ms' },
    ];
  } finally {
    await d.stop();
    await r.close();
    rmSync(h, { recursive: true, force: true });
  }
}

async function drain() {
  const N = size('NOTIFY_BENCH_ENTRIES', 10_000, 2_000);
  const r = await receiver();
  const h = home(`notify:\n  desktop: off\n  webhooks:\n    - { name: hook, url: "${r.url}" }\n`);
  // the entries a crashed daemon left pending, written straight into its store
  const { Store } = await import('../dist/daemon/store/store.js');
  mkdirSync(join(h, 'data'), { recursive: true });
  const store = await Store.open(join(h, 'data', 'db'));
  const now = Date.now();
  let ops = [];
  for (let i = 0; i < N; i++) {
    const id = `${String(now).padStart(15, '0')}-${i.toString(36).padStart(6, '0')}-daemon`;
    const pending = { state: 'pending', attempts: 0, sent_at: null, receipt: null, last_error: null, next_at: null };
    ops.push({ type: 'put', sub: 'outbox', key: id, value: { id, at: new Date(now).toISOString(), run_id: null, workflow: null, step: null, kind: 'test', level: 'info', title: `n${i}`, text: 'drain', channels: { terminal: { ...pending }, hook: { ...pending } }, data: {} } });
    if (ops.length === 1000) {
      await store.commit(ops);
      ops = [];
    }
  }
  if (ops.length) await store.commit(ops);
  await store.close();
  const t0 = performance.now();
  const d = await inProcess(h);
  try {
    await r.until(N);
    // and recorded as sent
    while (d.ctx.notifier.backlog().hook > 0) await new Promise((res) => setTimeout(res, 5));
    const s = (performance.now() - t0) / 1000;
    return [{ id: 'outbox_drain_entries_per_s', name: `outbox drain after restart (${N} pending, webhook + inbox)`, value: N / s, unit: 'entries/s', note: `${N} in ${s.toFixed(2)} s incl. daemon start; one delivery in flight per channel, each recorded (records share fsyncs)` }];
  } finally {
    await d.stop();
    await r.close();
    rmSync(h, { recursive: true, force: true });
  }
}

function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function fanout() {
  // the same load without watchers first: worker threads for ~45 runs/s make most of the RSS
  const base = await fanoutWith(0);
  const rows = await fanoutWith(50);
  rows.push({ id: 'watch_fanout_rss_growth_due_to_watchers_mb', name: 'runs.watch fan-out: RSS growth due to 50 watchers (vs the same load unwatched)', value: rows.growth - base.growth, unit: 'MB', note: `peak growth ${rows.growth.toFixed(0)} MB watched, ${base.growth.toFixed(0)} MB unwatched` });
  return rows;
}

async function fanoutWith(WATCHERS) {
  const h = home('notify:\n  desktop: off\n', {
    'ten.yaml': `id: ten\nnotifications: []\nsteps:\n${Array.from({ length: 10 }, (_, i) => `  - id: s${i}\n    tool: engine_test.noop\n`).join('')}`,
  });
  const env = { ...process.env, OPSTREAM_HOME: h, OPSTREAM_ENGINE_FAULTS: '1' };
  delete env.NODE_ENV;
  spawnSync(process.execPath, [BIN, 'daemon', 'start'], { env, stdio: 'ignore' });
  const pid = Number(readFileSync(join(h, 'run', 'daemon.pid'), 'utf8'));
  const { DaemonClient } = await import('../dist/client/client.js');
  const clients = [];
  const lags = [];
  let received = 0;
  try {
    for (let i = 0; i < WATCHERS; i++) {
      const c = await DaemonClient.connect({ env, client: 'bench' });
      await c.watch({}, (item) => {
        received++;
        if (item.topic === 'runs') lags.push(Date.now() - Date.parse(item.data.at));
      });
      clients.push(c);
    }
    const starter = await DaemonClient.connect({ env, client: 'bench' });
    const rss0 = rssMb(pid);
    // ~22 events per run (created, started, 2 per step, succeeded): 45 runs/s is ~1,000 events/s
    const seconds = size('NOTIFY_BENCH_FANOUT_S', 10, 4);
    const t0 = Date.now();
    let runs = 0;
    let peak = rss0;
    while (Date.now() - t0 < seconds * 1000) {
      const tick = Date.now();
      await Promise.all(Array.from({ length: 9 }, () => starter.request('runs.start', { workflow: 'ten', args: [] })));
      runs += 9;
      peak = Math.max(peak, rssMb(pid));
      const wait = 200 - (Date.now() - tick);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const want = runs * 23 * WATCHERS;
    const until = Date.now() + 60_000;
    while (received < want * 0.99 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    const events = WATCHERS ? received / WATCHERS : runs * 23;
    starter.close();
    lags.sort((a, b) => a - b);
    if (WATCHERS === 0) return { growth: peak - rss0 };
    const rows = [
      { id: 'watch_fanout_events_per_s', name: 'runs.watch fan-out: events made per second', value: events / seconds, unit: 'events/s', note: `${runs} runs, ${WATCHERS} watchers, ${received} frames delivered` },
      { id: 'watch_fanout_lag_p50_ms', name: 'runs.watch fan-out: delivery lag p50', value: percentile(lags, 50), unit: 'ms' },
      { id: 'watch_fanout_lag_p99_ms', name: 'runs.watch fan-out: delivery lag p99', value: percentile(lags, 99), unit: 'ms', note: 'commit prepared -> watcher (ms clock), watchers in the bench process' },
      { id: 'watch_fanout_rss_growth_mb', name: 'runs.watch fan-out: daemon RSS growth (peak - before)', value: peak - rss0, unit: 'MB', note: `before ${rss0.toFixed(0)} MB, peak ${peak.toFixed(0)} MB` },
    ];
    rows.growth = peak - rss0;
    return rows;
  } finally {
    for (const c of clients) c.close();
    await stopChildDaemon(h, env);
    rmSync(h, { recursive: true, force: true });
  }
}

export async function run() {
  const parts = { latency, drain, fanout };
  if (process.env.BENCH_PART) return parts[process.env.BENCH_PART]();
  return runPartsInChildren(import.meta.url, Object.keys(parts));
}
