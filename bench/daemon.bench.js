// Issue 2 figures: client round trip vs a raw NDJSON echo floor, `opstream status` cold vs
// `node -e 0`, a durable write acknowledged at the socket, and `runs.start` acknowledged at the
// socket (start_ack_*: one client, one start at a time; each run then waits on a 2 h timer, so the
// daemon also starts a worker per run meanwhile, as it would).
// Sizes: DAEMON_BENCH_N round trips (5,000; quick 1,000), DAEMON_BENCH_STARTS (1,000; quick 200).
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { DaemonClient } from '../dist/client/client.js';
import { BIN, ROOT, benchHome, coldStartEnv, percentile, sample, size, wallMs } from './support.js';

const N = size('DAEMON_BENCH_N', 5000, 1000);
const STARTS = size('DAEMON_BENCH_STARTS', 1000, 200);

/** An echo server in this process (the strictest floor) or in a child process (like the daemon). */
async function startEcho(path, where) {
  if (where === 'child') {
    const child = spawn(process.execPath, [join(ROOT, 'bench', 'echo-server.js'), path], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => child.stdout.once('data', r));
    return () => child.kill('SIGTERM');
  }
  const server = createServer((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const msg = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        s.write(`${JSON.stringify({ id: msg.id, result: { t: Date.now() } })}\n`);
      }
    });
  });
  await new Promise((r) => server.listen(path, r));
  return () => server.close();
}

/** Round trips of a raw NDJSON client against an echo server. */
async function rawEcho(path, where) {
  const stop = await startEcho(path, where);
  const sock = connect(path);
  await new Promise((r) => sock.once('connect', r));
  let buf = '';
  const waiting = new Map();
  sock.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const msg = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      waiting.get(msg.id)?.(msg);
      waiting.delete(msg.id);
    }
  });
  let id = 0;
  const call = () => new Promise((resolve) => {
    const k = `c${++id}`;
    waiting.set(k, resolve);
    sock.write(`${JSON.stringify({ id: k, method: 'ping', params: {} })}\n`);
  });
  const times = await sample(N, call);
  sock.destroy();
  stop();
  return times;
}

