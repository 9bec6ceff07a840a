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
