import type { Worker } from 'node:worker_threads';
import Bree from 'bree';
import type { Logger } from 'pino';
import type { ActivationData, ErrorData, MainMessage, ReplyMessage, WorkerMessage } from './types.js';

/** One activation of one run, in one Bree worker (which may have run others before it). */
export interface Activation {
  runId: string;
  /** Its number (ActivationData.activation): the worker tags every message with it. */
  n: number;
  /** The Bree job name of the worker it runs in. */
  name: string;
  worker: Worker | null;
  /** The run's event seq when the activation started (to detect one that made no progress). */
  startSeq: number;
  /** Step paths started and not yet finished, in start order. */
  inflight: string[];
  /** Clean end reported by the worker. */
  ended: 'done' | 'suspended' | 'stopped' | null;
  /** Terminated on purpose (cancel, run timeout, shutdown): its exit is not a failure. */
  killed: boolean;
  /** What made the worker fail, when it did (error event, step timeout). */
  failure: { message: string; path?: string } | null;
  /** Another activation was asked for while this one ran. */
  again: boolean;
  stepTimers: Map<string, NodeJS.Timeout>;
  /** Set by close(): called once the activation is finished. */
  onFinish?: () => void;
}

/** A worker thread (one Bree job) and the activation it runs, if any. */
interface Slot {
  name: string;
  worker: Worker | null;
  current: Activation | null;
  /** Activations handed to it, its first included. */
  served: number;
  /** Terminated or told to retire: it takes no more activations. */
  leaving: boolean;
  idleTimer: NodeJS.Timeout | null;
  /** Set by close(): called once the thread is gone. */
  onGone?: () => void;
}

export interface PoolHooks {
  /** Builds the worker's data at the moment it starts (the latest recorded state); null skips. */
  dataFor(runId: string, activation: number): ActivationData | null;
  onMessage(act: Activation, msg: WorkerMessage): void;
  onExit(act: Activation): void;
}

export interface PoolOptions {
  /** An idle worker is retired after this long (a quiet daemon holds no threads). */
  idleMs: number;
  /** A worker is retired after this many activations (bounds what a leak can grow to). */
  maxUses: number;
}

type DistributiveOmitAct<T> = T extends unknown ? Omit<T, 'act'> : never;

/**
 * Runs activations in Bree worker threads, at most `max` threads at once; the rest of the requests
 * wait in FIFO order (a waiting run holds no thread). A thread outlives its activation: when one
 * ends, the worker idles and the next activation is handed to it by message (`activate`), which
 * skips Bree's job setup, the Worker start and the module loading. A new Bree job (unique name,
 * `root: false`, the compiled job file's absolute path) starts only when no worker is idle. Idle
 * workers are retired after `idleMs`, and any worker after `maxUses` activations or when its heap
 * passed half its limit. Cancel, timeouts and crashes end the whole worker, as before.
 */
export class ActivationPool {
  private readonly bree: Bree;
  readonly active = new Map<string, Activation>();
  private readonly slots = new Map<string, Slot>();
  /** Idle workers, the most recently used last (it is handed out first; the others may expire). */
  private readonly idle: Slot[] = [];
  private readonly queue = new Set<string>();
  private seq = 0;
  private slotSeq = 0;
  private closed = false;
  /** For `daemon.status` and benchmarks. */
  readonly figures = { started: 0, reused: 0, retired: 0 };

  constructor(
    private readonly jobPath: string,
    private readonly max: number,
    private readonly hooks: PoolHooks,
    private readonly log: Logger,
    private readonly maxOldGenerationSizeMb: number,
    private readonly opts: PoolOptions,
  ) {
    const noop = (): void => undefined;
    this.bree = new Bree({
      root: false,
      doRootCheck: false,
      logger: false,
      removeCompleted: true,
      jobs: [],
      // we listen to the workers ourselves; these stop Bree from logging each message
      workerMessageHandler: noop,
      errorHandler: noop,
    });
    this.bree.on('worker created', (name: string) => this.attach(name));
    this.bree.on('worker deleted', (name: string) => {
      const slot = this.slots.get(name);
      if (slot) this.gone(slot);
    });
  }

  get size(): number {
    return this.active.size;
  }

  get waiting(): number {
    return this.queue.size;
  }

  /** Worker threads alive (busy or idle) and idle ones. */
  get workers(): { live: number; idle: number } {
    return { live: this.slots.size, idle: this.idle.length };
  }