export async function run() {
  const b = benchHome();
  mkdirSync(join(b.home, 'workflows'));
  writeFileSync(join(b.home, 'workflows', 'napper.yaml'), 'id: napper\nnotifications: []\nsteps:\n  - id: nap\n    wait: 2h\n');
  // the same run, but queued behind a first one (concurrency 1): its start starts no worker
  writeFileSync(join(b.home, 'workflows', 'queued.yaml'), 'id: queued\nconcurrency: 1\nnotifications: []\nsteps:\n  - id: nap\n    wait: 2h\n');
  try {
    const client = await DaemonClient.connect({ env: b.env, client: 'bench' });
    // steady state: the daemon spawns its MCP servers in the background at start; let that finish
    await client.request('tools.list', {});
    const inProc = await rawEcho(join(b.home, 'echo1.sock'), 'in-process');
    const floor = await rawEcho(join(b.home, 'echo2.sock'), 'child');
    const rt = await sample(N, () => client.request('ping', {}));
    const writes = await sample(2000, (i) => client.request('memory.set', { key: `bench/${i % 100}`, value: { i } }));
    client.close();

    const runs = 15;
    const cold = coldStartEnv(b.env);
    const nodeBare = wallMs(process.execPath, ['-e', '0'], cold, runs);
    const status = wallMs(process.execPath, [BIN, 'status'], cold, runs);
    // and as this environment starts processes, when it names a CA file
    const withCa = b.env.NODE_EXTRA_CA_CERTS ? { node: wallMs(process.execPath, ['-e', '0'], b.env, runs), status: wallMs(process.execPath, [BIN, 'status'], b.env, runs) } : null;
    // last: each napper start leaves a worker starting in the daemon for a while
    const starter = await DaemonClient.connect({ env: b.env, client: 'bench' });
    const queued = await sample(STARTS, () => starter.request('runs.start', { workflow: 'queued', args: [] }), 20);
    const starts = await sample(STARTS, () => starter.request('runs.start', { workflow: 'napper', args: [] }), 20);
    starter.close();
    const med = (a) => percentile(a, 50);
    const ms = (a, p) => percentile(a, p) / 1000;
    const rows = [
      { id: 'start_ack_p50_ms', name: `runs.start acknowledged at the socket, p50 (${STARTS} starts, one client)`, value: ms(starts, 50), unit: 'ms', baseline: { name: 'ping round trip p50', value: ms(rt, 50), unit: 'ms' }, note: 'each run is created and started in one fsynced commit, then waits on a 2 h timer (its worker runs meanwhile)' },
      { id: 'start_ack_p99_ms', name: 'runs.start acknowledged at the socket, p99', value: ms(starts, 99), unit: 'ms', baseline: { name: 'ping round trip p99', value: ms(rt, 99), unit: 'ms' } },
      { id: 'start_ack_queued_p50_ms', name: 'runs.start of a run that is queued (no worker started), p50', value: ms(queued, 50), unit: 'ms', note: `p99 ${ms(queued, 99).toFixed(2)} ms; measured before start_ack_*: the difference is the main thread's share of handing the run to a worker (and starting one when none is idle)` },
      { id: 'cli_status_vs_node_ratio', name: '`opstream status` cold / `node -e 0` (medians of 15)', value: med(status) / med(nodeBare), unit: 'x', baseline: { name: 'node -e 0 median', value: med(nodeBare), unit: 'ms' }, note: `status ${med(status).toFixed(0)} ms; both without NODE_EXTRA_CA_CERTS${withCa ? ` (with it, as set here: status ${med(withCa.status).toFixed(0)} ms / node ${med(withCa.node).toFixed(0)} ms = ${(med(withCa.status) / med(withCa.node)).toFixed(2)})` : ''}` },
      { id: 'socket_echo_same_process_p50_us', name: 'raw NDJSON echo, same process, p50', value: percentile(inProc, 50), unit: 'us', note: 'no process switch at all' },
      { id: 'socket_echo_same_process_p99_us', name: 'raw NDJSON echo, same process, p99', value: percentile(inProc, 99), unit: 'us' },
      { id: 'socket_echo_child_p50_us', name: 'raw NDJSON echo, echo in a child process, p50 (floor)', value: percentile(floor, 50), unit: 'us' },
      { id: 'socket_echo_child_p99_us', name: 'raw NDJSON echo, echo in a child process, p99 (floor)', value: percentile(floor, 99), unit: 'us' },
      { id: 'ping_rtt_p50_vs_floor_ratio', name: 'daemon client round trip (ping) p50 / raw echo floor p50', value: percentile(rt, 50) / percentile(floor, 50), unit: 'x', goal: { op: '<=', value: 2 }, baseline: { name: 'raw echo in a child process p50', value: percentile(floor, 50), unit: 'us' }, note: `ping p50 ${percentile(rt, 50).toFixed(0)} us; ${(percentile(rt, 50) / percentile(inProc, 50)).toFixed(2)}x same-process` },
      { id: 'ping_rtt_p99_vs_floor_ratio', name: 'daemon client round trip (ping) p99 / raw echo floor p99', value: percentile(rt, 99) / percentile(floor, 99), unit: 'x', goal: { op: '<=', value: 2 }, baseline: { name: 'raw echo in a child process p99', value: percentile(floor, 99), unit: 'us' }, note: `ping p99 ${percentile(rt, 99).toFixed(0)} us; ${(percentile(rt, 99) / percentile(inProc, 99)).toFixed(2)}x same-process` },
      { id: 'durable_write_ack_p50_ms', name: 'durable write (memory.set) ack at socket p50', value: percentile(writes, 50) / 1000, unit: 'ms', goal: { op: '<', value: 1 } },
      { id: 'durable_write_ack_p99_ms', name: 'durable write (memory.set) ack at socket p99', value: percentile(writes, 99) / 1000, unit: 'ms', goal: { op: '<', value: 5 } },
    ];
    return rows;
  } finally {
    await b.cleanup();
  }
}
