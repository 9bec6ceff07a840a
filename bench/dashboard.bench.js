// Dashboard and stats figures (issue 12).
//  1. The dashboard with 1,000 active runs while the daemon pushes ~200 run events/s (pause and
//     resume of those runs through the real protocol, each one a durable commit): frame time p99
//     (Ink's render of a frame), event-to-screen lag p99 (from the feed item's arrival to the frame
//     written after it, and from the daemon's commit time of the event), and the dashboard's RSS.
//     The dashboard runs in its own process (bench/dashboard-child.js) on a 120x40 stand-in terminal.
//  2. `stats` over 100,000 finished runs (30 days, 5 workflows): the daemon counts runs that ended
//     before its stats index existed once at start (backfill), then answers from hourly aggregates.
// The 1,000 waiting runs and the 100,000 finished runs are written into the store while the daemon
// is down, from one real run's stored state (starting them one by one would measure worker start).
// DASH_BENCH_SECONDS sets how long events are pushed (20; quick 5), DASH_BENCH_FINISHED the finished
// runs for `stats` (100,000; quick 10,000).
import { fork, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonClient } from '../dist/client/client.js';
import { BIN, percentile, runIndexOps, runPartsHere, size, stepRowsApi } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const ACTIVE = 1000;
const RATE = 200;
const SECONDS = size('DASH_BENCH_SECONDS', 20, 5);
const FINISHED = size('DASH_BENCH_FINISHED', 100_000, 10_000);

