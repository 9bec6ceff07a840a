// The demo service's background worker (a "report builder" thread). Healthy, it wakes every 100 ms
// and does a little work. Two faults live here because they are the kind that real background
// workers have: a runaway computation that pins a core (cpu-saturation) and a cache that never
// evicts (memory-growth). Terminating the thread (POST /admin/restart-worker) really ends both:
// the spinning stops and the isolate's retained buffers are freed.
import { parentPort, workerData } from 'node:worker_threads';

const TICK_MS = 100;
const state = {
  spinning: Boolean(workerData?.spinning),
  leaking: Boolean(workerData?.leaking),
  leakMbPerSec: Number(workerData?.leakMbPerSec ?? 4),
  maxLeakMb: Number(workerData?.maxLeakMb ?? 512),
};
/** The "cache" that leaks: every tick adds an entry and nothing ever evicts one. */
const retained = [];
let retainedBytes = 0;
let jobs = 0;
let sink = 0;
let lastTick = Date.now();

function report() {
  parentPort.postMessage({ type: 'state', spinning: state.spinning, leaking: state.leaking, retained_bytes: retainedBytes, jobs });
}

parentPort.on('message', (msg) => {
  if (msg?.type === 'set') {
    if (typeof msg.spinning === 'boolean') state.spinning = msg.spinning;
    if (typeof msg.leaking === 'boolean') state.leaking = msg.leaking;
    report();
  }
});

function tick() {
  jobs++;
  const now = Date.now();
  if (state.leaking && retainedBytes < state.maxLeakMb * 1024 * 1024) {
    // the rate follows the clock, not the tick count, so spinning does not change it
    const size = Math.round((state.leakMbPerSec * 1024 * 1024 * (now - lastTick)) / 1000);
    if (size > 0) {
      // fill() touches every page, so the allocation shows up in RSS (a fresh zeroed buffer may not)
      retained.push(Buffer.allocUnsafe(size).fill(jobs & 0xff));
      retainedBytes += size;
    }
  }
  lastTick = now;
  if (state.spinning) {
    // real busy work in slices, so the thread still reads its messages between slices
    const until = Date.now() + 50;
    let x = sink;
    while (Date.now() < until) for (let i = 0; i < 10_000; i++) x = (x * 1103515245 + 12345) % 2147483648;
    sink = x;
    setImmediate(tick);
  } else {
    sink = (sink + jobs) % 1000;
    setTimeout(tick, TICK_MS);
  }
}

setInterval(report, 250).unref();
report();
tick();
