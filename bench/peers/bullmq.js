// The BullMQ peer (npm `bullmq` on the Redis bench/peers/servers.js started with
// `appendfsync always`), one workload per process, run by bench/peers.bench.js:
//   node bench/peers/bullmq.js WORKLOAD '{"port":...,"chains":40,"steps":500,"runs":10000,...}'
// A step is a job. A chain's step adds the chain's next step (a job with a deterministic id, so a
// step re-run after a crash does not add it twice) before it completes: the next step is durable
// in Redis (AOF fsynced before the reply) before this step's completion is written, and it can
// only run once it is.
//   chain            40 chains x 500 no-op steps: steps/s
//   mcp              the same, each step calling `echo` of a stdio MCP server (one SDK client)
//   recovery-setup   `runs` runs in flight: a job each, `concurrency` of them active in a worker
//                    (their step never returns), the others waiting: reports "inflight"; the
//                    bench then kills the process with SIGKILL
//   recovery-resume  a new worker (same concurrency) on that queue: seconds from its start until
//                    every job's step ran (again, for the active ones: stalled-job recovery, the
//                    dead worker's locks expire after lockDuration, the stalled checker runs every
//                    stalledInterval)
//   waiting-setup    `runs` jobs delayed by 2 h (BullMQ's timer: a delayed job in Redis)
//   waiting-hold     a worker on that queue, idle, with the delayed jobs; the bench reads its RSS
import { opts, mcpClient, never, runPeer, say, until, workload } from './child.js';

const { Queue, Worker } = await import('bullmq');
const connection = { host: '127.0.0.1', port: opts.port, maxRetriesPerRequest: null };
const name = opts.queue ?? workload;
// the stalled-job settings a user would pick for fast recovery (BullMQ's defaults: 30 s and 30 s)
const locks = { lockDuration: opts.lockMs, stalledInterval: opts.stalledMs };

async function chain(mcp) {
  const tool = mcp ? await mcpClient() : null;
  const queue = new Queue(name, { connection });
  const total = opts.chains * opts.steps;
  let done = 0;
  let finished;
  const all = new Promise((r) => (finished = r));
  const worker = new Worker(
    name,
    async (job) => {
      const { chain: c, step } = job.data;
      const out = tool ? await tool.echo() : step;
      if (step + 1 < opts.steps) await queue.add('step', { chain: c, step: step + 1 }, { jobId: `c${c}-s${step + 1}` });
      return out;
    },
    { connection, concurrency: opts.chains, autorun: false },
  );
  worker.on('completed', () => ++done === total && finished());
  worker.on('failed', (job, err) => say('error', { error: `job ${job?.id} failed: ${err?.message}` }));
  await worker.waitUntilReady();
  await queue.waitUntilReady();
  const t0 = performance.now();
  void worker.run();
  await queue.addBulk(Array.from({ length: opts.chains }, (_, c) => ({ name: 'step', data: { chain: c, step: 0 }, opts: { jobId: `c${c}-s0` } })));
  await all;
  const s = (performance.now() - t0) / 1000;
  const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'active');
  if (counts.completed !== total) throw new Error(`${counts.completed} of ${total} steps completed (${JSON.stringify(counts)})`);
  say('result', { steps: total, s, steps_per_s: total / s });
  await worker.close();
  await queue.close();
  await tool?.close();
}

async function recoverySetup() {
  const queue = new Queue(name, { connection });
  const seen = new Set();
  let added = 0;
  const ready = () => {
    if (added === opts.runs && seen.size >= Math.min(opts.concurrency, opts.runs)) say('inflight', { active: seen.size, waiting: opts.runs - seen.size });
  };
  const worker = new Worker(
    name,
    async (job) => {
      seen.add(job.id);
      ready();
      return never(); // the step in flight when the process is killed
    },
    { connection, concurrency: opts.concurrency, ...locks },
  );
  await worker.waitUntilReady();
  for (let i = 0; i < opts.runs; i += 1000) {
    const n = Math.min(1000, opts.runs - i);
    await queue.addBulk(Array.from({ length: n }, (_, k) => ({ name: 'step', data: { run: i + k, step: 0 }, opts: { jobId: `r${i + k}-s0` } })));
    added += n;
  }
  ready();
  await never();
}

async function recoveryResume() {
  const t0 = performance.now();
  const seen = new Set();
  let first = null;
  let allAt = null;
  let done = 0;
  const worker = new Worker(
    name,
    async (job) => {
      if (!seen.has(job.id)) {
        seen.add(job.id);
        first ??= performance.now() - t0;
        if (seen.size === opts.runs) allAt = performance.now() - t0;
      }
      return job.data.step;
    },
    { connection, concurrency: opts.concurrency, ...locks },
  );
  worker.on('completed', () => done++);
  await until(`all ${opts.runs} jobs to run again (${seen.size} so far)`, () => allAt !== null, opts.maxMs);
  await until('their completion', () => done >= opts.runs, opts.maxMs);
  const completedAt = performance.now() - t0;
  const queue = new Queue(name, { connection });
  const counts = await queue.getJobCounts('completed', 'failed', 'active', 'waiting');
  say('result', { resumed_s: allAt / 1000, first_s: first / 1000, completed_s: completedAt / 1000, counts });
  await worker.close();
  await queue.close();
}

async function waitingSetup() {
  const queue = new Queue(name, { connection });
  for (let i = 0; i < opts.runs; i += 1000) {
    await queue.addBulk(Array.from({ length: Math.min(1000, opts.runs - i) }, (_, k) => ({ name: 'nap', data: { run: i + k }, opts: { jobId: `w${i + k}`, delay: 2 * 3600 * 1000 } })));
  }
  const delayed = await queue.getDelayedCount();
  if (delayed !== opts.runs) throw new Error(`${delayed} of ${opts.runs} jobs delayed`);
  say('result', { delayed });
  await queue.close();
}

async function waitingHold() {
  const queue = new Queue(name, { connection });
  const worker = new Worker(name, async () => 'woke', { connection, concurrency: 40 });
  await worker.waitUntilReady();
  const delayed = await queue.getDelayedCount();
  if (delayed !== opts.runs) throw new Error(`${delayed} of ${opts.runs} jobs delayed`);
  say('holding', { delayed });
  await never(); // the bench reads RSS and CPU, then ends this process
}

const workloads = { chain: () => chain(false), mcp: () => chain(true), 'recovery-setup': recoverySetup, 'recovery-resume': recoveryResume, 'waiting-setup': waitingSetup, 'waiting-hold': waitingHold };
if (!workloads[workload]) throw new Error(`unknown workload ${workload}`);
runPeer(workloads[workload]);
