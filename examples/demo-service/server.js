#!/usr/bin/env node
// A small, dependency-free backend to point OpStream at: an orders API with a search endpoint that
// fans out over a connection pool, a checkout that calls a "payments" dependency (a second HTTP
// server in this process), a background worker thread, and a log file with access and error lines.
//
// Faults are real mechanisms, switched on by `--fault a,b` or `POST /admin/faults`, and the admin
// remediation endpoints really remove their cause:
//   slow-endpoint       search's pool shrinks to 1 connection, so its 10 shard queries serialize
//                       -> POST /admin/pool {"size": 20}
//   dependency-timeout  the payments client timeout is set below the dependency's latency, so every
//                       checkout fails with 504 -> POST /admin/timeout {"ms": 2000}
//   cpu-saturation      the worker thread spins -> POST /admin/restart-worker
//   memory-growth       the worker's cache retains a few MB every second -> POST /admin/restart-worker
//
// Usage: node examples/demo-service/server.js [--port 8080] [--host 127.0.0.1] [--log FILE]
//          [--fault slow-endpoint,dependency-timeout,cpu-saturation,memory-growth]
//          [--leak-mb-per-s 4] [--max-leak-mb 512] [--quiet]
// Prints one line "demo-service ready port=P pid=N url=U log=F faults=..." once it serves.
import { closeSync, openSync, writeSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';

export const FAULTS = ['slow-endpoint', 'dependency-timeout', 'cpu-saturation', 'memory-growth'];
const SHARDS = 10;
const QUERY_MS = 60;
const HEALTHY_POOL = 20;
const FAULT_POOL = 1;
const DEP_LATENCY_MS = 20;
const HEALTHY_TIMEOUT_MS = 2000;
const FAULT_TIMEOUT_MS = 5;

function usage(message) {
  process.stderr.write(`demo-service: ${message}\n`);
  process.stderr.write('usage: server.js [--port N] [--host H] [--log FILE] [--fault ' + FAULTS.join(',') + '] [--leak-mb-per-s N] [--max-leak-mb N] [--quiet]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { port: 8080, host: '127.0.0.1', log: null, faults: [], leakMbPerSec: 4, maxLeakMb: 512, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) usage(`${flag} needs a value`);
      return v;
    };
    const num = (min, max) => {
      const raw = value();
      const n = Number(raw);
      if (!Number.isFinite(n) || n < min || n > max) usage(`${flag} must be a number from ${min} to ${max}, got "${raw}"`);
      return n;
    };
    switch (flag) {
      case '--port': opts.port = num(0, 65535); break;
      case '--host': opts.host = value(); break;
      case '--log': opts.log = resolve(value()); break;
      case '--fault':
      case '--faults': opts.faults.push(...value().split(',').map((f) => f.trim()).filter(Boolean)); break;
      case '--leak-mb-per-s': opts.leakMbPerSec = num(0.1, 1024); break;
      case '--max-leak-mb': opts.maxLeakMb = num(1, 16384); break;
      case '--quiet': opts.quiet = true; break;
      case '--help': case '-h': usage('a demo backend with switchable faults');
      // falls through (usage exits)
      default: usage(`unknown option ${a}`);
    }
  }
  for (const f of opts.faults) if (!FAULTS.includes(f)) usage(`unknown fault "${f}" (known: ${FAULTS.join(', ')})`);
  return opts;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A connection pool: `acquire` waits when all connections are in use. */
class Pool {
  constructor(size) {
    this.size = size;
    this.inUse = 0;
    this.waiters = [];
  }
  async acquire() {
    if (this.inUse < this.size) {
      this.inUse++;
      return;
    }
    await new Promise((r) => this.waiters.push(r));
  }
  release() {
    // a shrunk pool retires connections instead of handing them on
    if (this.inUse > this.size || this.waiters.length === 0) this.inUse--;
    else this.waiters.shift()();
  }
  resize(size) {
    this.size = size;
    while (this.inUse < this.size && this.waiters.length > 0) {
      this.inUse++;
      this.waiters.shift()();
    }
  }
}

const ORDERS = Array.from({ length: 50 }, (_, i) => ({
  id: 1001 + i,
  customer: ['ada', 'grace', 'linus', 'barbara', 'ken'][i % 5],
  total_cents: 1000 + ((i * 7919) % 20000),
  status: ['paid', 'shipped', 'delivered'][i % 3],
}));

async function main(argv = process.argv.slice(2)) {
  const opts = parseArgs(argv);
  const logPath = opts.log ?? join(tmpdir(), `demo-service-${process.pid}.log`);
  // Written synchronously, as many services' loggers do: a request's line is in the file before
  // its response leaves, so a tool that reads the log right after a failed probe finds it (with a
  // write stream the lines could land after the read on a busy machine). A log named with --log
  // is appended to, as a service's log is across restarts; the default one is named after this
  // process, so what is in it already is an earlier process's that had the same pid: started over.
  const logFd = openSync(logPath, opts.log ? 'a' : 'w');
  const write = (level, text) => writeSync(logFd, `${new Date().toISOString()} ${level.padEnd(5)} ${text}\n`);

  const state = {
    pool: new Pool(opts.faults.includes('slow-endpoint') ? FAULT_POOL : HEALTHY_POOL),
    timeoutMs: opts.faults.includes('dependency-timeout') ? FAULT_TIMEOUT_MS : HEALTHY_TIMEOUT_MS,
    worker: null,
    workerGeneration: 0,
    workerState: { spinning: false, leaking: false, retained_bytes: 0, jobs: 0 },
    requests: 0,
    errors: 0,
    startedAt: Date.now(),
  };

  function startWorker(spinning, leaking) {
    state.workerGeneration++;
    state.workerState = { spinning, leaking, retained_bytes: 0, jobs: 0 };
    const w = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { spinning, leaking, leakMbPerSec: opts.leakMbPerSec, maxLeakMb: opts.maxLeakMb },
    });
    w.on('message', (m) => {
      if (m?.type === 'state' && state.worker === w) state.workerState = { spinning: m.spinning, leaking: m.leaking, retained_bytes: m.retained_bytes, jobs: m.jobs };
    });
    w.on('error', (err) => write('ERROR', `worker crashed: ${err.message}`));
    w.unref();
    state.worker = w;
    return w;
  }
  startWorker(opts.faults.includes('cpu-saturation'), opts.faults.includes('memory-growth'));

  /** Faults are read from the mechanisms, so a remediation that removes a cause also clears the fault. */
  function activeFaults() {
    const f = [];
    if (state.pool.size < SHARDS) f.push('slow-endpoint');
    if (state.timeoutMs <= DEP_LATENCY_MS) f.push('dependency-timeout');
    if (state.workerState.spinning) f.push('cpu-saturation');
    if (state.workerState.leaking) f.push('memory-growth');
    return f;
  }

  function setFault(name, on) {
    if (name === 'slow-endpoint') state.pool.resize(on ? FAULT_POOL : HEALTHY_POOL);
    else if (name === 'dependency-timeout') state.timeoutMs = on ? FAULT_TIMEOUT_MS : HEALTHY_TIMEOUT_MS;
    else if (name === 'cpu-saturation' || name === 'memory-growth') {
      const key = name === 'cpu-saturation' ? 'spinning' : 'leaking';
      state.workerState = { ...state.workerState, [key]: on };
      state.worker.postMessage({ type: 'set', [key]: on });
    }
  }

  // --- the "payments" dependency: its own HTTP server, answering after DEP_LATENCY_MS ---
  const dependency = http.createServer(async (req, res) => {
    req.resume();
    await sleep(DEP_LATENCY_MS);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ authorized: true, auth_code: Math.random().toString(36).slice(2, 10) }));
  });
  await new Promise((r) => dependency.listen(0, '127.0.0.1', r));
  const depPort = dependency.address().port;

  function callPayments(body) {
    return new Promise((resolveCall, reject) => {
      const req = http.request({ host: '127.0.0.1', port: depPort, path: '/authorize', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (data += d));
        res.on('end', () => resolveCall(JSON.parse(data)));
      });
      req.setTimeout(state.timeoutMs, () => req.destroy(Object.assign(new Error(`payments timed out after ${state.timeoutMs}ms`), { code: 'DEP_TIMEOUT' })));
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }

  async function readBody(req) {
    let data = '';
    for await (const chunk of req) {
      data += chunk;
      if (data.length > 1_000_000) throw Object.assign(new Error('body too large'), { status: 413 });
    }
    if (!data) return {};
    try {
      return JSON.parse(data);
    } catch {
      throw Object.assign(new Error('body is not JSON'), { status: 400 });
    }
  }

  const routes = {
    'GET /health': async () => [200, { status: 'ok', uptime_s: Math.round((Date.now() - state.startedAt) / 1000) }],
    'GET /api/orders': async () => [200, { orders: ORDERS.slice(0, 20), total: ORDERS.length }],
    'GET /api/search': async (_req, url) => {
      const q = (url.searchParams.get('q') ?? '').toLowerCase();
      // one query per shard, each holding a pool connection while it runs
      const shards = await Promise.all(
        Array.from({ length: SHARDS }, async (_, shard) => {
          await state.pool.acquire();
          try {
            await sleep(QUERY_MS);
            return ORDERS.filter((o, i) => i % SHARDS === shard && (q === '' || o.customer.includes(q)));
          } finally {
            state.pool.release();
          }
        }),
      );
      const hits = shards.flat();
      return [200, { q, hits: hits.length, results: hits.slice(0, 10) }];
    },
    'POST /api/checkout': async (req) => {
      const body = req.method === 'POST' ? await readBody(req) : {};
      const order = ORDERS[Math.floor(Math.random() * ORDERS.length)];
      try {
        const auth = await callPayments({ order: body.order ?? order.id, amount: order.total_cents });
        return [200, { order: order.id, charged_cents: order.total_cents, auth_code: auth.auth_code }];
      } catch (err) {
        if (err.code === 'DEP_TIMEOUT') return [504, { error: 'dependency timeout', dependency: 'payments', detail: err.message }];
        return [502, { error: 'dependency failed', dependency: 'payments', detail: err.message }];
      }
    },
    'GET /admin/state': async () => [200, adminState()],
    'POST /admin/faults': async (req) => {
      const body = await readBody(req);
      const list = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
      const enable = list(body.enable), disable = list(body.disable);
      if (body.faults !== undefined) {
        for (const f of FAULTS) (list(body.faults).includes(f) ? enable : disable).push(f);
      }
      for (const f of [...enable, ...disable]) if (!FAULTS.includes(f)) throw Object.assign(new Error(`unknown fault "${f}" (known: ${FAULTS.join(', ')})`), { status: 400 });
      for (const f of disable) setFault(f, false);
      for (const f of enable) setFault(f, true);
      write('WARN', `faults changed: enabled=[${enable.join(',')}] disabled=[${disable.join(',')}]`);
      return [200, adminState()];
    },
    'POST /admin/pool': async (req) => {
      const { size } = await readBody(req);
      if (!Number.isInteger(size) || size < 1 || size > 256) throw Object.assign(new Error('size must be an integer from 1 to 256'), { status: 400 });
      const before = state.pool.size;
      state.pool.resize(size);
      write('INFO', `remediation: search pool size ${before} -> ${size}`);
      return [200, { pool_size: size, previous: before, faults: activeFaults() }];
    },
    'POST /admin/timeout': async (req) => {
      const { ms } = await readBody(req);
      if (!Number.isInteger(ms) || ms < 1 || ms > 600_000) throw Object.assign(new Error('ms must be an integer from 1 to 600000'), { status: 400 });
      const before = state.timeoutMs;
      state.timeoutMs = ms;
      write('INFO', `remediation: payments timeout ${before}ms -> ${ms}ms`);
      return [200, { timeout_ms: ms, previous: before, faults: activeFaults() }];
    },
    'POST /admin/restart-worker': async () => {
      const old = state.worker;
      const freed = state.workerState.retained_bytes;
      state.worker = null; // ignore the old thread's last state messages
      await old.terminate();
      startWorker(false, false);
      write('INFO', `remediation: worker restarted (generation ${state.workerGeneration}, freed ${Math.round(freed / 1048576)} MB)`);
      return [200, { generation: state.workerGeneration, freed_bytes: freed, faults: activeFaults() }];
    },
  };
  routes['GET /api/checkout'] = routes['POST /api/checkout'];

  function adminState() {
    const mem = process.memoryUsage();
    return {
      pid: process.pid,
      port: server.address()?.port ?? null,
      log: logPath,
      uptime_s: Math.round((Date.now() - state.startedAt) / 1000),
      faults: activeFaults(),
      pool: { size: state.pool.size, in_use: state.pool.inUse, waiting: state.pool.waiters.length, shards: SHARDS },
      dependency: { name: 'payments', timeout_ms: state.timeoutMs, latency_ms: DEP_LATENCY_MS },
      worker: { generation: state.workerGeneration, ...state.workerState },
      memory: { rss: mem.rss, heap_used: mem.heapUsed, external: mem.external, array_buffers: mem.arrayBuffers },
      requests: state.requests,
      errors: state.errors,
    };
  }

  const server = http.createServer(async (req, res) => {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const handler = routes[`${req.method} ${path}`];
    let status = 500;
    let body;
    try {
      if (!handler) {
        const known = Object.keys(routes).some((k) => k.endsWith(` ${path}`));
        [status, body] = known ? [405, { error: `method ${req.method} not allowed on ${path}` }] : [404, { error: `no route ${path}` }];
        req.resume();
      } else {
        [status, body] = await handler(req, url);
      }
    } catch (err) {
      status = err.status ?? 500;
      body = { error: err.message };
    }
    state.requests++;
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const line = `${req.method} ${url.pathname}${url.search} ${status} ${ms.toFixed(1)}ms`;
    if (status >= 500) {
      state.errors++;
      write('ERROR', `${line} ${body?.error ?? ''}${body?.detail ? `: ${body.detail}` : ''}`);
    } else if (ms >= 1000) write('WARN', `${line} slow request`);
    else write('INFO', line);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  server.keepAliveTimeout = 5000;

  await new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, resolveListen);
  });
  const port = server.address().port;
  const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`;
  write('INFO', `demo-service started pid=${process.pid} port=${port} faults=${activeFaults().join(',') || 'none'}`);
  process.stdout.write(`demo-service ready port=${port} pid=${process.pid} url=${url} log=${logPath} faults=${activeFaults().join(',') || 'none'}\n`);
  if (!opts.quiet) process.stdout.write(`  endpoints: /health /api/orders /api/search?q= /api/checkout  admin: /admin/state /admin/faults /admin/pool /admin/timeout /admin/restart-worker\n`);

  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    write('INFO', `demo-service stopping (${signal})`);
    server.close();
    server.closeAllConnections();
    dependency.close();
    dependency.closeAllConnections();
    void state.worker?.terminate();
    closeSync(logFd);
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return { port, pid: process.pid, log: logPath };
}

main().catch((err) => {
  process.stderr.write(`demo-service: ${err.message}\n`);
  process.exit(1);
});
