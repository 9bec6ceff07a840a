// Issue 2 figures: client round trip vs a raw NDJSON echo floor, `opstream status` cold vs
// `node -e 0`, and a durable write acknowledged at the socket.
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { DaemonClient } from '../dist/client/client.js';
import { BIN, benchHome, percentile, sample, wallMs } from './support.js';

const N = 5000;

/** The floor: a raw NDJSON echo over a Unix socket, server and client in this process. */
async function rawEcho(path) {
  const server = createServer((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const msg = JSON.parse(line);
        s.write(`${JSON.stringify({ id: msg.id, result: { t: Date.now() } })}\n`);
      }
    });
  });
  await new Promise((r) => server.listen(path, r));
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
  server.close();
  return times;
}

export async function run() {
  const b = benchHome();
  try {
    const client = await DaemonClient.connect({ env: b.env, client: 'bench' });
    const floor = await rawEcho(join(b.home, 'echo.sock'));
    const rt = await sample(N, () => client.request('ping', {}));
    const writes = await sample(2000, (i) => client.request('memory.set', { key: `bench/${i % 100}`, value: { i } }));
    client.close();

    const runs = 15;
    const nodeBare = wallMs(process.execPath, ['-e', '0'], b.env, runs);
    const status = wallMs(process.execPath, [BIN, 'status'], b.env, runs);
    const med = (a) => percentile(a, 50);
    const rows = [
      { name: 'raw NDJSON echo round trip p50 (floor)', value: percentile(floor, 50), unit: 'us' },
      { name: 'raw NDJSON echo round trip p99 (floor)', value: percentile(floor, 99), unit: 'us' },
      { name: 'daemon client round trip p50', value: percentile(rt, 50), unit: 'us', goal: '<= 2x floor', note: `${(percentile(rt, 50) / percentile(floor, 50)).toFixed(2)}x floor` },
      { name: 'daemon client round trip p99', value: percentile(rt, 99), unit: 'us', goal: '<= 2x floor', note: `${(percentile(rt, 99) / percentile(floor, 99)).toFixed(2)}x floor` },
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
