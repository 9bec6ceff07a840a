import type { Worker } from 'node:worker_threads';
import Bree from 'bree';
import type { Logger } from 'pino';
import type { ActivationData, Batch, ErrorData, MainMessage, ReplyMessage, WorkerMessage } from './types.js';

/** One activation of one run, in one Bree worker (which runs others beside it and before it). */
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
  /** Ended on purpose (cancel, run timeout, shutdown): its end is not a failure. */
  killed: boolean;
  /** What made the activation fail, when it did (its thread crashed, a step timeout). */
  failure: { message: string; path?: string } | null;
  /** Another activation was asked for while this one ran (or it must run again: its thread died under it). */
  again: boolean;
  /** The pool asked the worker to stop it: nothing it asks from now on is answered but its end. */
  stopping: boolean;
  /** Ends its thread if the worker has not ended it within the grace time after `stopping`. */
  stopTimer?: NodeJS.Timeout;
  stepTimers: Map<string, NodeJS.Timeout>;
  /** Set by close(): called once the activation is finished. */
  onFinish?: () => void;
}

/** A worker thread (one Bree job) and the activations it runs. */
interface Slot {
  name: string;
  worker: Worker | null;
  /** The activations it runs now, by number. */
  acts: Map<number, Activation>;
  /** Activations handed to it, its first included. */
  served: number;
  /** Terminated or told to retire: it takes no more activations. */
  leaving: boolean;
  /** Used up (max uses, a big heap): it takes no more activations and retires once it runs none. */
  draining: boolean;
  /** Hosts one activation only: a run suspected of crashing its thread (see `suspects`). */
  solo: boolean;
  /** Why the thread died, when it crashed. */
  crash?: string;
  /** Definitions (ActivationData.defKey) this thread was sent and keeps. */
  defs: Set<number>;
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
  /** Worker threads at most (the activations are spread over them). */
  threads: number;
  /** Threads started before activations share one: more than the cores only adds switching. */
  spread: number;
  /** A stopped activation that has not ended after this long takes its thread down with it. */
  stopGraceMs: number;
}

type DistributiveOmitAct<T> = T extends unknown ? Omit<T, 'act'> : never;

/**
 * The parent's flags a worker may take: --input-type and --eval make no sense for a job file (and
 * fail the worker), and per-process V8 flags such as the daemon's --max-semi-space-size or
 * --expose-gc are refused by a worker (every activation failed); its heap is sized by `resourceLimits`.
 */
function workerExecArgv(): string[] {
  return process.execArgv.filter((a) => !a.startsWith('--input-type') && !a.startsWith('--eval') && !/^--(max[-_](semi|old)[-_]space[-_]size|expose[-_]gc|stack[-_]size)/.test(a));
}

/**
 * Runs activations in Bree worker threads: at most `max` activations at once over at most
 * `opts.threads` threads, each thread hosting up to ceil(max / threads) of them; the rest of the
 * requests wait in FIFO order (a waiting run holds no thread). An activation spends its time
 * awaiting the main thread (every durable write, tool call and model turn is asked for), so one
 * thread interleaves many, and starting one is a message to a running worker instead of a thread
 * start: recovery after a crash and many concurrent runs no longer queue behind 32 threads, and
 * 10,000 runs do not need 10,000 thread starts. New threads are started until `opts.spread`
 * (the cores) run, then activations share the least busy thread.
 *
 * Ending one activation (cancel, run timeout, step timeout) is cooperative: the worker is told to
 * stop it, and it unwinds at once whatever it awaited; only a worker that does not answer within
 * `stopGraceMs` (a step stuck in synchronous code) is terminated. A thread that dies (a crash, out
 * of memory) fails its activation when it ran one; when it ran several, the culprit is unknown, so
 * each goes again in a thread of its own (their step in flight runs again, as after a daemon
 * crash), and the one that crashes alone is failed. Idle workers are retired after `idleMs`, and
 * any worker after `maxUses` activations or when its heap passed half its limit, once it runs none.
 */