  /** Asks for an activation of a run; one already running is asked to go again after it ends. */
  request(runId: string): void {
    if (this.closed) return;
    const act = this.active.get(runId);
    if (act) {
      act.again = true;
      return;
    }
    this.queue.add(runId);
    this.pump();
  }

  /** Drops a queued request; returns whether there was one. */
  dequeue(runId: string): boolean {
    return this.queue.delete(runId);
  }

  isBusy(runId: string): boolean {
    return this.active.has(runId) || this.queue.has(runId);
  }

  /** Ends a run's activation now (cancel, run timeout) by ending its worker. Its exit is not treated as a failure. */
  terminate(runId: string): void {
    this.queue.delete(runId);
    const act = this.active.get(runId);
    if (!act) return;
    act.killed = true;
    act.again = false;
    this.kill(this.slots.get(act.name));
  }

  /** Fails the activation's step `path` (e.g. its timeout passed) by terminating the worker. */
  fail(act: Activation, message: string, path?: string): void {
    if (act.killed || act.ended) return;
    act.failure ??= { message, path };
    this.kill(this.slots.get(act.name));
  }

  post(act: Activation, msg: DistributiveOmitAct<ReplyMessage>): void {
    // an ended activation's worker may be running another one by now: its answers are dropped here
    if (act.killed || act.ended || !act.worker || this.slots.get(act.name)?.current !== act) return;
    this.send(act.worker, { ...msg, act: act.n } as ReplyMessage, act.runId);
  }

  private send(worker: Worker, msg: MainMessage, runId?: string): boolean {
    try {
      worker.postMessage(msg);
      return true;
    } catch (err) {
      this.log.warn({ err, run: runId }, 'could not post to a worker');
      return false;
    }
  }

  private kill(slot: Slot | undefined): void {
    if (!slot) return;
    slot.leaving = true;
    this.unidle(slot);
    void slot.worker?.terminate();
  }

  private pump(): void {
    while (!this.closed && this.queue.size > 0) {
      const slot = this.idle.pop() ?? null;
      if (slot?.leaving) continue;
      if (!slot && this.slots.size >= this.max) return;
      const runId = this.queue.values().next().value as string;
      this.queue.delete(runId);
      const n = ++this.seq;
      const data = this.hooks.dataFor(runId, n);
      if (!data) {
        if (slot) this.idle.push(slot);
        continue;
      }
      const act: Activation = { runId, n, name: '', worker: null, startSeq: -1, inflight: [], ended: null, killed: false, failure: null, again: false, stepTimers: new Map() };
      this.active.set(runId, act);
      if (slot) this.hand(slot, act, data);
      else void this.launch(act, data);
    }
  }

  /** Gives an idle worker its next activation. */
  private hand(slot: Slot, act: Activation, data: ActivationData): void {
    this.unidle(slot);
    slot.current = act;
    slot.served++;
    act.name = slot.name;
    act.worker = slot.worker;
    this.figures.reused++;
    if (!this.send(slot.worker!, { type: 'activate', data }, act.runId)) {
      act.failure = { message: 'could not hand the activation to a worker' };
      this.kill(slot);
    }
  }

