// Shared helpers for benchmarks: a temp OPSTREAM_HOME with a real daemon, percentiles, timing,
// sizes (BENCH_QUICK), and running parts of a bench module in child processes.
//
// A bench module exports `async function run()` returning rows:
//   { id, name, value, unit, baseline?, goal?, note?, failed?, error? }
// `id` is the stable snake_case key in bench/results.json (see bench/run.js for the contract
// names); `name` says in words what is counted. `baseline` is { id?, name, value, unit }: the
// reference measured in the same run (e.g. `node -e 0` for the CLI). `goal` is { op, value, text? }
// with op one of < <= > >= == and `value` in the row's unit; the report marks the figure met or
// missed against it (never tuned away). `failed: true` marks a figure that could not be measured or
// whose check failed (lost runs): the report shows it and `npm run bench` exits non-zero.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'run.js');

/** BENCH_QUICK=1: small sizes for development runs (figures are then not comparable). */
export const QUICK = process.env.BENCH_QUICK === '1';

/** A size: the env override if set, else the quick or the full size. */
export function size(envName, full, quick) {
  const v = process.env[envName];
  if (v !== undefined && v !== '') return Number(v);
  return QUICK ? quick : full;
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** Times `fn` n times (after `warm` warm-up calls); returns sorted durations in microseconds. */
export async function sample(n, fn, warm = Math.min(200, n)) {
  for (let i = 0; i < warm; i++) await fn(i);
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    out[i] = Number(process.hrtime.bigint() - t) / 1000;
  }
  return out.sort((a, b) => a - b);
}

