// The DBOS Transact peer (npm `@dbos-inc/dbos-sdk` on the PostgreSQL bench/peers/servers.js
// started, fsync and synchronous_commit on), one workload per process, run by
// bench/peers.bench.js:
//   node bench/peers/dbos.js WORKLOAD '{"url":"postgresql://...","chains":40,"steps":500,"runs":10000}'
// A run is a workflow; a step is `DBOS.runStep`, whose output DBOS checkpoints in PostgreSQL (one
// committed transaction) before the workflow goes on. Same executor id and application version in
// every process, so a restarted process recovers the workflows a killed one left pending.
//   chain            40 concurrent workflows x 500 no-op steps: steps/s
//   mcp              the same, each step calling `echo` of a stdio MCP server (one SDK client)
//   recovery-setup   `runs` workflows whose first step never returns: reports "inflight"; the bench
//                    then kills the process with SIGKILL
//   recovery-resume  DBOS.launch() in a new process: seconds from launch until every workflow's
//                    first step ran again (DBOS recovers the executor's pending workflows at launch)
//   waiting-setup    `runs` workflows sleeping 2 h (`DBOS.sleep`, durable: its end time checkpointed);
//                    reports "waiting", then the bench kills the process
//   waiting-hold     DBOS.launch() in a new process: every workflow recovered back to its sleep;
//                    then idle, the bench reads its RSS and CPU
import { opts, mcpClient, never, runPeer, say, until, workload } from './child.js';

const { DBOS } = await import('@dbos-inc/dbos-sdk');

function configure() {
  // DBOS's defaults otherwise (a system-database pool of 10 connections unless PEERS_DBOS_POOL_SIZE)
  DBOS.setConfig({ name: 'opstream-bench', systemDatabaseUrl: opts.url, logLevel: 'error', executorID: 'opstream-bench', applicationVersion: 'opstream-bench-1', ...(opts.poolSize ? { systemDatabasePoolSize: opts.poolSize } : {}) });
}

async function chain(mcp) {
  const tool = mcp ? await mcpClient() : null;
  configure();
  const wf = DBOS.registerWorkflow(
    async (c) => {
      for (let i = 0; i < opts.steps; i++) await DBOS.runStep(async () => (tool ? tool.echo() : i), { name: 'step' });
      return c;
    },
    { name: mcp ? 'mcpChain' : 'chain' },
  );
  await DBOS.launch();
  const t0 = performance.now();
  const handles = await Promise.all(Array.from({ length: opts.chains }, (_, c) => DBOS.startWorkflow(wf)(c)));
  const out = await Promise.all(handles.map((h) => h.getResult()));
  const s = (performance.now() - t0) / 1000;
  if (out.length !== opts.chains) throw new Error(`${out.length} of ${opts.chains} workflows returned`);
  const total = opts.chains * opts.steps;
  say('result', { steps: total, s, steps_per_s: total / s });
  await DBOS.shutdown();
  await tool?.close();
}

/** The recovery workflow: a first step (in flight when killed), then a second. */
function inflightWorkflow(onFirst, hang) {
  return DBOS.registerWorkflow(
    async (i) => {
      await DBOS.runStep(async () => {
        onFirst(i);
        if (hang) await never();
        return i;
      }, { name: 'first' });
      return DBOS.runStep(async () => i, { name: 'second' });
    },
    { name: 'inflight' },
  );
}

async function recoverySetup() {
  configure();
  const seen = new Set();
  const wf = inflightWorkflow((i) => {
    seen.add(i);
    if (seen.size === opts.runs) say('inflight', { running: seen.size });
  }, true);
  await DBOS.launch();
  for (let i = 0; i < opts.runs; i += 200) await Promise.all(Array.from({ length: Math.min(200, opts.runs - i) }, (_, k) => DBOS.startWorkflow(wf, { workflowID: `r${i + k}` })(i + k)));
  await never();
}

async function recoveryResume() {
  configure();
  const seen = new Set();
  let t0 = 0;
  let first = null;
  let allAt = null;
  const wf = inflightWorkflow((i) => {
    if (seen.has(i)) return;
    seen.add(i);
    first ??= performance.now() - t0;
    if (seen.size === opts.runs) allAt = performance.now() - t0;
  }, false);
  void wf;
  t0 = performance.now();
  await DBOS.launch();
  const launched = performance.now() - t0;
  await until(`all ${opts.runs} workflows to run their step again (${seen.size} so far)`, () => allAt !== null, opts.maxMs);
  say('result', { resumed_s: allAt / 1000, first_s: first / 1000, launch_s: launched / 1000 });
  await DBOS.shutdown();
}

/** The waiting workflow: counts arrivals at its 2 h durable sleep (on every replay too). */
function waiterWorkflow(onSleep) {
  return DBOS.registerWorkflow(
    async (i) => {
      onSleep(i);
      await DBOS.sleep(2 * 3600 * 1000);
      return i;
    },
    { name: 'waiter' },
  );
}

async function waitingSetup() {
  configure();
  let n = 0;
  const wf = waiterWorkflow(() => n++);
  await DBOS.launch();
  for (let i = 0; i < opts.runs; i += 200) await Promise.all(Array.from({ length: Math.min(200, opts.runs - i) }, (_, k) => DBOS.startWorkflow(wf, { workflowID: `w${i + k}` })(i + k)));
  await until('every workflow at its sleep', () => n >= opts.runs, opts.maxMs);
  // each sleep's end time is checkpointed by the sleep itself: give the last ones their commit
  await new Promise((r) => setTimeout(r, 2000));
  say('waiting', { runs: n });
  await never();
}

async function waitingHold() {
  configure();
  const seen = new Set();
  waiterWorkflow((i) => seen.add(i));
  const t0 = performance.now();
  await DBOS.launch();
  await until(`all ${opts.runs} workflows back at their sleep (${seen.size} so far)`, () => seen.size >= opts.runs, opts.maxMs);
  say('holding', { runs: seen.size, recovered_s: (performance.now() - t0) / 1000 });
  await never();
}

const workloads = { chain: () => chain(false), mcp: () => chain(true), 'recovery-setup': recoverySetup, 'recovery-resume': recoveryResume, 'waiting-setup': waitingSetup, 'waiting-hold': waitingHold };
if (!workloads[workload]) throw new Error(`unknown workload ${workload}`);
runPeer(workloads[workload]);