function home() {
  const dir = mkdtempSync(join(tmpdir(), 'opsdb-'));
  mkdirSync(join(dir, 'workflows'));
  copyFileSync(join(here, 'fixtures', 'dashboard-waiter.yaml'), join(dir, 'workflows', 'dashboard-waiter.yaml'));
  const env = { ...process.env, OPSTREAM_HOME: dir };
  delete env.NODE_ENV;
  return { dir, env, cli: (...args) => spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' }) };
}

/** One real run of dwaiter until it waits, then N copies of its stored state (daemon stopped). */
async function cloneWaiting(h, n) {
  const c = await DaemonClient.connect({ env: h.env, client: 'bench' });
  const run = await c.request('runs.start', { workflow: 'dwaiter', args: [] });
  for (;;) {
    const r = await c.request('runs.get', { id: run.id });
    if (r.waiting_for?.kind === 'approval') break;
    await new Promise((res) => setTimeout(res, 20));
  }
  c.close();
  h.cli('daemon', 'stop');
  const { Store } = await import('../dist/daemon/store/store.js');
  const stepRows = await stepRowsApi();
  const store = await Store.open(join(h.dir, 'data', 'db'));
  const header = await store.get('runs', run.id);
  const rows = await stepRows.read(store, run.id);
  const index = await runIndexOps();
  let ops = [];
  for (let i = 0; i < n; i++) {
    const id = `r_d${i.toString(36).padStart(7, '0')}`;
    const copy = { ...header, id, created_at: new Date(Date.now() - i * 1000).toISOString() };
    ops.push({ type: 'put', sub: 'runs', key: id, value: copy });
    ops.push(...index.created(copy));
    rows.forEach(([, row], k) => ops.push(stepRows.putOp(id, k, row)));
    if (ops.length >= 2000) {
      await store.commit(ops);
      ops = [];
    }
  }
  if (ops.length) await store.commit(ops);
  await store.close();
}

async function dashboard() {
  const h = home();
  let child = null;
  try {
    h.cli('daemon', 'start');
    await cloneWaiting(h, ACTIVE);
    if (h.cli('daemon', 'start').status !== 0) throw new Error('daemon did not start');
    child = fork(join(here, 'dashboard-child.js'), [], { execArgv: process.env.DASH_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.DASH_PROF] : [], env: h.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = await new Promise((res, rej) => {
      child.once('message', res);
      child.once('exit', (code) => rej(new Error(`dashboard child exited ${code}`)));
    });
    // drive ~RATE events/s: pause (2 events) and resume (1 event) of the waiting runs, paced
    const c = await DaemonClient.connect({ env: h.env, client: 'bench' });
    const ids = (await c.request('runs.list', { all: false, limit: 10_000 })).runs.map((r) => r.id);
    const paused = new Set();
    let events = 0;
    let i = 0;
    const t0 = performance.now();
    const inflight = new Set();
    while (performance.now() - t0 < SECONDS * 1000) {
      const due = ((performance.now() - t0) / 1000) * RATE;
      if (events >= due || inflight.size >= 16) {
        await new Promise((res) => setTimeout(res, 2));
        continue;
      }
      const id = ids[i++ % ids.length];
      const p = paused.has(id)
        ? c.request('runs.resume', { id }).then(() => paused.delete(id))
        : c.request('runs.pause', { id }).then(() => paused.add(id));
      events += paused.has(id) ? 1 : 2;
      inflight.add(p);
      void p.catch(() => undefined).finally(() => inflight.delete(p));
    }
    await Promise.allSettled([...inflight]);
    const elapsed = (performance.now() - t0) / 1000;
    // let the last frame be drawn
    await new Promise((res) => setTimeout(res, 300));
    const figs = await new Promise((res) => {
      child.once('message', res);
      child.send('stop');
    });
    c.close();
    const sorted = (a) => [...a].sort((x, y) => x - y);
    const frames = sorted(figs.frames);
    const lags = sorted(figs.lags);
    const e2e = sorted(figs.e2e);
    const rate = figs.items / elapsed;
    return [
      { id: 'dashboard_frame_p50_ms', name: `dashboard, ${ready.runs} active runs, ${rate.toFixed(0)} feed items/s: frame time p50`, value: percentile(frames, 50), unit: 'ms', note: `${frames.length} frames in ${elapsed.toFixed(0)} s (Ink's render of a frame, 120x40)` },
      { id: 'dashboard_frame_p99_ms', name: 'dashboard frame time p99', value: percentile(frames, 99), unit: 'ms', goal: { op: '<', value: 100 }, note: `load average ${loadavg()[0].toFixed(1)} on ${(await import('node:os')).cpus().length} cores during the run` },
      { id: 'dashboard_cpu_per_frame_ms', name: 'dashboard CPU per frame (process CPU time / frames)', value: figs.cpuMs / Math.max(1, frames.length), unit: 'ms', note: `${(figs.cpuMs / elapsed / 10).toFixed(0)}% of one core over the run (frames, feed, reads); less sensitive to other load than wall times` },
      { id: 'dashboard_item_to_screen_p99_ms', name: 'dashboard event-to-screen lag p99 (item arrival -> frame written)', value: percentile(lags, 99), unit: 'ms', goal: { op: '<', value: 100 }, note: `p50 ${percentile(lags, 50).toFixed(1)} ms; Ink draws at most 30 frames/s` },
      { id: 'dashboard_commit_to_screen_p99_ms', name: 'dashboard event-to-screen lag p99 (daemon commit -> frame written)', value: percentile(e2e, 99), unit: 'ms', goal: { op: '<', value: 100 }, note: `p50 ${percentile(e2e, 50).toFixed(0)} ms; ${e2e.length} run events` },
      { id: 'dashboard_rss_mb', name: 'dashboard RSS (max)', value: figs.rss / 1024 / 1024, unit: 'MB', note: `JS heap ${(figs.heap / 1024 / 1024).toFixed(0)} MB; ${figs.runs} runs in its model; ${(figs.bytes / 1024 / 1024).toFixed(1)} MB written to the terminal` },
    ];
  } finally {
    // the dashboard (a client of the daemon) first, then the daemon, then its home
    if (child && child.exitCode === null) child.kill('SIGKILL');
    h.cli('daemon', 'stop');
    rmSync(h.dir, { recursive: true, force: true });
  }
}

async function stats() {
  const h = home();
  try {
    // a real store layout (and the daemon's own recovery) with 100,000 finished run headers
    const { Store } = await import('../dist/daemon/store/store.js');
    mkdirSync(join(h.dir, 'data'), { recursive: true });
    const store = await Store.open(join(h.dir, 'data', 'db'));
    const wfs = ['application_profiling', 'slo_monitoring', 'hello', 'deploy_check', 'backup_verify'];
    const now = Date.now();
    let ops = [];
    let seed = 7;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let i = 0; i < FINISHED; i++) {
      const ended = now - Math.floor(rnd() * 30 * 86_400_000);
      const dur = Math.floor(1000 + rnd() * 3_600_000);
      const x = rnd();
      const status = x < 0.85 ? 'succeeded' : x < 0.95 ? 'failed' : 'cancelled';
      const id = `r_s${i.toString(36).padStart(7, '0')}`;
      ops.push({
        type: 'put',
        sub: 'runs',
        key: id,
        value: {
          id, workflow: wfs[i % wfs.length], def_hash: 'bench', status, params: {}, created_at: new Date(ended - dur - 50).toISOString(), started_at: new Date(ended - dur).toISOString(),
          ended_at: new Date(ended).toISOString(), current_step: 'last', waiting_for: null, usage: { prompt_tokens: Math.floor(rnd() * 5000), completion_tokens: Math.floor(rnd() * 800), tool_calls: 3 },
          error: status === 'failed' ? 'bench' : null, trigger: 'bench', actor: 'bench', seq: 6, pause_requested: false, pause_reason: null, budget_grants: 0, timeout_at: null,
        },
      });
      if (ops.length >= 5000) {
        await store.commit(ops);
        ops = [];
      }
    }
    if (ops.length) await store.commit(ops);
    await store.close();

    const t0 = performance.now();
    const c = await DaemonClient.connect({ env: h.env, client: 'bench', startTimeoutMs: 120_000 });
    const startMs = performance.now() - t0;
    const time = async (params, n = 30) => {
      const out = [];
      for (let k = 0; k < n; k++) {
        const t = performance.now();
        const s = await c.request('stats.get', params);
        out.push(performance.now() - t);
        if (k === 0 && params.since === 'all' && !params.workflow && s.runs.runs !== FINISHED) throw new Error(`stats counted ${s.runs.runs} runs, not ${FINISHED}`);
      }
      return out.sort((a, b) => a - b);
    };
    const all = await time({ since: 'all' });
    const week = await time({ since: '7d' });
    const one = await time({ since: '30d', workflow: 'hello' });
    c.close();
    const cliT = [];
    for (let k = 0; k < 5; k++) {
      const t = performance.now();
      h.cli('stats', '--json');
      cliT.push(performance.now() - t);
    }
    cliT.sort((a, b) => a - b);
    return [
      { id: 'stats_all_p50_ms', name: `stats over ${FINISHED.toLocaleString('en')} finished runs (since all), p50`, value: percentile(all, 50), unit: 'ms', goal: { op: '<', value: 500 }, note: 'stats.get round trip, hourly aggregates merged' },
      { id: 'stats_all_p99_ms', name: `stats over ${FINISHED.toLocaleString('en')} finished runs (since all), p99`, value: percentile(all, 99), unit: 'ms', goal: { op: '<', value: 500 } },
      { id: 'stats_7d_p99_ms', name: 'stats --since 7d, p99', value: percentile(week, 99), unit: 'ms', goal: { op: '<', value: 500 } },
      { id: 'stats_30d_workflow_p99_ms', name: 'stats --since 30d --workflow hello, p99', value: percentile(one, 99), unit: 'ms', goal: { op: '<', value: 500 } },
      { id: 'stats_cli_wall_ms', name: '`opstream stats --json` wall time (median of 5)', value: percentile(cliT, 50), unit: 'ms', goal: { op: '<', value: 500 }, note: 'whole CLI process' },
      { id: 'stats_first_start_with_finished_ms', name: `first daemon start with ${FINISHED.toLocaleString('en')} finished runs in the store (incl. one-time stats backfill)`, value: startMs, unit: 'ms', note: 'the engine also scans every run at start' },
    ];
  } finally {
    h.cli('daemon', 'stop');
    rmSync(h.dir, { recursive: true, force: true });
  }
}

export async function run() {
  return runPartsHere('dashboard', { dashboard, stats });
}
