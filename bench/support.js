// Shared helpers for benchmarks: a temp OPSTREAM_HOME with a real daemon, percentiles, timing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'run.js');

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

export function benchHome() {
  const home = mkdtempSync(join(tmpdir(), 'opsb-'));
  const env = { ...process.env, OPSTREAM_HOME: home };
  delete env.NODE_ENV;
  return {
    home,
    env,
    cleanup() {
      spawnSync(process.execPath, [BIN, 'daemon', 'stop'], { env, stdio: 'ignore' });
      rmSync(home, { recursive: true, force: true });
    },
  };
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

/**
 * Runs each named part of a bench module in its own child process (an in-process daemon cannot be
 * started twice in one process) and collects their rows. The module runs `parts[name]()` when
 * `BENCH_PART=name` is set: see `partMain`.
 */
export async function runPartsInChildren(moduleUrl, names) {
  const { spawnSync } = await import('node:child_process');
  const rows = [];
  for (const part of names) {
    const r = spawnSync(process.execPath, ['-e', `import(${JSON.stringify(moduleUrl)}).then(async (m) => { const rows = await m.run(); process.stdout.write('\\n@@ROWS@@' + JSON.stringify(rows)); process.exit(0); })`], { env: { ...process.env, BENCH_PART: part }, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`bench part ${part} failed: ${r.stderr}`);
    rows.push(...JSON.parse(r.stdout.slice(r.stdout.lastIndexOf('@@ROWS@@') + 8)));
  }
  return rows;
}
