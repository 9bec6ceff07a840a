// Cost that does not grow with history (issue 13, item 5):
//   restart: a daemon start on a store holding 100,000 finished runs (each a header, a step row
//            and 3 events) and a few active ones: until it serves; plus the one-time index
//            migration such a store written before the indexes gets on its first start, and a
//            `list --all` page (200 runs) on it.
//   recovery: a start with 10,000 runs in flight (status running, as a kill -9 leaves them): until
//            it serves with all re-admitted.
// The store is seeded in the layout every version wrote (no index entries), so the same script
// measures an older build: HISTORY_BENCH_DIST=/path/to/other/dist node bench/history.bench.js
// (the "before" figures). Each part runs in its own process (one in-process daemon per process).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT } from './support.js';

const DIST = process.env.HISTORY_BENCH_DIST ?? join(ROOT, 'dist');
const FINISHED = Number(process.env.HISTORY_BENCH_FINISHED ?? 100_000);
const INFLIGHT = Number(process.env.HISTORY_BENCH_INFLIGHT ?? 10_000);
const GATE = 'id: gate\nsteps:\n  - id: ask\n    approval: { prompt: "Go on?" }\n';
const GATE_DEF = { id: 'gate', params: {}, steps: [{ id: 'ask', approval: { prompt: 'Go on?' } }] };

const iso = (ms) => new Date(ms).toISOString();

function header(id, status, created) {
  const done = ['succeeded', 'failed', 'cancelled'].includes(status);
  return {
    id, workflow: 'gate', def_hash: 'benchgate', status, params: {}, created_at: iso(created), started_at: iso(created), ended_at: done ? iso(created + 1000) : null,
    current_step: status === 'waiting' ? 'ask' : null, waiting_for: status === 'waiting' ? { kind: 'approval', step: 'ask', prompt: 'Go on?', until: null } : null,
    usage: { prompt_tokens: 0, completion_tokens: 0, tool_calls: 0 }, error: null, trigger: 'cli', actor: 'cli:bench', seq: 3,
    pause_requested: false, pause_reason: null, budget_grants: 0, timeout_at: null, scheduled_for: null, catch_up: false,
  };
}

/**
 * A home whose store holds `finished` finished runs and `active` runs of `activeStatus`. With
 * `indexed`, also the run index entries (and the stats backfill mark) a store gets once it was
 * started by this version, so a start measures recovery, not the one-time migration; older builds
 * ignore those entries.
 */
export async function seededHome(finished, active, activeStatus, indexed = false) {
  const home = mkdtempSync(join(tmpdir(), 'opsb-hist-'));
  mkdirSync(join(home, 'workflows'), { recursive: true });
  writeFileSync(join(home, 'workflows', 'gate.yaml'), GATE);
  const { Store } = await import(pathToFileURL(join(DIST, 'daemon', 'store', 'store.js')).href);
  const store = await Store.open(join(home, 'data', 'db'));
  const t0 = Date.now() - 30 * 86_400_000;
  let ops = [{ type: 'put', sub: 'meta', key: 'wfdef:benchgate', value: GATE_DEF }];
  const put = async (op) => {
    ops.push(op);
    if (ops.length >= 5000) {
      await store.commit(ops);
      ops = [];
    }
  };
  for (let i = 0; i < finished + active; i++) {
    const id = `r_${i.toString(36).padStart(8, '0')}`;
    const status = i < finished ? ['succeeded', 'failed', 'cancelled'][i % 3] : activeStatus;
    const h = header(id, status, t0 + i);
    await put({ type: 'put', sub: 'runs', key: id, value: h });
    if (indexed) {
      await put({ type: 'put', sub: 'created', key: `${h.created_at}|${id}`, value: { workflow: 'gate' } });
      if (i < finished) await put({ type: 'put', sub: 'ended', key: `${h.ended_at}|${id}`, value: { workflow: 'gate', status } });
      else await put({ type: 'put', sub: 'active', key: id, value: { workflow: 'gate' } });
    }
    if (status !== 'running') await put({ type: 'put', sub: 'runs', key: `${id}/step/000000`, value: { path: 'ask', state: { status: status === 'waiting' ? 'waiting' : 'succeeded', attempts: 1, started_at: h.started_at, ended_at: h.ended_at, output: { ok: true }, error: null } } });
    for (let s = 1; s <= 3; s++) await put({ type: 'put', sub: 'events', key: `${id}:${s.toString().padStart(9, '0')}`, value: { seq: s, at: iso(t0 + i), run_id: id, type: 'step.started', step: 'ask' } });
  }
  if (indexed) {
    const third = Math.floor(finished / 3);
    ops.push(
      { type: 'put', sub: 'meta', key: 'runs:summary', value: { finished: { succeeded: finished - 2 * third, failed: third, cancelled: third }, by_workflow: finished ? { gate: finished } : {}, durations: {} } },
      { type: 'put', sub: 'meta', key: 'runs:index', value: { at: new Date().toISOString(), runs: finished + active } },
      { type: 'put', sub: 'meta', key: 'stats:v1', value: { at: new Date().toISOString(), backfilled: 0 } },
    );
  }
  await store.commit(ops);
  await store.close();
  return home;
}

