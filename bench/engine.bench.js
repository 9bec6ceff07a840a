// Engine benchmarks, against the compiled daemon started in-process (real store, real Bree workers).
//  1. durable step transitions/s: 40 concurrent runs of 500 no-op steps each. The no-op is the
//     engine's in-worker `engine_test.noop` step (no tool call): each step is two durable
//     transitions (started, succeeded), committed as events + the changed step rows + the run
//     header in one fsynced batch (a step's result rides with the next step's start).
//  2. N runs waiting on approvals (with a 2h timeout timer each): daemon RSS and idle CPU.
//  3. recovery after kill -9 with N runs in flight: time until the daemon serves again with every
//     run re-admitted (records loaded, recovery events committed, activations queued), until every
//     run's new activation started, and until all finished.
// N = ENGINE_BENCH_RUNS (default 10,000); ENGINE_BENCH_DRAIN_MAX_S bounds part 3's wait (default
// 600 s); ENGINE_BENCH_DEBUG=1 prints progress on stderr. Each part runs in its own process.
// The N-run states are made by cloning a real run's stored header and step rows while the daemon is
// down (starting N runs one by one would measure worker start-up, not waiting or recovery).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const N = Number(process.env.ENGINE_BENCH_RUNS ?? 10_000);
const debug = (...a) => process.env.ENGINE_BENCH_DEBUG && process.stderr.write(`[engine.bench ${(performance.now() / 1000).toFixed(1)}s] ${a.join(' ')}\n`);

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

function homeWith(files) {
  const home = mkdtempSync(join(tmpdir(), 'opb-'));
  mkdirSync(join(home, 'workflows'));
  for (const f of files) copyFileSync(join(here, 'fixtures', f), join(home, 'workflows', f));
  return home;
}

async function start(d, wf) {
  const loaded = d.ctx.workflows.current().workflows.get(wf);
  return d.ctx.engine.startRun({ workflow: loaded, params: {}, trigger: 'bench', actor: 'bench' });
}

async function transitions() {
  const home = homeWith(['engine-noop500.yaml']);
  const d = await daemonIn(home);
  try {
    const runs = 40;
    const ended = new Set();
    let firstStep = 0;
    const off = d.ctx.bus.subscribe('runs', undefined, (_e, data) => {
      if (!firstStep && data.type === 'step.started') firstStep = performance.now();
      if (data.type === 'run.succeeded' || data.type === 'run.failed') ended.add(data.run_id);
    });
    const before = d.ctx.engine.figures.transitions;
    const batches = d.ctx.store.stats.batches;
    const t0 = performance.now();
    const started = await Promise.all(Array.from({ length: runs }, () => start(d, 'noop500')));
    while (!started.every((r) => ended.has(r.id))) await new Promise((r) => setTimeout(r, 5));
    off();
    const t1 = performance.now();
    const n = d.ctx.engine.figures.transitions - before;
    const failed = started.filter((r) => r.status !== 'succeeded').length;
    return [
      { name: 'durable step transitions/s, no-op step (40 runs x 500 steps), whole window', value: n / ((t1 - t0) / 1000), unit: '/s', goal: '>= 5000/s', note: `${n} transitions in ${((t1 - t0) / 1000).toFixed(2)} s incl. worker start; ${d.ctx.store.stats.batches - batches} fsynced batches; ${failed} runs not succeeded` },
      { name: 'durable step transitions/s, from the first step started', value: n / ((t1 - firstStep) / 1000), unit: '/s', goal: '>= 5000/s', note: 'no-op = in-worker engine_test.noop step (no tool call)' },
    ];
  } finally {
    await d.stop();
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
  const { StepRows, stepRange, stepRowKey, headerOf } = await import('../dist/daemon/engine/step-rows.js');
  const store = await Store.open(join(home, 'data', 'db'));
  // a run is a header plus one row per step (see src/daemon/engine/step-rows.ts)
  const { run: rec } = new StepRows().load(await store.get('runs', run.id), await store.entries('runs', stepRange(run.id)), false);
  const timers = (await store.entries('timers')).filter(([k]) => k.startsWith(`${run.id}:`));
  mutate?.(rec);
  const header = headerOf(rec);
  const steps = Object.entries(rec.steps);
  let ops = [];
  for (let i = 0; i < N; i++) {
    const id = `r_b${i.toString(36).padStart(7, '0')}`;
    ops.push({ type: 'put', sub: 'runs', key: id, value: { ...header, id } });
    steps.forEach(([path, state], n) => ops.push({ type: 'put', sub: 'runs', key: stepRowKey(id, n), value: { path, state } }));
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

async function waiting() {
  const home = homeWith(['engine-waiter.yaml']);
  try {
    await cloneRuns(home, 'waiter', (e) => e.type === 'step.waiting');
    const t0 = performance.now();
    const d = await daemonIn(home);
    const startMs = performance.now() - t0;
    debug('daemon started', startMs);
    try {
      const fig = d.ctx.engine.activationFigures;
      await new Promise((r) => setTimeout(r, 1000));
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      await new Promise((r) => setTimeout(r, 5000));
      const cpu = process.cpuUsage(c0);
      const idle = ((cpu.user + cpu.system) / 1000 / (performance.now() - w0)) * 100;
      const rss = process.memoryUsage().rss / 1024 / 1024;
      return [
        { name: `${fig.runs} runs waiting on approvals (${fig.timers} timers armed): daemon RSS`, value: rss, unit: 'MB', goal: '< 250 MB', note: `in-process daemon (includes the bench harness); started in ${startMs.toFixed(0)} ms` },
        { name: `${fig.runs} waiting runs: idle CPU over 5 s`, value: idle, unit: '% of a core', goal: '~0' },
      ];
    } finally {
      await d.stop();
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
    debug('daemon serving', serving);
    try {
      const eng = d.ctx.engine;
      // every recovered run must get a new activation and finish; bounded so the bench always ends
      const maxMs = Number(process.env.ENGINE_BENCH_DRAIN_MAX_S ?? 600) * 1000;
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
      debug('finished', done, finished);
      return [
        { name: `recovery after kill -9 with ${eng.figures.recovered} runs in flight: until all re-admitted, activations scheduled and serving`, value: serving, unit: 'ms', goal: '< 3000 ms', note: `engine recover() ${eng.figures.recoveredAt} ms` },
        { name: `recovery: until every recovered run's new activation started`, value: allStarted ?? NaN, unit: 'ms', note: allStarted === null ? `not all within ${maxMs / 1000} s` : `at most ${process.env.OPSTREAM_MAX_ACTIVATIONS ?? 32} activations (worker threads) at once` },
        { name: `recovery: until all ${N} recovered runs finished`, value: finished, unit: 'ms', note: `${done} of ${N} succeeded, ${failed} failed${firstError ? ` (${firstError})` : ''} (${((done + failed) / (finished / 1000)).toFixed(0)} runs/s; one new worker thread per activation)` },
      ];
    } finally {
      await d.stop();
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

// Each part runs in its own process: a clean heap for the RSS figure, and no daemon state (loggers,
// Bree) carried from one in-process daemon to the next.
const parts = { transitions, waiting, recovery };
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await parts[process.argv[2]]();
  process.stdout.write(JSON.stringify(rows));
  process.exit(0);
}

export async function run() {
  const rows = [];
  for (const part of Object.keys(parts)) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), part], { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
    rows.push(...JSON.parse(out));
  }
  return rows;
}
