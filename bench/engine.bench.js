// Engine benchmarks, against the compiled daemon started in-process (real store, real Bree workers).
//  1. steps/s, no-op step: 40 concurrent runs of 500 in-worker no-op steps (`engine_test.noop`, no
//     tool call). A step's result rides with the next step's start in one fsynced commit (events +
//     changed step rows + run header), so each step's result is durable before the next starts;
//     concurrent runs share fsyncs (group commit). Steps and events (two per step) counted apart.
//  2. steps/s, MCP tool step: the same with a no-op MCP tool (`fault.echo` of a stdio server) called
//     through the daemon's tool pool.
//  3. N runs waiting on approvals (with a 2 h timeout timer each): daemon RSS and idle CPU.
//  4. recovery after kill -9 with N runs in flight: time until the daemon serves again with every
//     run re-admitted, until every run's new activation started, and until all finished.
//  5. daemon restart with M finished runs in the store (header, step rows and events each; the
//     one-time stats backfill done by a first start), beside a start with an empty store.
// Sizes: ENGINE_BENCH_RUNS = N (10,000; quick 1,000), ENGINE_BENCH_FINISHED = M (100,000; quick
// 10,000), ENGINE_BENCH_STEPS steps per run in 1-2 (500; quick 100). ENGINE_BENCH_DRAIN_MAX_S
// bounds part 4's wait (150 s; quick 90 s; past the bound the figure is a lower bound and says so); ENGINE_BENCH_DEBUG=1 prints progress on stderr. Each part
// runs in its own process.
// The N-run states are made by cloning a real run's stored state while the daemon is down
// (starting N runs one by one would measure worker start-up, not waiting or recovery).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, coldStartEnv, daemonPidOf, ROOT, runIndexOps, runPartsInChildren, size, stepRowsApi, stopChildDaemon } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const N = size('ENGINE_BENCH_RUNS', 10_000, 1_000);
const FINISHED = size('ENGINE_BENCH_FINISHED', 100_000, 10_000);
const STEPS = size('ENGINE_BENCH_STEPS', 500, 100);
const RUNS = 40;
const debug = (...a) => process.env.ENGINE_BENCH_DEBUG && process.stderr.write(`[engine.bench ${(performance.now() / 1000).toFixed(1)}s] ${a.join(' ')}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function daemonIn(home) {
  process.env.OPSTREAM_HOME = home;
  process.env.OPSTREAM_ENGINE_FAULTS = '1';
  const { startDaemon } = await import('../dist/daemon/main.js');
  const o = await startDaemon(process.env);
  if (o.kind !== 'started') throw new Error('daemon already running in bench home');
  if (process.env.ENGINE_BENCH_DEBUG) {
    // which part of a daemon stop takes long (or hangs)
    const eng = o.daemon.ctx.engine;
    const wrap = (name, obj, method) => {
      const fn = obj[method].bind(obj);
      obj[method] = async (...a) => {
        debug(`${name}.${method}...`, name === 'pool' ? JSON.stringify([...obj.active.values()].slice(0, 3).map((x) => ({ run: x.runId, name: x.name, ended: x.ended, killed: x.killed, worker: x.worker?.threadId ?? null }))) + ` active ${obj.active.size}` : '');
        const r = await fn(...a);
        debug(`${name}.${method} done`);
        return r;
      };
    };
    wrap('engine', eng, 'stop');
    wrap('tools', o.daemon.ctx.tools, 'stop');
    wrap('workflows', o.daemon.ctx.workflows, 'stop');
    wrap('scheduler', eng.scheduler, 'stop');
    wrap('pool', eng.pool, 'close');
  }
  return o.daemon;
}

function homeWith(files, generated = {}, config = null) {
  const home = mkdtempSync(join(tmpdir(), 'opb-'));
  mkdirSync(join(home, 'workflows'));
  for (const f of files) copyFileSync(join(here, 'fixtures', f), join(home, 'workflows', f));
  for (const [f, text] of Object.entries(generated)) writeFileSync(join(home, 'workflows', f), text);
  if (config) writeFileSync(join(home, 'config.yaml'), config);
  return home;
}

const stepsYaml = (id, step) => `id: ${id}\nnotifications: []\nsteps:\n${Array.from({ length: STEPS }, (_, i) => `  - id: s${i}\n${step}`).join('')}`;

async function start(d, wf) {
  const loaded = d.ctx.workflows.current().workflows.get(wf);
  return d.ctx.engine.startRun({ workflow: loaded, params: {}, trigger: 'bench', actor: 'bench' });
}

/** Sequential one-op synced commits to a fresh store in `dir`: what one synced batch at a time reaches. */
async function syncedCommits(dir) {
  const { Store } = await import('../dist/daemon/store/store.js');
  const store = await Store.open(join(dir, 'probe-db'));
  const t = [];
  try {
    for (let i = 0; i < 150; i++) {
      const t0 = performance.now();
      await store.commit([{ type: 'put', sub: 'meta', key: `probe:${i % 10}`, value: { i, pad: 'x'.repeat(400) } }]);
      if (i >= 20) t.push(performance.now() - t0);
    }
  } finally {
    await store.close();
    rmSync(join(dir, 'probe-db'), { recursive: true, force: true });
  }
  t.sort((a, b) => a - b);
  const mean = t.reduce((a, b) => a + b, 0) / t.length;
  return { perSecond: 1000 / mean, p50: t[Math.floor(t.length / 2)], p99: t[Math.floor(t.length * 0.99)] };
}

/** RUNS concurrent runs of STEPS steps each: steps completed and events committed per second. */
async function stepsPerSecond(wf, generated, config) {
  const home = homeWith([], generated, config);
  const disk = await syncedCommits(home);
  const d = await daemonIn(home);
  try {
    if (config) {
      // the MCP server up before timing (servers start when first needed: a listing starts and
      // waits for them, as the chain's first run would have)
      await d.ctx.tools.list();
      const deadline = Date.now() + 60_000;
      while (!d.ctx.tools.servers().some((s) => s.name === 'fault' && s.state === 'ready')) {
        if (Date.now() > deadline) throw new Error(`fault MCP server not ready: ${JSON.stringify(d.ctx.tools.servers())}`);
        await sleep(20);
      }
    }
    const ended = new Set();
    let firstStep = 0;
    let steps = 0;
    const off = d.ctx.bus.subscribe('runs', undefined, (_e, data) => {
      if (!firstStep && data.type === 'step.started') firstStep = performance.now();
      if (data.type === 'step.succeeded') steps++;
      if (data.type === 'run.succeeded' || data.type === 'run.failed') ended.add(data.run_id);
    });
    const before = d.ctx.engine.figures.transitions;
    const batches = d.ctx.store.stats.batches;
    const t0 = performance.now();
    const started = await Promise.all(Array.from({ length: RUNS }, () => start(d, wf)));
    while (!started.every((r) => ended.has(r.id))) await sleep(5);
    off();
    const t1 = performance.now();
    const events = d.ctx.engine.figures.transitions - before;
    const failed = started.filter((r) => r.status !== 'succeeded').length;
    if (failed) throw new Error(`${failed} of ${RUNS} runs did not succeed`);
    return { steps, events, s: (t1 - t0) / 1000, fromFirst: (t1 - firstStep) / 1000, batches: d.ctx.store.stats.batches - batches, disk };
  } finally {
    await d.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

const diskBaseline = (disk) => ({ name: 'sequential one-op synced store commits per second, same disk', value: disk.perSecond, unit: '/s' });

async function stepsNoop() {
  const r = await stepsPerSecond('noop', { 'noop.yaml': stepsYaml('noop', '    tool: engine_test.noop\n') });
  const note = `${r.steps} steps (${RUNS} runs x ${STEPS}) in ${r.s.toFixed(2)} s incl. worker start; ${r.batches} fsynced batches (${(r.steps / r.batches).toFixed(1)} steps per fsync)`;
  return [
    { id: 'steps_per_s_noop', name: `steps completed per second, in-worker no-op step (${RUNS} runs x ${STEPS} steps)`, value: r.steps / r.s, unit: 'steps/s', baseline: diskBaseline(r.disk), note },
    { id: 'synced_commit_p50_ms', name: 'one synced one-op store commit (LevelDB batch, sync) on this disk, p50, same run', value: r.disk.p50, unit: 'ms', note: `p99 ${r.disk.p99.toFixed(1)} ms; the store flushes one synced batch at a time, so steps/s <= commits/s x steps per batch` },
    { id: 'events_per_s', name: 'durable run events per second in the same window (2 per step + run events)', value: r.events / r.s, unit: 'events/s', note: `${r.events} events; formerly "durable step transitions/s"` },
    { id: 'steps_per_s_noop_from_first_step', name: 'steps/s, no-op step, from the first step started (worker start excluded)', value: r.steps / r.fromFirst, unit: 'steps/s' },
  ];
}

async function stepsMcp() {
  const server = join(ROOT, 'test', 'support', 'mcp-fault-server.mjs');
  const config = `notify: { desktop: off }\nmcpServers:\n  fault:\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(server)}]\n`;
  const r = await stepsPerSecond('mcp', { 'mcp.yaml': stepsYaml('mcp', '    tool: fault.echo\n    with: { text: "x" }\n') }, config);
  return [
    { id: 'steps_per_s_mcp', name: `steps completed per second, no-op MCP tool step through the pool (${RUNS} runs x ${STEPS} steps)`, value: r.steps / r.s, unit: 'steps/s', baseline: diskBaseline(r.disk), note: `${r.steps} steps in ${r.s.toFixed(2)} s incl. worker start; ${r.batches} fsynced batches (${(r.steps / r.batches).toFixed(1)} steps per fsync); one stdio server answers all calls` },
    { id: 'events_per_s_mcp', name: 'durable run events per second, MCP tool step run', value: r.events / r.s, unit: 'events/s' },
  ];
}

/** Wall time of one child process, without blocking this process (the daemon under test lives here). */
function childMs(args, env) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const c = spawn(process.execPath, args, { env, stdio: 'ignore' });
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`node ${args.join(' ')} exited ${code}`))));
  });
}

/**
 * `opstream status` (a cold CLI process, whole wall time) against `node -e 0` while the daemon runs
 * the no-op chain (40 concurrent runs started over its socket and topped up so the load lasts), 15
 * each, interleaved. The daemon is its own process, started by `opstream daemon start`, as users run it.
 */
async function statusUnderLoad() {
  const home = homeWith([], { 'noop.yaml': stepsYaml('noop', '    tool: engine_test.noop\n') });
  const env = { ...process.env, OPSTREAM_HOME: home, OPSTREAM_ENGINE_FAULTS: '1' };
  const r = spawnSync(process.execPath, [BIN, 'daemon', 'start'], { env, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`opstream daemon start exited ${r.status}: ${r.stderr}`);
  const { DaemonClient } = await import('../dist/client/client.js');
  const client = await DaemonClient.connect({ env, client: 'bench' });
  let running = true;
  let runs = 0;
  const chain = async () => {
    while (running) {
      const run = await client.request('runs.start', { workflow: 'noop', args: [] });
      runs++;
      // the run's end, from its own status (polled: this client is the load's only driver)
      for (;;) {
        const st = await client.request('runs.get', { id: run.id });
        if (!running || ['succeeded', 'failed', 'cancelled'].includes(st.status)) break;
        await sleep(200);
      }
    }
  };
  try {
    const chains = Array.from({ length: RUNS }, () => chain());
    await sleep(1000);
    const node = [];
    const status = [];
    const cold = coldStartEnv(env);
    for (let i = 0; i < 15; i++) {
      node.push(await childMs(['-e', '0'], cold));
      status.push(await childMs([BIN, 'status'], cold));
    }
    running = false;
    await Promise.allSettled(chains);
    const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    return [
      { id: 'cli_status_vs_node_ratio_under_load', name: '`opstream status` cold / `node -e 0` (medians of 15) while the daemon runs the no-op chain', value: med(status) / med(node), unit: 'x', baseline: { name: 'node -e 0 median, same window', value: med(node), unit: 'ms' }, note: `status ${med(status).toFixed(0)} ms; ${RUNS} chains of ${STEPS}-step runs kept going (${runs} runs started); daemon niceness ${process.env.OPSTREAM_DAEMON_NICE ?? 0} (OPSTREAM_DAEMON_NICE); both without NODE_EXTRA_CA_CERTS` },
    ];
  } finally {
    running = false;
    client.close();
    await stopChildDaemon(home, env);
    rmSync(home, { recursive: true, force: true });
  }
}

/** Runs one real run of `wf` until `pred`, stops the daemon, clones its stored state N times. */
async function cloneRuns(home, wf, until, mutate) {
  const d = await daemonIn(home);
  let hit;
  const reached = new Promise((resolve) => (hit = resolve));
  const off = d.ctx.bus.subscribe('runs', undefined, (_e, data) => until(data) && hit());
  const run = await start(d, wf);
  await reached;
  off();
  // the tools service's stop hangs while an MCP server is still starting (not ours): let it settle
  while (d.ctx.tools.servers().some((s) => s.state === 'starting')) await new Promise((r) => setTimeout(r, 20));
  debug('template run reached; stopping daemon');
  await d.stop();
  debug('cloning', N);
  const { Store } = await import('../dist/daemon/store/store.js');
  const stepRows = await stepRowsApi();
  const { StepRows, headerOf } = stepRows;
  const store = await Store.open(join(home, 'data', 'db'));
  // a run is a header plus one row per step (see src/daemon/engine/step-rows.ts, repos/runs.ts)
  const { run: rec } = new StepRows().load(await store.get('runs', run.id), await stepRows.read(store, run.id), false);
  const timers = (await store.entries('timers')).filter(([k]) => k.startsWith(`${run.id}:`));
  mutate?.(rec);
  const header = headerOf(rec);
  const steps = Object.entries(rec.steps);
  const index = await runIndexOps();
  let ops = [];
  for (let i = 0; i < N; i++) {
    const id = `r_b${i.toString(36).padStart(7, '0')}`;
    ops.push({ type: 'put', sub: 'runs', key: id, value: { ...header, id } });
    ops.push(...index.created({ ...header, id }));
    steps.forEach(([path, state], n) => ops.push(stepRows.putOp(id, n, { path, state })));
    for (const [k, t] of timers) ops.push({ type: 'put', sub: 'timers', key: k.replace(run.id, id), value: { ...t, run_id: id } });
    if (ops.length >= 2000) {
      await store.commit(ops);
      ops = [];
    }
  }
  if (ops.length) await store.commit(ops);
  await store.close();
  debug('cloned');
}

/** RSS (MB) and CPU ticks (user+system) of a process, from /proc. */
function procFigures(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssMb: rssKb / 1024, ticks: Number(f[11]) + Number(f[12]) };
}

async function waiting() {
  const home = homeWith(['engine-waiter.yaml']);
  const env = { ...process.env, OPSTREAM_HOME: home, OPSTREAM_ENGINE_FAULTS: '1' };
  try {
    await cloneRuns(home, 'waiter', (e) => e.type === 'step.waiting');
    // the daemon as users run it (`opstream daemon start`: its own process), measured from outside,
    // so the figure is the daemon's alone (not this harness's, which made the runs)
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [BIN, 'daemon', 'start'], { env, encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`opstream daemon start exited ${r.status}: ${r.stderr}`);
    const startMs = performance.now() - t0;
    const pid = daemonPidOf(home);
    if (pid === null) throw new Error('the daemon wrote no pid file');
    try {
      const st = spawnSync(process.execPath, [BIN, 'daemon', 'status', '--json'], { env, encoding: 'utf8', timeout: 60_000 });
      const engine = JSON.parse(st.stdout).engine ?? {};
      await sleep(1000);
      const a = procFigures(pid);
      const w0 = performance.now();
      await sleep(5000);
      const b = procFigures(pid);
      const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
      const idle = (((b.ticks - a.ticks) / hz) * 1000 / (performance.now() - w0)) * 100;
      const runs = engine.active ?? engine.runs ?? N;
      return [
        { id: 'waiting_runs_rss_mb', name: `daemon RSS with ${runs} runs waiting on approvals (a 2 h timeout timer each)`, value: b.rssMb, unit: 'MB', note: `the daemon process started by \`opstream daemon start\` (VmRSS from /proc), 6 s after its start returned; started in ${startMs.toFixed(0)} ms incl. the CLI` },
        { id: 'waiting_runs_idle_cpu_pct', name: `${runs} waiting runs: daemon CPU over 5 s`, value: idle, unit: '% of a core', note: `/proc/<pid>/stat utime+stime at ${hz} ticks/s` },
        { id: 'waiting_runs_daemon_start_ms', name: `\`opstream daemon start\` with ${N} waiting runs, until it returned (the daemon serving)`, value: startMs, unit: 'ms' },
      ];
    } finally {
      await stopChildDaemon(home, env);
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

async function recovery() {
  const home = homeWith(['engine-inflight.yaml']);
  try {
    // the run's first step in flight, as a kill -9 leaves it
    await cloneRuns(home, 'inflight', (e) => e.type === 'run.started', (rec) => {
      rec.status = 'running';
      rec.current_step = 'first';
      rec.steps = { first: { status: 'running', attempts: 1, started_at: rec.started_at, ended_at: null, output: null, error: null } };
    });
    const t0 = performance.now();
    const d = await daemonIn(home);
    const serving = performance.now() - t0;
    const elu0 = performance.eventLoopUtilization();
    debug('daemon serving', serving);
    try {
      const eng = d.ctx.engine;
      // every recovered run must get a new activation and finish; bounded so the bench always ends
      const maxMs = size('ENGINE_BENCH_DRAIN_MAX_S', 150, 90) * 1000;
      let allStarted = null;
      let done = 0;
      let failed = 0;
      let firstError = null;
      const poll = setInterval(() => {
        if (allStarted === null && eng.figures.activations >= N) allStarted = performance.now() - t0;
      }, 20);
      await new Promise((resolve) => {
        const off = d.ctx.bus.subscribe('runs', undefined, (_e, data) => {
          if (data.type === 'run.failed') {
            failed++;
            firstError ??= String(data.error);
          }
          if ((data.type === 'run.succeeded' && ++done + failed >= N) || (data.type === 'run.failed' && done + failed >= N)) {
            off();
            resolve();
          }
        });
        setTimeout(() => {
          off();
          resolve();
        }, maxMs);
      });
      clearInterval(poll);
      const finished = performance.now() - t0;
      // with reused workers the last activations start moments before the drain ends, maybe between two polls
      if (allStarted === null && eng.figures.activations >= N) allStarted = finished;
      debug('finished', done, finished);
      const recRate = (done + failed) / (finished / 1000);
      const startedBy = eng.figures.activations;
      const elu = performance.eventLoopUtilization(elu0);
      const rows = [
        { id: 'recovery_10k_s', name: `recovery after kill -9 with ${eng.figures.recovered} runs in flight: until every run's new activation started`, value: (allStarted ?? finished) / 1000, unit: 's', note: `${allStarted === null ? `LOWER BOUND: only ${startedBy} of ${N} activations started within ${maxMs / 1000} s (at that rate all would take ~${((N / startedBy) * (finished / 1000)).toFixed(0)} s); ` : ''}serving after ${(serving / 1000).toFixed(2)} s (engine recover() ${eng.figures.recoveredAt} ms); at most ${process.env.OPSTREAM_MAX_ACTIVATIONS ?? 256} activations at once, sharing worker threads (${eng.workerFigures?.started ?? '?'} threads started for ${startedBy} activations)` },
        { id: 'recovery_main_thread_ms_per_activation', name: 'main-thread busy time per recovered run while draining (worker start, its commits, its end)', value: elu.active / Math.max(1, startedBy), unit: 'ms', note: `main thread ${(elu.utilization * 100).toFixed(0)}% busy over the drain; ${startedBy} activations started` },
        { id: 'recovery_serving_s', name: `recovery with ${eng.figures.recovered} runs in flight: until all re-admitted, activations queued and the daemon serving`, value: serving / 1000, unit: 's' },
        { id: 'recovery_drain_runs_per_s', name: 'recovered runs finished per second while draining', value: recRate, unit: 'runs/s', note: `${done} of ${N} succeeded, ${failed} failed${firstError ? ` (${firstError})` : ''} after ${(finished / 1000).toFixed(1)} s${done + failed < N ? ' (stopped at the bound)' : ''}` },
      ];
      // a run that failed is a finding; one still draining at the bound is only slow (the figure says so)
      if (failed > 0) rows.push({ id: 'recovery_runs_failed', name: 'recovered runs that failed', value: failed, unit: 'runs', failed: true, error: `${failed} of ${N} recovered runs failed: ${firstError}` });
      return rows;
    } finally {
      await d.stop();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** Daemon start with FINISHED finished runs (restart: the stats backfill done by a first start). */
async function restartFinished() {
  const home = homeWith([], { 'done.yaml': 'id: done\nnotifications: []\nsteps:\n  - id: a\n    tool: engine_test.noop\n  - id: b\n    tool: engine_test.noop\n' });
  const empty = homeWith([]);
  try {
    // baseline: the same start (second start in this process) with an empty store
    await (await daemonIn(empty)).stop();
    let t = performance.now();
    await (await daemonIn(empty)).stop();
    const emptyMs = performance.now() - t;
    // one real finished run: its header, step rows and events are the template
    const d = await daemonIn(home);
    let done;
    const finished = new Promise((r) => (done = r));
    const off = d.ctx.bus.subscribe('runs', undefined, (_e, data) => (data.type === 'run.succeeded' || data.type === 'run.failed') && done());
    const run = await start(d, 'done');
    await finished;
    off();
    await d.stop();
    const { Store } = await import('../dist/daemon/store/store.js');
    const stepRows = await stepRowsApi();
    const store = await Store.open(join(home, 'data', 'db'));
    const header = await store.get('runs', run.id);
    if (header.status !== 'succeeded') throw new Error(`template run ${header.status}`);
    const rows = await stepRows.read(store, run.id);
    const events = (await store.entries('events')).filter(([k]) => k.startsWith(`${run.id}:`));
    debug('writing', FINISHED, 'finished runs', rows.length, 'rows', events.length, 'events each');
    let ops = [];
    const now = Date.now();
    for (let i = 0; i < FINISHED; i++) {
      const id = `r_f${i.toString(36).padStart(7, '0')}`;
      const at = new Date(now - (FINISHED - i) * 20_000).toISOString();
      ops.push({ type: 'put', sub: 'runs', key: id, value: { ...header, id, created_at: at, started_at: at, ended_at: at } });
      for (const [k, v] of rows) ops.push({ type: 'put', sub: 'runs', key: k.replace(run.id, id), value: v });
      for (const [k, v] of events) ops.push({ type: 'put', sub: 'events', key: k.replace(run.id, id), value: { ...v, run_id: id } });
      if (ops.length >= 5000) {
        await store.commit(ops);
        ops = [];
      }
    }
    if (ops.length) await store.commit(ops);
    // these runs were written without the run index (src/daemon/repos/runs.ts): the first start
    // indexes them, as it does a store from before the index (not timed below)
    const index = await runIndexOps();
    await store.commit([{ type: 'del', sub: 'meta', key: index.mark }]);
    await store.close();
    debug('written');
    // first start: one-time stats backfill over the runs it has never seen
    t = performance.now();
    await (await daemonIn(home)).stop();
    const firstMs = performance.now() - t;
    t = performance.now();
    const d2 = await daemonIn(home);
    const restartMs = performance.now() - t;
    const counted = d2.ctx.engine.runCounts().succeeded;
    await d2.stop();
    return [
      { id: 'restart_with_100k_finished_s', name: `daemon restart with ${FINISHED.toLocaleString('en')} finished runs in the store, until serving`, value: restartMs / 1000, unit: 's', baseline: { name: 'the same start with an empty store', value: emptyMs / 1000, unit: 's' }, note: `${rows.length} step rows and ${events.length} events per run; the engine counted ${counted} succeeded runs at start; in-process start (modules already loaded)` },
      { id: 'first_start_with_100k_finished_s', name: `first daemon start over ${FINISHED.toLocaleString('en')} finished runs (incl. one-time stats backfill)`, value: firstMs / 1000, unit: 's' },
    ];
  } finally {
    rmSync(home, { recursive: true, force: true });
    rmSync(empty, { recursive: true, force: true });
  }
}

const parts = { stepsNoop, stepsMcp, statusUnderLoad, waiting, recovery, restartFinished };

export async function run() {
  if (process.env.BENCH_PART) return parts[process.env.BENCH_PART]();
  return runPartsInChildren(import.meta.url, Object.keys(parts));
}