export class ActivationPool {
  private readonly bree: Bree;
  readonly active = new Map<string, Activation>();
  private readonly slots = new Map<string, Slot>();
  /** Workers that run no activation, the most recently used last (handed out first; the others may expire). */
  private readonly idle: Slot[] = [];
  private readonly queue = new Set<string>();
  /** Runs whose activation was in a thread that died with others in it: the next runs alone. */
  private readonly suspects = new Set<string>();
  private readonly perThread: number;
  private seq = 0;
  private slotSeq = 0;
  /** A number per definition object (the engine shares one object per loaded definition). */
  private readonly defKeys = new WeakMap<object, number>();
  private defSeq = 0;
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
    this.perThread = Math.max(1, Math.ceil(max / Math.max(1, Math.min(opts.threads, max))));
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

  /** Ends a run's activation now (cancel, run timeout, a refused write). Its end is not a failure. */
  terminate(runId: string): void {
    this.queue.delete(runId);
    const act = this.active.get(runId);
    if (!act) return;
    act.killed = true;
    act.again = false;
    this.stop(act);
  }

  /** Fails the activation's step `path` (e.g. its timeout passed) by ending the activation. */
  fail(act: Activation, message: string, path?: string): void {
    if (act.killed || act.ended) return;
    act.failure ??= { message, path };
    this.stop(act);
  }

  post(act: Activation, msg: DistributiveOmitAct<ReplyMessage>): void {
    // an ended or stopping activation gets no more answers (its worker runs others)
    if (act.killed || act.ended || act.stopping || !act.worker || this.slots.get(act.name)?.acts.get(act.n) !== act) return;
    this.send(act.worker, { ...msg, act: act.n } as ReplyMessage);
  }

  /** What each worker is sent in this turn of the event loop: one postMessage per worker (types.ts Batch). */
  private readonly outbox = new Map<Worker, MainMessage[]>();

  private send(worker: Worker, msg: MainMessage): void {
    const q = this.outbox.get(worker);
    if (q) {
      q.push(msg);
      return;
    }
    if (this.outbox.size === 0) setImmediate(() => this.flush());
    this.outbox.set(worker, [msg]);
  }

  private flush(): void {
    const all = [...this.outbox];
    this.outbox.clear();
    for (const [worker, msgs] of all) {
      try {
        worker.postMessage(msgs.length === 1 ? msgs[0] : ({ type: 'batch', msgs } satisfies Batch<MainMessage>));
      } catch {
        // one message that cannot be sent (a value that does not clone) must not hold back the others
        for (const msg of msgs) {
          try {
            worker.postMessage(msg);
          } catch (err) {
            this.unsent(worker, msg, err);
          }
        }
      }
    }
  }

  /** A message that could not be posted: the activation it was for cannot go on. */
  private unsent(worker: Worker, msg: MainMessage, err: unknown): void {
    const slot = [...this.slots.values()].find((s) => s.worker === worker);
    const n = msg.type === 'activate' ? msg.data.activation : msg.type === 'retire' ? undefined : msg.act;
    const act = n === undefined ? undefined : slot?.acts.get(n);
    this.log.warn({ err, run: act?.runId, message: msg.type }, 'could not post to a worker');
    if (msg.type === 'retire' || msg.type === 'stop') this.kill(slot);
    else if (act) this.fail(act, msg.type === 'activate' ? 'could not hand the activation to a worker' : `could not answer the worker: ${(err as Error).message}`);
  }

  /**
   * Asks the worker to end one activation; it says 'end' at once unless a step holds the thread in
   * synchronous code, in which case the thread is terminated after the grace time (and the
   * activations beside it go again, see `gone`).
   */
  private stop(act: Activation): void {
    const slot = this.slots.get(act.name);
    if (!slot || act.stopping || slot.acts.get(act.n) !== act) return;
    act.stopping = true;
    if (!slot.worker) {
      // its thread is still starting: nothing ran yet, and nothing else is in it
      this.kill(slot);
      return;
    }
    this.send(slot.worker, { type: 'stop', act: act.n });
    const grace = setTimeout(() => {
      if (slot.acts.get(act.n) !== act) return;
      this.log.warn({ run: act.runId, worker: slot.name }, 'an activation did not stop when asked; ending its worker thread');
      this.kill(slot);
    }, this.opts.stopGraceMs);
    grace.unref();
    act.stopTimer = grace;
  }

