// Issue 2 figures: client round trip vs a raw NDJSON echo floor, `opstream status` cold vs
// `node -e 0`, and a durable write acknowledged at the socket.
import { spawn } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { DaemonClient } from '../dist/client/client.js';
import { BIN, ROOT, benchHome, percentile, sample, wallMs } from './support.js';

const N = 5000;

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
    const nodeBare = wallMs(process.execPath, ['-e', '0'], b.env, runs);
    const status = wallMs(process.execPath, [BIN, 'status'], b.env, runs);
    const med = (a) => percentile(a, 50);
    const rows = [
      { name: 'raw NDJSON echo, same process, p50', value: percentile(inProc, 50), unit: 'us', note: 'no process switch at all' },
      { name: 'raw NDJSON echo, same process, p99', value: percentile(inProc, 99), unit: 'us' },
      { name: 'raw NDJSON echo, echo in a child process, p50 (floor)', value: percentile(floor, 50), unit: 'us' },
      { name: 'raw NDJSON echo, echo in a child process, p99 (floor)', value: percentile(floor, 99), unit: 'us' },
      { name: 'daemon client round trip (ping) p50', value: percentile(rt, 50), unit: 'us', goal: '<= 2x floor', note: `${(percentile(rt, 50) / percentile(floor, 50)).toFixed(2)}x floor, ${(percentile(rt, 50) / percentile(inProc, 50)).toFixed(2)}x same-process` },
      { name: 'daemon client round trip (ping) p99', value: percentile(rt, 99), unit: 'us', goal: '<= 2x floor', note: `${(percentile(rt, 99) / percentile(floor, 99)).toFixed(2)}x floor, ${(percentile(rt, 99) / percentile(inProc, 99)).toFixed(2)}x same-process` },
      { name: 'node -e 0 (median of 15)', value: med(nodeBare), unit: 'ms' },
      { name: 'opstream status cold (median of 15)', value: med(status), unit: 'ms', goal: '<= 2.0x node -e 0', note: `${(med(status) / med(nodeBare)).toFixed(2)}x` },
      { name: 'durable write ack at socket p50', value: percentile(writes, 50) / 1000, unit: 'ms', goal: '< 1 ms' },
      { name: 'durable write ack at socket p99', value: percentile(writes, 99) / 1000, unit: 'ms', goal: '< 5 ms' },
    ];
    return rows;
  } finally {
    b.cleanup();
  }
}
