// The load scenario of issue 13 (item 6), shared by bench/load.bench.js (full size, figures) and
// test/integration/load-small.test.ts (CI size, no timings asserted):
//   a daemon in its own process (started by the CLI) with `waiting` runs waiting on a 2 h timer and
//   the Slack bridge connected to a loopback Slack; `clients` concurrent clients (real socket
//   connections through src/client, as the CLI makes them) start `starts` runs in all; then the
//   daemon is stopped and its store is read: every acknowledged run and every waiting run must be
//   there.
// The waiting runs are made by cloning one real waiting run's stored state while the daemon is down
// (starting 10,000 runs one by one would take minutes of worker start-ups before the load begins).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, runIndexOps, stepRowsApi, stopChildDaemon } from './support.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ACTIVE = new Set(['queued', 'running', 'waiting', 'paused']);

async function until(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`load: timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(50);
  }
}

function startDaemon(env) {
  const r = spawnSync(process.execPath, [BIN, 'daemon', 'start'], { env, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`load: opstream daemon start exited ${r.status}: ${r.stderr}`);
}

/**
 * @param {object} o
 * @param {string} o.home  an empty OPSTREAM_HOME (the caller removes it afterwards)
 * @param {NodeJS.ProcessEnv} o.env  environment with OPSTREAM_HOME = home
 * @param {{ appToken: string, botToken: string, apiUrl: string, waitForConnection(n: number, ms?: number): Promise<unknown> }} o.slack  a started loopback Slack
 * @param {number} o.waiting  runs waiting on a timer during the load
 * @param {number} o.clients  concurrent client connections
 * @param {number} o.starts  runs started in all (split evenly over the clients)
 * @param {(msg: string) => void} [o.log]
 * @returns {Promise<{ attempted: number, acked: number, ackMs: number[], errors: string[], startedLost: string[], waitingLost: number, waitingBefore: number, notWaiting: string[], slackState: string, loadSeconds: number }>}
 */
export async function runLoad(o) {
  const log = o.log ?? (() => undefined);
  const { DaemonClient } = await import('../dist/client/client.js');
  const { Store } = await import('../dist/daemon/store/store.js');
  const stepRows = await stepRowsApi();
  const { StepRows, headerOf } = stepRows;
  mkdirSync(join(o.home, 'workflows'), { recursive: true });
  // both wait on a timer and tell nobody: the load is the starts, not notifications
  writeFileSync(join(o.home, 'workflows', 'waiter.yaml'), 'id: waiter\nnotifications: []\nsteps:\n  - id: nap\n    wait: 2h\n');
  writeFileSync(join(o.home, 'workflows', 'loaded.yaml'), 'id: loaded\nnotifications: []\nsteps:\n  - id: nap\n    wait: 2h\n');
  writeFileSync(
    join(o.home, 'config.yaml'),
    ['notify: { desktop: off }', 'slack:', `  app_token: "${o.slack.appToken}"`, `  bot_token: "${o.slack.botToken}"`, `  api_url: "${o.slack.apiUrl}"`, '  channels: { default: "#ops-alerts", critical: "#incidents" }', '  users: { U0BOB: operator }', ''].join('\n'),
  );
  const connect = () => DaemonClient.connect({ env: o.env, client: 'cli', autoStart: false });

  // 1. one real waiting run, then `waiting` copies of its stored state (daemon down)
  startDaemon(o.env);
  let template;
  try {
    const c = await connect();
    template = await c.request('runs.start', { workflow: 'waiter', args: [] });
    await until('the template run to wait', async () => (await c.request('runs.get', { id: template.id })).status === 'waiting', 60_000);
    c.close();
  } finally {
    await stopChildDaemon(o.home, o.env);
  }
  const waiterIds = [];
  {
    const store = await Store.open(join(o.home, 'data', 'db'));
    try {
      const { run: rec } = new StepRows().load(await store.get('runs', template.id), await stepRows.read(store, template.id), false);
      const timers = (await store.entries('timers')).filter(([k]) => k.startsWith(`${template.id}:`));
      const header = headerOf(rec);
      const steps = Object.entries(rec.steps);
      const index = await runIndexOps();
      let ops = [];
      for (let i = 0; i < o.waiting; i++) {
        const id = `r_w${i.toString(36).padStart(7, '0')}`;
        waiterIds.push(id);
        ops.push({ type: 'put', sub: 'runs', key: id, value: { ...header, id } });
        ops.push(...index.created({ ...header, id }));
        steps.forEach(([path, state], n) => ops.push(stepRows.putOp(id, n, { path, state })));
        for (const [k, t] of timers) ops.push({ type: 'put', sub: 'timers', key: k.replace(template.id, id), value: { ...t, run_id: id } });
        if (ops.length >= 2000) {
          await store.commit(ops);
          ops = [];
        }
      }
      if (ops.length) await store.commit(ops);
    } finally {
      await store.close();
    }
  }
  log(`${o.waiting} waiting runs written`);

  // 2. the daemon with them, and the Slack bridge connected
  startDaemon(o.env);
  const clients = [];
  try {
    const admin = await connect();
    clients.push(admin);
    const status = () => admin.request('daemon.status', {});
    await o.slack.waitForConnection(1, 60_000);
    const st = await until('the Slack bridge and the waiting runs', async () => {
      const s = await status();
      return s.slack?.state === 'connected' && (s.runs.waiting ?? 0) >= o.waiting + 1 ? s : null;
    }, 120_000);
    const waitingBefore = st.runs.waiting;
    log(`daemon up: ${waitingBefore} waiting, slack ${st.slack.state}`);

    // 3. the load: `clients` connections, each starting its share one after the other
    for (let i = 0; i < o.clients; i++) clients.push(await connect());
    const per = Math.ceil(o.starts / o.clients);
    const ackMs = [];
    const errors = [];
    const started = [];
    const t0 = performance.now();
    await Promise.all(
      clients.slice(1).map(async (c, k) => {
        for (let i = 0; i < per && k * per + i < o.starts; i++) {
          const t = performance.now();
          try {
            const run = await c.request('runs.start', { workflow: 'loaded', args: [] });
            ackMs.push(performance.now() - t);
            started.push(run.id);
          } catch (e) {
            errors.push(`client ${k}: ${e?.message ?? e}`);
          }
        }
      }),
    );
    const loadSeconds = (performance.now() - t0) / 1000;
    const attempted = Math.min(o.starts, per * o.clients);
    log(`${started.length}/${attempted} starts acknowledged in ${loadSeconds.toFixed(1)} s; waiting for their activations`);
    // every started run reaches its wait (its activation ran) before the daemon stops
    await until('every started run to wait', async () => ((await status()).runs.waiting ?? 0) >= waitingBefore + started.length, 600_000).catch((e) => errors.push(e.message));
    const slackState = (await status()).slack?.state ?? 'off';
    for (const c of clients) c.close();
    clients.length = 0;
    await stopChildDaemon(o.home, o.env);

    // 4. what the store holds after the daemon stopped
    const store = await Store.open(join(o.home, 'data', 'db'));
    const startedLost = [];
    const notWaiting = [];
    let waitingLost = 0;
    try {
      for (const id of started) {
        const h = await store.get('runs', id);
        if (!h) startedLost.push(id);
        else if (h.status !== 'waiting') notWaiting.push(`${id}:${h.status}`);
      }
      for (const id of waiterIds) {
        const h = await store.get('runs', id);
        if (!h || !ACTIVE.has(h.status)) waitingLost++;
      }
    } finally {
      await store.close();
    }
    ackMs.sort((a, b) => a - b);
    return { attempted, acked: started.length, ackMs, errors, startedLost, waitingLost, waitingBefore, notWaiting, slackState, loadSeconds };
  } finally {
    for (const c of clients) c.close();
    await stopChildDaemon(o.home, o.env);
  }
}