  private kill(slot: Slot | undefined): void {
    if (!slot) return;
    slot.leaving = true;
    this.unidle(slot);
    void slot.worker?.terminate();
  }

  /** Where the next activation goes: a slot, 'launch' (a new thread), or null (wait). */
  private pick(solo: boolean): Slot | 'launch' | null {
    if (solo) return this.slots.size < this.opts.threads + this.suspects.size ? 'launch' : null;
    // an idle thread first (the most recently used: the others may expire), then a new one while
    // fewer than `spread` run, then the least busy one; a thread still starting holds the others back
    const idle = this.idle.findLast((s) => !s.leaving && !s.draining && !s.solo && s.worker);
    if (idle) return idle;
    let best: Slot | null = null;
    let threads = 0;
    let starting = false;
    for (const slot of this.slots.values()) {
      if (slot.leaving || slot.solo) continue;
      threads++;
      if (!slot.worker) starting = true;
      else if (!slot.draining && slot.acts.size < this.perThread && (!best || slot.acts.size < best.acts.size)) best = slot;
    }
    if (threads < this.opts.threads && (!best || threads < this.opts.spread) && !starting) return 'launch';
    return best;
  }

  private pump(): void {
    while (!this.closed && this.queue.size > 0 && this.active.size < this.max) {
      const runId = this.queue.values().next().value as string;
      const solo = this.suspects.has(runId);
      const where = this.pick(solo);
      if (where === null) return;
      this.queue.delete(runId);
      const n = ++this.seq;
      const data = this.hooks.dataFor(runId, n);
      if (!data) continue;
      let key = this.defKeys.get(data.def);
      if (key === undefined) this.defKeys.set(data.def, (key = ++this.defSeq));
      data.defKey = key;
      const act: Activation = { runId, n, name: '', worker: null, startSeq: -1, inflight: [], ended: null, killed: false, failure: null, again: false, stopping: false, stepTimers: new Map() };
      this.active.set(runId, act);
      if (where === 'launch') void this.launch(act, data, solo);
      else this.hand(where, act, data);
    }
  }

  /** Gives a running worker one more activation. */
  private hand(slot: Slot, act: Activation, data: ActivationData): void {
    this.unidle(slot);
    slot.acts.set(act.n, act);
    slot.served++;
    if (slot.served >= this.opts.maxUses) slot.draining = true;
    act.name = slot.name;
    act.worker = slot.worker;
    this.figures.reused++;
    const known = data.defKey !== undefined && slot.defs.has(data.defKey);
    if (data.defKey !== undefined) slot.defs.add(data.defKey);
    // a thread that was sent many definitions (edited workflows) retires once idle: it keeps them all
    if (slot.defs.size > 200) slot.draining = true;
    this.send(slot.worker!, { type: 'activate', data: known ? { ...data, def: null } : data });
  }