  /** Starts a new worker (a Bree job) whose first activation is `data`. */
  private async launch(act: Activation, data: ActivationData): Promise<void> {
    const slot: Slot = { name: `worker-${++this.slotSeq}`, worker: null, current: act, served: 1, leaving: false, idleTimer: null };
    this.slots.set(slot.name, slot);
    act.name = slot.name;
    this.figures.started++;
    try {
      await this.bree.add({
        name: slot.name,
        path: this.jobPath,
        // --input-type and --eval flags of the parent make no sense for a job file (and fail the worker)
        worker: { workerData: data, resourceLimits: { maxOldGenerationSizeMb: this.maxOldGenerationSizeMb }, execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type') && !a.startsWith('--eval')) },
      });
      if (this.closed) {
        this.gone(slot);
        return;
      }
      await this.bree.run(slot.name);
      if (!slot.worker) throw new Error('Bree did not start a worker');
    } catch (err) {
      this.log.error({ err, run: act.runId }, 'could not start an activation');
      act.failure = { message: `could not start a worker: ${(err as Error).message}` };
      if (!slot.worker) this.gone(slot);
      else this.kill(slot);
    }
  }

  private attach(name: string): void {
    const slot = this.slots.get(name);
    const worker = this.bree.workers.get(name);
    if (!slot || !worker) return;
    slot.worker = worker;
    if (slot.current) slot.current.worker = worker;
    // started while the pool was closing, or its run was cancelled meanwhile: it must not run
    if (this.closed || slot.current?.killed) this.kill(slot);
    worker.on('message', (msg: WorkerMessage | string) => {
      if (typeof msg === 'string') return; // 'done' is Bree's; it terminates the worker
      const act = slot.current;
      // a message of an activation that already ended (never expected: each awaits its replies)
      if (!act || msg.act !== act.n) return;
      if (msg.type === 'end') act.ended = msg.reason;
      this.hooks.onMessage(act, msg);
      if (msg.type === 'end') this.release(slot, act, msg.heap_mb);
    });
    worker.on('error', (err: Error & { code?: string }) => {
      slot.leaving = true;
      this.unidle(slot);
      const act = slot.current;
      if (!act) return;
      const message = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'the step exceeded the worker memory limit' : `the worker crashed: ${err.message}`;
      act.failure ??= { message };
    });
    // Bree drops its own exit listener after 'done'; it always emits 'worker deleted'
  }

  /** The worker's activation ended cleanly: the worker idles (or retires), then the activation is finished. */
  private release(slot: Slot, act: Activation, heapMb: number | undefined): void {
    slot.current = null;
    if (!slot.leaving) {
      const big = heapMb !== undefined && heapMb > this.maxOldGenerationSizeMb / 2;
      if (this.closed || big || slot.served >= this.opts.maxUses) this.retire(slot);
      else {
        // parked before the activation finishes: the run's next activation can take this worker
        this.idle.push(slot);
        slot.idleTimer = setTimeout(() => this.retire(slot), this.opts.idleMs);
        slot.idleTimer.unref();
      }
    }
    this.finish(act);
  }

  /** Asks an idle worker to go (it says 'done'; Bree ends the thread and emits 'worker deleted'). */
  private retire(slot: Slot): void {
    if (slot.leaving || slot.current) return;
    slot.leaving = true;
    this.unidle(slot);
    this.figures.retired++;
    if (!slot.worker || !this.send(slot.worker, { type: 'retire' })) this.kill(slot);
  }

  private unidle(slot: Slot): void {
    if (slot.idleTimer) clearTimeout(slot.idleTimer);
    slot.idleTimer = null;
    const i = this.idle.indexOf(slot);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** The worker thread is gone (Bree's 'worker deleted', or it never started): forget it. */
  private gone(slot: Slot): void {
    if (this.slots.get(slot.name) !== slot) return;
    this.slots.delete(slot.name);
    slot.leaving = true;
    this.unidle(slot);
    const act = slot.current;
    slot.current = null;
    if (act) this.finish(act);
    slot.onGone?.();
    // a thread fewer: a waiting request may start one
    this.pump();
  }

  /** The activation is over (ended, or its worker is gone). */
  private finish(act: Activation): void {
    if (this.active.get(act.runId) !== act) return;
    this.active.delete(act.runId);
    for (const t of act.stepTimers.values()) clearTimeout(t);
    act.stepTimers.clear();
    if (!act.ended && !act.killed) act.failure ??= { message: 'the worker exited unexpectedly' };
    if (!this.closed) this.hooks.onExit(act);
    act.onFinish?.();
    this.pump();
  }

  /** Stops every worker without recording anything: their runs stay `running` and resume on the next start. */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.clear();
    // Not `await worker.terminate()`: when the worker's own 'done' reaches Bree meanwhile, Bree
    // removes every 'exit' listener of that worker, terminate()'s among them, and the promise never
    // settles (a daemon stop hung whenever an activation was just ending). Bree always emits
    // 'worker deleted', which forgets the worker and finishes its activation.
    this.idle.length = 0;
    const gone = [...this.slots.values()].map((slot) => {
      if (slot.current) slot.current.killed = true;
      if (slot.idleTimer) clearTimeout(slot.idleTimer);
      const done = new Promise<void>((resolve) => (slot.onGone = resolve));
      slot.leaving = true;
      slot.worker?.terminate().catch(() => undefined);
      return done;
    });
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)));
    await Promise.race([Promise.all(gone), bound]);
    clearTimeout(timer);
  }

  /** Bree, for the scheduler's cron jobs (one Bree instance per daemon). */
  get scheduler(): Bree {
    return this.bree;
  }
}

export type { ErrorData };
