// Load (issue 13, item 6): a daemon in its own process with LOAD_BENCH_WAITING runs waiting on
// timers (10,000; quick 1,000) and the Slack bridge connected to the loopback Slack
// (test/support/slack-loopback.ts, loaded through tsx); LOAD_BENCH_CLIENTS concurrent clients (20)
// start LOAD_BENCH_STARTS runs in all (1,000; quick 200) over real socket connections. Figures:
// start ack p50/p99 under that load, starts acknowledged, and runs lost (every acknowledged run and
// every waiting run must be in the store after the daemon stopped). Anything lost or not
// acknowledged fails the part (failed rows, non-zero exit). The scenario is bench/load-run.js.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from './load-run.js';
import { percentile, size } from './support.js';

const WAITING = size('LOAD_BENCH_WAITING', 10_000, 1_000);
const CLIENTS = size('LOAD_BENCH_CLIENTS', 20, 20);
const STARTS = size('LOAD_BENCH_STARTS', 1_000, 200);

export async function run() {
  const { tsImport } = await import('tsx/esm/api');
  const { startSlackLoopback } = await tsImport('../test/support/slack-loopback.ts', import.meta.url);
  const lb = await startSlackLoopback({ channels: [{ id: 'C0OPSALERTS', name: 'ops-alerts' }, { id: 'C0INCIDENTS', name: 'incidents' }] });
  const home = mkdtempSync(join(tmpdir(), 'opsb-ld-'));
  const env = { ...process.env, OPSTREAM_HOME: home };
  delete env.NODE_ENV;
  try {
    const r = await runLoad({ home, env, slack: lb, waiting: WAITING, clients: CLIENTS, starts: STARTS, log: (m) => process.stderr.write(`  load: ${m}\n`) });
    const lost = r.startedLost.length + r.waitingLost;
    const scene = `${r.waitingBefore} runs waiting, Slack bridge ${r.slackState}, ${CLIENTS} clients, ${r.attempted} starts in ${r.loadSeconds.toFixed(1)} s`;
    const problems = [...r.errors.slice(0, 3), ...(r.notWaiting.length ? [`${r.notWaiting.length} started runs not waiting: ${r.notWaiting.slice(0, 3).join(', ')}`] : [])].join('; ');
    return [
      { id: 'load_start_ack_p50_ms', name: `runs.start ack p50 under load (${scene})`, value: percentile(r.ackMs, 50), unit: 'ms', note: scene },
      { id: 'load_start_ack_p99_ms', name: 'runs.start ack p99 under load', value: percentile(r.ackMs, 99), unit: 'ms', note: `max ${r.ackMs.at(-1)?.toFixed(1)} ms` },
      { id: 'load_starts_acked', name: `starts acknowledged out of ${r.attempted}`, value: r.acked, unit: 'starts', goal: { op: '==', value: r.attempted }, failed: r.acked !== r.attempted || r.errors.length > 0, error: r.acked !== r.attempted || r.errors.length ? `${r.attempted - r.acked} not acknowledged; ${problems}` : undefined },
      { id: 'load_runs_lost', name: 'acknowledged or waiting runs missing from the store after the daemon stopped', value: lost, unit: 'runs', goal: { op: '==', value: 0 }, failed: lost > 0 || r.notWaiting.length > 0, error: lost > 0 || r.notWaiting.length ? `${r.startedLost.length} started runs missing (${r.startedLost.slice(0, 3).join(', ')}), ${r.waitingLost} of ${WAITING} waiting runs missing; ${problems}` : undefined, note: `${r.acked} started + ${WAITING} waiting runs checked in the store` },
    ];
  } finally {
    rmSync(home, { recursive: true, force: true });
    await lb.close();
  }
}
