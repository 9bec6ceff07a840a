import type { Worker } from 'node:worker_threads';
import Bree from 'bree';
import type { Logger } from 'pino';
import type { ActivationData, ErrorData, MainMessage, WorkerMessage } from './types.js';

/** One Bree worker running one activation of one run. */
export interface Activation {
  runId: string;
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
  /** Set by close(): called once the activation is finished (its worker gone). */
  onFinish?: () => void;
}

export interface PoolHooks {
  /** Builds the worker's data at the moment it starts (the latest recorded state); null skips. */
  dataFor(runId: string, activation: number): ActivationData | null;
  onMessage(act: Activation, msg: WorkerMessage): void;
  onExit(act: Activation): void;
}

/**
 * Starts activations as Bree jobs: one `bree.add` per activation under a unique name (Bree refuses
 * to run a job that is already running), `root: false` with the compiled job file's absolute path,
 * at most `max` at once; the rest wait in FIFO order. A waiting run holds no thread.
 */
export class ActivationPool {
  private readonly bree: Bree;
  readonly active = new Map<string, Activation>();
  private readonly byName = new Map<string, Activation>();
  private readonly queue = new Set<string>();
  private seq = 0;
  private closed = false;

  constructor(
    private readonly jobPath: string,
    private readonly max: number,
    private readonly hooks: PoolHooks,
    private readonly log: Logger,
    private readonly maxOldGenerationSizeMb: number,
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
      const act = this.byName.get(name);
      if (act) this.finish(act);
    });
  }

  get size(): number {
    return this.active.size;
  }

  get waiting(): number {
    return this.queue.size;
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

  /** Ends a run's activation now (cancel, run timeout). Its exit is not treated as a failure. */
  terminate(runId: string): void {
    this.queue.delete(runId);
    const act = this.active.get(runId);
    if (!act) return;
    act.killed = true;
    act.again = false;
    void act.worker?.terminate();
  }

  /** Fails the activation's step `path` (e.g. its timeout passed) by terminating the worker. */
  fail(act: Activation, message: string, path?: string): void {
    if (act.killed || act.ended) return;
    act.failure ??= { message, path };
    void act.worker?.terminate();
  }

  post(act: Activation, msg: MainMessage): void {
    if (act.killed || !act.worker) return;
    try {
      act.worker.postMessage(msg);
    } catch (err) {
      this.log.warn({ err, run: act.runId }, 'could not post to an activation');
    }
  }

  private pump(): void {
    while (!this.closed && this.active.size < this.max && this.queue.size > 0) {
      const runId = this.queue.values().next().value as string;
      this.queue.delete(runId);
      const n = ++this.seq;
      const data = this.hooks.dataFor(runId, n);
      if (!data) continue;
      const name = `run-${runId}-${n}`;
      const act: Activation = { runId, name, worker: null, startSeq: -1, inflight: [], ended: null, killed: false, failure: null, again: false, stepTimers: new Map() };
      this.active.set(runId, act);
      this.byName.set(name, act);
      void this.launch(act, data);
    }
  }

  private async launch(act: Activation, data: ActivationData): Promise<void> {
    try {
      await this.bree.add({
        name: act.name,
        path: this.jobPath,
        // --input-type and --eval flags of the parent make no sense for a job file (and fail the worker)
        worker: { workerData: data, resourceLimits: { maxOldGenerationSizeMb: this.maxOldGenerationSizeMb }, execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type') && !a.startsWith('--eval')) },
      });
      if (this.closed) {
        this.finish(act);
        return;
      }
      await this.bree.run(act.name);
      if (!act.worker) throw new Error('Bree did not start a worker');
    } catch (err) {
      this.log.error({ err, run: act.runId }, 'could not start an activation');
      act.failure = { message: `could not start a worker: ${(err as Error).message}` };
      this.finish(act);
    }
  }

  private attach(name: string): void {
    const act = this.byName.get(name);
    const worker = this.bree.workers.get(name);
    if (!act || !worker) return;
    act.worker = worker;
    // started while the pool was closing: it must not run
    if (this.closed) void worker.terminate();
    worker.on('message', (msg: WorkerMessage | string) => {
      if (typeof msg === 'string') return; // 'done' is Bree's; it terminates the worker
      if (msg.type === 'end') act.ended = msg.reason;
      this.hooks.onMessage(act, msg);
    });
    worker.on('error', (err: Error & { code?: string }) => {
      const message = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'the step exceeded the worker memory limit' : `the worker crashed: ${err.message}`;
      act.failure ??= { message };
    });
    // Bree drops its own exit listener after 'done'; it always emits 'worker deleted'
  }

  /** Called from the engine's 'worker deleted' hook and for workers that never started. */
  private finish(act: Activation): void {
    if (this.byName.get(act.name) !== act) return;
    this.byName.delete(act.name);
    if (this.active.get(act.runId) === act) this.active.delete(act.runId);
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
    // 'worker deleted', which finishes the activation.
    const finished = [...this.active.values()].map((a) => {
      a.killed = true;
      const done = new Promise<void>((resolve) => (a.onFinish = resolve));
      a.worker?.terminate().catch(() => undefined);
      return done;
    });
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000)));
    await Promise.race([Promise.all(finished), bound]);
    clearTimeout(timer);
  }

  /** Bree, for the scheduler's cron jobs (one Bree instance per daemon). */
  get scheduler(): Bree {
    return this.bree;
  }
}

export type { ErrorData };