  /** Starts a new worker (a Bree job) whose first activation is `data`. */
  private async launch(act: Activation, data: ActivationData, solo: boolean): Promise<void> {
    const slot: Slot = { name: `worker-${++this.slotSeq}`, worker: null, acts: new Map([[act.n, act]]), served: 1, leaving: false, draining: this.opts.maxUses <= 1, solo, idleTimer: null, defs: new Set(data.defKey === undefined ? [] : [data.defKey]) };
    this.slots.set(slot.name, slot);
    act.name = slot.name;
    this.figures.started++;
    try {
      await this.bree.add({
        name: slot.name,
        path: this.jobPath,
        worker: { workerData: data, resourceLimits: { maxOldGenerationSizeMb: this.maxOldGenerationSizeMb }, execArgv: workerExecArgv() },
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
    for (const act of slot.acts.values()) act.worker = worker;
    // started while the pool was closing, or its run was stopped meanwhile: it must not run
    if (this.closed || [...slot.acts.values()].some((a) => a.stopping || a.killed)) this.kill(slot);
    const onMessage = (msg: WorkerMessage): void => {
      const act = slot.acts.get(msg.act);
      // a message of an activation that already ended (never expected: each awaits its replies)
      if (!act) return;
      if (msg.type === 'end') {
        act.ended = msg.reason;
        this.hooks.onMessage(act, msg);
        this.release(slot, act, msg.heap_mb);
        return;
      }
      // being stopped: it is told no, so whatever it awaited unwinds (the stop is on its way)
      if (act.stopping) {
        if ('id' in msg) this.send(worker, { type: 'reply', act: act.n, id: msg.id, ok: false, error: { message: 'the activation was stopped', code: 'stopped', retryable: false } });
        return;
      }
      this.hooks.onMessage(act, msg);
    };
    worker.on('message', (msg: WorkerMessage | Batch<WorkerMessage> | string) => {
      if (typeof msg === 'string') return; // 'done' is Bree's; it terminates the worker
      if (msg.type === 'batch') for (const m of msg.msgs) onMessage(m);
      else onMessage(msg);
    });
    worker.on('error', (err: Error & { code?: string }) => {
      slot.leaving = true;
      this.unidle(slot);
      slot.crash = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'the step exceeded the worker memory limit' : `the worker crashed: ${err.message}`;
      this.log.warn({ worker: slot.name, runs: [...slot.acts.values()].map((a) => a.runId), err: err.message }, 'a worker thread died');
    });
    // Bree drops its own exit listener after 'done'; it always emits 'worker deleted'
    // a thread is up: requests that waited for it (or for one to start) may go now
    this.pump();
  }

  /** An activation ended cleanly: when its worker runs no other, it idles (or retires). */
  private release(slot: Slot, act: Activation, heapMb: number | undefined): void {
    slot.acts.delete(act.n);
    if (!slot.leaving) {
      if (heapMb !== undefined && heapMb > this.maxOldGenerationSizeMb / 2) slot.draining = true;
      if (slot.acts.size === 0) {
        if (this.closed || slot.draining || slot.solo) this.retire(slot);
        else {
          // parked before the activation finishes: the run's next activation can take this worker
          this.idle.push(slot);
          slot.idleTimer = setTimeout(() => this.retire(slot), this.opts.idleMs);
          slot.idleTimer.unref();
        }
      }
    }
    // it ran to its end alone: not the one that crashed a shared thread
    if (slot.solo && act.ended !== 'stopped') this.suspects.delete(act.runId);
    this.finish(act);
  }

  /** Asks an idle worker to go (it says 'done'; Bree ends the thread and emits 'worker deleted'). */
  private retire(slot: Slot): void {
    if (slot.leaving || slot.acts.size > 0) return;
    slot.leaving = true;
    this.unidle(slot);
    this.figures.retired++;
    if (!slot.worker) this.kill(slot);
    else this.send(slot.worker, { type: 'retire' });
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
    const acts = [...slot.acts.values()];
    slot.acts.clear();
    // the activations it took down with it: none, when they had ended, were stopped or the pool closed
    const victims = acts.filter((a) => !a.ended && !a.killed && !a.stopping && !a.failure);
    if (victims.length === 1 && acts.length === 1) victims[0].failure = { message: slot.crash ?? 'the worker exited unexpectedly' };
    else if (victims.length > 0) {
      // a stop that timed out ended the thread: the others in it did nothing wrong and go again.
      // A crash with several in it: which one caused it is unknown, so each goes again alone (its
      // step in flight runs again, as after a daemon crash) and the one that crashes alone fails.
      const forced = acts.some((a) => a.stopping);
      for (const a of victims) {
        a.again = true;
        if (!forced) this.suspects.add(a.runId);
      }
      if (!forced) this.log.warn({ worker: slot.name, runs: victims.map((a) => a.runId) }, 'a worker thread running several activations died; each runs again in a thread of its own');
    }
    for (const act of acts) {
      // a failure decided for it stands; the one that crashed alone is no longer a suspect
      if (act.failure) this.suspects.delete(act.runId);
      this.finish(act);
    }
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
    clearTimeout(act.stopTimer);
    if (!act.ended && !act.killed && !act.again) act.failure ??= { message: 'the worker exited unexpectedly' };
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
    // 'worker deleted', which forgets the worker and finishes its activations.
    this.idle.length = 0;
    const gone = [...this.slots.values()].map((slot) => {
      for (const act of slot.acts.values()) act.killed = true;
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