async function daemonIn(home) {
  process.env.OPSTREAM_HOME = home;
  const { startDaemon } = await import(pathToFileURL(join(DIST, 'daemon', 'main.js')).href);
  const o = await startDaemon(process.env);
  if (o.kind !== 'started') throw new Error('a daemon is already running');
  return o.daemon;
}

async function timedStart(home) {
  const t0 = performance.now();
  const d = await daemonIn(home);
  return { d, ms: performance.now() - t0 };
}

async function restart() {
  const home = await seededHome(FINISHED, 5, 'waiting');
  try {
    const first = await timedStart(home);
    await first.d.stop();
    const again = await timedStart(home);
    const d = again.d;
    const reads = d.ctx.store.reads ? `store records read at start: runs ${d.ctx.store.reads.runs}, events ${d.ctx.store.reads.events}` : 'no read counters in this build';
    const t = performance.now();
    const page = await d.ctx.engine.list({ all: true, limit: 200 });
    const listMs = performance.now() - t;
    await d.stop();
    return [
      // engine.bench.js owns the contract figures (restart_with_100k_finished_s, recovery_10k_s);
      // these are the same starts on an index-migrated store, with what the store read
      { id: 'history_restart_100k_finished_s', name: `restart with ${FINISHED} finished + 5 waiting runs (store migrated to the run indexes): until serving`, value: again.ms / 1000, unit: 's', goal: { op: '<', value: 1 }, note: reads },
      { id: 'history_first_start_unindexed_s', name: `first start on a store written without the run indexes (${FINISHED} finished): until serving, one-time index migration included`, value: first.ms / 1000, unit: 's' },
      { id: 'history_list_all_first_page_ms', name: `list --all first page (200 of ${page.total} runs)`, value: listMs, unit: 'ms' },
    ];
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

async function recovery() {
  // indexed: what a kill -9 leaves once this version ran (the migration is the restart part's figure)
  const home = await seededHome(0, INFLIGHT, 'running', true);
  try {
    const first = await timedStart(home);
    const eng = first.d.ctx.engine;
    const row = { id: 'history_recovery_serving_s', name: `start with ${INFLIGHT} runs in flight: until serving, all re-admitted (activations queued)`, value: first.ms / 1000, unit: 's', goal: { op: '<', value: 3 }, note: `engine recover() ${eng.figures.recoveredAt} ms, ${eng.figures.recovered} resumed` };
    await first.d.stop();
    return [row];
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

const parts = { restart, recovery };
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv[2]) {
    const rows = await parts[process.argv[2]]();
    process.stdout.write(JSON.stringify(rows));
    process.exit(0);
  }
}

/** Every part, each in its own process. */
export async function run() {
  const rows = [];
  for (const part of Object.keys(parts)) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), part], { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, OPSTREAM_LOG_LEVEL: 'warn' } });
    rows.push(...JSON.parse(out));
  }
  return rows;
}

// `node bench/history.bench.js` on its own: print the rows
if (process.argv[1] === fileURLToPath(import.meta.url) && !process.argv[2]) {
  for (const r of await run()) console.log(`${r.name}: ${r.value.toFixed(3)} ${r.unit}${r.note ? ` (${r.note})` : ''}`);
}