export function daemonPidOf(home) {
  try {
    const pid = Number(readFileSync(join(home, 'run', 'daemon.pid'), 'utf8').trim());
    return pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops the child daemon of `home` and waits until its process is gone, so that a home is never
 * removed under a running daemon (its logger would write into a deleted directory).
 */
export async function stopChildDaemon(home, env) {
  const pid = daemonPidOf(home);
  spawnSync(process.execPath, [BIN, 'daemon', 'stop'], { env, stdio: 'ignore', timeout: 60_000 });
  if (pid === null) return;
  const deadline = Date.now() + 30_000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (alive(pid)) {
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) await new Promise((r) => setTimeout(r, 20));
  }
}

export function benchHome() {
  const home = mkdtempSync(join(tmpdir(), 'opsb-'));
  const env = { ...process.env, OPSTREAM_HOME: home };
  delete env.NODE_ENV;
  return {
    home,
    env,
    async cleanup() {
      await stopChildDaemon(home, env);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/**
 * The env a cold start is timed in: without NODE_EXTRA_CA_CERTS. Every node process reads and
 * parses the CA file it names as it starts: with the system bundle (this machine sets it) that is
 * ~40 ms of CPU, more than `node -e 0` takes without it, so it made `status / node -e 0` look
 * better than the CLI is (1.80 with it, 3.19 without, in the same run of 2026-12-05).
 */
export function coldStartEnv(env) {
  const e = { ...env };
  delete e.NODE_EXTRA_CA_CERTS;
  return e;
}

/** Median wall time of a whole command over n runs, in ms. */
export function wallMs(cmd, args, env, n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return times.sort((a, b) => a - b);
}

/** Starts the compiled daemon in this process on `home` (one per process: its LevelDB lock). */
export async function inProcessDaemon(home, extraEnv = {}) {
  Object.assign(process.env, { OPSTREAM_HOME: home, ...extraEnv });
  const { startDaemon } = await import('../dist/daemon/main.js');
  const o = await startDaemon(process.env);
  if (o.kind !== 'started') throw new Error(`a daemon is already running in ${home}`);
  return o.daemon;
}

/** A row for a part that could not be measured: shown as failed in the report. */
export function failedRow(id, name, error) {
  // the message and the first frame of a stack, or the last lines of a child's output
  const lines = String(error).split('\n').map((l) => l.trim()).filter(Boolean);
  const text = lines[0]?.startsWith('Error') || lines[1]?.startsWith('at ') ? lines.slice(0, 2) : lines.slice(-3);
  return { id: id.replace(/\W+/g, '_'), name, value: null, unit: '', failed: true, error: text.join(' | ').slice(0, 400) };
}

const MARK = '@@ROWS@@';

// Children run in their own process group (so a timed-out one is killed with its daemon and
// workers); Ctrl-C on the bench must still end them, so this process passes it on.
const live = new Set();
let forwarding = false;
function forwardSignals() {
  if (forwarding) return;
  forwarding = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      for (const pid of live) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      process.exit(130);
    });
  }
}

/**
 * Runs a node script as a child process; resolves with the rows it printed after MARK on stdout.
 * Its stderr goes to ours. A child that exits non-zero, prints no rows or outlives `timeoutMs` is
 * one failed row (it never takes the whole report down). A timed-out child is killed with its
 * process group, so a part's in-process daemon and worker threads go with it.
 */
export function childRows(args, env, label, timeoutMs) {
  return new Promise((resolve) => {
    forwardSignals();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    live.add(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    // passed on as it comes (progress), the tail kept for the failed row
    child.stderr.on('data', (d) => {
      process.stderr.write(d);
      err = (err + d).slice(-2000);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child.pid);
      const at = out.lastIndexOf(MARK);
      if (at !== -1) {
        try {
          const rows = JSON.parse(out.slice(at + MARK.length));
          if (code === 0 || rows.some((r) => r.failed)) return resolve(rows);
        } catch {
          // fall through: reported as failed below
        }
      }
      const why = timedOut ? `timed out after ${Math.round(timeoutMs / 1000)} s` : `exited ${code ?? signal}`;
      const lines = err.split('\n').filter((l) => l.trim() && !/^\s*at /.test(l));
      const tail = lines.filter((l) => /\b\w*Error\b/.test(l)).slice(-1)[0] ?? lines.slice(-2).join(' | ');
      resolve([failedRow(`${label}_failed`, `${label}: the part did not finish`, `${why}: ${tail || out.slice(-300)}`)]);
    });
  });
}

/** For a child process: prints rows for `childRows` and exits (non-zero when a row failed). */
export function emitRows(rows) {
  process.stdout.write(`\n${MARK}${JSON.stringify(rows)}`);
  process.exit(rows.some((r) => r.failed) ? 2 : 0);
}

/**
 * Runs each named part of a bench module in its own child process (an in-process daemon cannot be
 * started twice in one process) and collects their rows; a failed part is a failed row and the
 * other parts still run. The module runs `parts[name]()` when `BENCH_PART=name` is set.
 */
export async function runPartsInChildren(moduleUrl, names) {
  const rows = [];
  const bench = fileURLToPath(moduleUrl).split('/').pop().replace('.bench.js', '');
  const timeoutMs = Number(process.env.BENCH_PART_TIMEOUT_S ?? 900) * 1000;
  for (const part of names) {
    process.stderr.write(`  ${bench}: ${part}...\n`);
    const t0 = performance.now();
    const code = `import(${JSON.stringify(moduleUrl)}).then(async (m) => { const { emitRows, failedRow } = await import(${JSON.stringify(new URL('./support.js', import.meta.url).href)}); let rows; try { rows = await m.run(); } catch (e) { rows = [failedRow(${JSON.stringify(`${bench}_${part}_failed`)}, ${JSON.stringify(`${bench}: ${part}`)}, e?.stack ?? e)]; } emitRows(rows); })`;
    rows.push(...(await childRows(['-e', code], { ...process.env, BENCH_PART: part }, `${bench}_${part}`, timeoutMs)));
    process.stderr.write(`  ${bench}: ${part} done in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  return rows;
}


/**
 * Index ops for a cloned run (src/daemon/repos/runs.ts): runs written straight into the store must
 * be indexed like the engine indexes them, or a daemon that reads only its active index would not
 * see them.
 */
export async function runIndexOps() {
  const repo = await import('../dist/daemon/repos/runs.js');
  return { created: repo.runOps.created, finished: repo.runOps.finished, mark: repo.INDEX_MARK };
}

/**
 * A run's step rows, read and written as the engine stores them (the runs repository), for benches
 * that clone runs straight into a store. `StepRows` and `headerOf` rebuild and strip a record.
 */
export async function stepRowsApi() {
  const rows = await import('../dist/daemon/engine/step-rows.js');
  const repo = await import('../dist/daemon/repos/runs.js');
  return {
    StepRows: rows.StepRows,
    headerOf: rows.headerOf,
    read: (store, id) => new repo.RunsRepo(store).stepRows(id),
    putOp: (id, n, row) => repo.runOps.stepRow(id, n, row),
  };
}

/** Runs parts one after the other in this process; a part that throws is one failed row. */
export async function runPartsHere(bench, parts) {
  const rows = [];
  for (const [name, fn] of Object.entries(parts)) {
    try {
      rows.push(...(await fn()));
    } catch (e) {
      rows.push(failedRow(`${bench}_${name}_failed`, `${bench}: ${name}`, e?.stack ?? e));
    }
  }
  return rows;
}

/** The workflows both chat benches (slack, discord) run: a waiter, a slow step, a busy loop, a gate. */
export const CHAT_BENCH_WORKFLOWS = {
  'waiter.yaml': 'id: waiter\nnotifications: []\nsteps:\n  - id: nap\n    wait: 2h\n',
  'slow.yaml': 'id: slow\nnotifications: [start]\nsteps:\n  - id: work\n    tool: engine_test.hang\n',
  'busy.yaml': 'id: busy\nnotifications: [start]\nsteps:\n  - id: loop\n    repeat: { every: 100ms, for: 1h }\n    steps:\n      - id: tick\n        tool: engine_test.noop\n',
  'gate.yaml': 'id: gate\nnotifications: [start]\nsteps:\n  - id: ask\n    approval: { prompt: "go?" }\n',
};

/**
 * A daemon started in this process on a temp home holding CHAT_BENCH_WORKFLOWS and `configLines`
 * (its chat section pointing at a loopback `lb`), once `ready(daemon)` resolves; `close()` stops
 * it, the loopback and removes the home.
 */
export async function chatBenchDaemon(prefix, configLines, lb, ready) {
  const home = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(home, 'workflows'));
  for (const [f, t] of Object.entries(CHAT_BENCH_WORKFLOWS)) writeFileSync(join(home, 'workflows', f), t);
  writeFileSync(join(home, 'config.yaml'), ['notify: { desktop: off }', ...configLines, ''].join('\n'));
  process.env.OPSTREAM_HOME = home;
  process.env.OPSTREAM_ENGINE_FAULTS = '1';
  const { startDaemon } = await import('../dist/daemon/main.js');
  const o = await startDaemon(process.env);
  if (o.kind !== 'started') throw new Error('a daemon already runs in the bench home');
  const d = o.daemon;
  await ready(d);
  return {
    lb,
    d,
    async close() {
      await d.stop();
      await lb.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
