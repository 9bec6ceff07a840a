/**
 * A Bree worker thread that hosts activations of runs, several at once. Each activation walks its
 * run's workflow from the state the main thread recorded, runs steps that are not finished yet, and
 * asks the main thread for every side effect and every durable write. It never sleeps: a wait,
 * approval, input, retry delay or repeat interval ends the activation, and the main thread starts a
 * new one when it is due.
 *
 * The thread outlives its activations: starting one (Bree + Worker + loading these modules) costs
 * tens of ms of CPU, so the pool hands further activations to a running worker by message; a
 * thread hosts up to the pool's per-thread limit at once (they spend their time awaiting the main
 * thread, so one thread interleaves many). All state of an activation lives in the closure of
 * `activation()`; only caches that hold no run data stay at module level (loaded modules, compiled
 * expressions, compiled output schemas). Every message carries the activation's number, so nothing
 * of one activation can reach another. The main thread ends one activation by asking (`stop`): it
 * unwinds at once, whatever it was awaiting, and reports its end; the thread goes on with the rest.
 */
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { parseDuration } from '../../../config/duration.js';
import type { Step, Workflow } from '../../../workflows/schema.js';
import { applyEvent, type AnyEvent } from '../../../protocol/run-view.js';
import { childPath, retryAt, stepKey, stepKind } from '../step-paths.js';
import type { AgentIo } from './agent.js';
import type { ActivationData, Batch, Directive, ErrorData, MainMessage, ReplyMessage, RunRecord, StepState, WaitingFor, WorkerBody, WorkerEvent, WorkerMessage } from '../types.js';

const port = parentPort!;

/** What this thread sends in the current turn of its event loop: one postMessage for all of it. */
let outbox: WorkerMessage[] = [];

function send(msg: WorkerMessage): void {
  if (outbox.length === 0) setImmediate(flush);
  outbox.push(msg);
}

function flush(): void {
  const msgs = outbox;
  outbox = [];
  port.postMessage(msgs.length === 1 ? msgs[0] : ({ type: 'batch', msgs } satisfies Batch<WorkerMessage>));
}

/**
 * Templates and expressions need jexl, whose loading is a third of a worker's start-up cost; a
 * workflow with no `{{ }}` and no expression (`when`, `repeat.until`) runs without it. Without
 * templates, rendering leaves every value as it is (the same result template.ts gives).
 */
type Templates = Pick<typeof import('../../../workflows/template.js'), 'render' | 'evaluate' | 'evaluateCondition' | 'isTruthy'>;
const plain: Templates = {
  render: (value) => value,
  evaluateCondition: (when) => when === undefined || when === true || when === false ? when !== false : true,
  evaluate: () => {
    throw new Error('expressions are not loaded in this activation (engine bug)');
  },
  isTruthy: (value) => Boolean(value),
};

/** Per definition kept by this thread (see `defs`): answered once, not per activation. */
const templated = new WeakMap<Workflow, boolean>();

function needsTemplates(d: Workflow): boolean {
  let yes = templated.get(d);
  if (yes === undefined) {
    const walk = (steps: Step[] | undefined): boolean => (steps ?? []).some((st) => typeof st.when === 'string' || typeof st.repeat?.until === 'string' || walk(st.steps) || walk(st.parallel));
    yes = JSON.stringify(d).includes('{{') || walk(d.steps);
    templated.set(d, yes);
  }
  return yes;
}

/** The real templates, loaded by the first activation that needs them and kept for the thread's life. */
let loadedTemplates: Templates | null = null;

/** Thrown to unwind the activation without recording anything more (wait, pause, cancel). */
class Suspend extends Error {}

/** A step failure, with whether a retry may help. */
class StepFailure extends Error {
  constructor(
    message: string,
    readonly retryable = true,
  ) {
    super(message);
  }
}

type RequestMessage = Extract<WorkerBody, { id: number }>;
type DistributiveOmitId<T> = T extends unknown ? Omit<T, 'id'> : never;

interface Scope {
  params: Record<string, unknown>;
  llm: { configured: boolean; model: string | null };
  steps: Record<string, { output: unknown; status: string }>;
  run: { id: string; workflow: string; step_key: string | null };
  iteration?: number;
}

function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null && typeof (e as ErrorData).message === 'string') return (e as ErrorData).message;
  return String(e);
}

const SUSPENDED = Symbol('suspended');

/** One activation of one run: `run()` walks the workflow and says how the activation ended. */
function activation(data: ActivationData): { n: number; reply(msg: ReplyMessage): void; stop(): void; run(): Promise<'done' | 'suspended' | 'stopped'> } {
  const def: Workflow = data.def;
  const runId = data.runId;
  /** Every message of this activation carries it; the main thread drops any other. */
  const n = data.activation;
  const local = { ...data.run, status: 'running', waiting_for: null, usage: { prompt_tokens: 0, completion_tokens: 0, tool_calls: 0 } } as unknown as RunRecord;
  const states: Record<string, StepState> = local.steps;

  let templates: Templates = plain;
  const { render, evaluate, evaluateCondition, isTruthy } = {
    render: (v: unknown, sc: object) => templates.render(v, sc),
    evaluate: (e: string, sc: object) => templates.evaluate(e, sc),
    evaluateCondition: (w: string | boolean | undefined, sc: object) => templates.evaluateCondition(w, sc),
    isTruthy: (v: unknown) => templates.isTruthy(v),
  };

  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: ErrorData) => void }>();
  let stopping = false;
  /** Set by `stop()`: the main thread ended this activation; it asks nothing more. */
  let ended = false;
  let onStopped: (() => void) | null = null;
  const stoppedByMain = new Promise<'stopped'>((resolve) => (onStopped = () => resolve('stopped')));
  const STOPPED: ErrorData = { message: 'the activation was stopped', code: 'stopped', retryable: false };

  function request<T>(msg: DistributiveOmitId<RequestMessage>): Promise<T> {
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      if (ended) return reject(STOPPED);
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      send({ ...msg, id, act: n } as WorkerMessage);
    });
  }

  /**
   * A finished step's result rides with the next transition (the next step's start, a wait, the
   * run's end): still durable before the next step does anything, at half the fsyncs. A crash in
   * between re-runs that step, which at-least-once allows.
   */
  let deferred: WorkerEvent[] = [];

  function recordLater(events: WorkerEvent[]): void {
    for (const e of events) applyLocal(e);
    deferred.push(...events);
  }

  /** Records events durably; resolves once they are fsynced. A `stop` directive unwinds the activation. */
  async function record(events: WorkerEvent[], notify?: { step: string; text: string; level: 'info' | 'warning' | 'critical'; channel?: string }): Promise<{ delivered_to?: string[] }> {
    for (const e of events) applyLocal(e);
    const all = deferred.length ? [...deferred, ...events] : events;
    deferred = [];
    const reply = await request<{ directive: Directive; delivered_to?: string[] }>({ type: 'transition', events: all, notify });
    if (reply.directive === 'stop') stopping = true;
    return reply;
  }

  /** The same reducer the main thread runs, on this activation's copy, so both sides agree. */
  function applyLocal(e: WorkerEvent): void {
    applyEvent(local, { ...e, at: new Date().toISOString() } as AnyEvent);
  }

  function scopeFor(parentScope: Scope | null): Scope {
    if (parentScope) return { ...parentScope, steps: { ...parentScope.steps } };
    return { params: data.run.params, llm: data.llm ?? { configured: false, model: null }, steps: {}, run: { id: runId, workflow: def.id, step_key: null } };
  }

  /**
   * Runs a list of steps under `prefix`. Returns normally when all are done; throws Suspend when the
   * activation must end, StepFailure when a step failed for good and on_error says fail.
   */
  async function runList(steps: Step[], scope: Scope, pathOf: (s: Step) => string, top = false): Promise<void> {
    for (const step of steps) {
      if (stopping) throw new Suspend();
      const path = pathOf(step);
      try {
        scope.steps[step.id] = await runStep(step, path, scope);
      } catch (e) {
        if (top && e instanceof StepFailure) failedTop = path;
        throw e;
      }
    }
  }

  let failedTop: string | null = null;

  async function runStep(step: Step, path: string, scope: Scope): Promise<{ output: unknown; status: string }> {
    const st = states[path];
    if (st?.status === 'succeeded' || st?.status === 'skipped') return { output: st.output, status: st.status };
    if (st?.status === 'rejected') {
      // an approval said no: the step ended rejected; `error` is set when the rejection fails the run
      if (st.error && step.on_error !== 'continue') throw new StepFailure(`step ${path} failed: ${st.error}`, false);
      return { output: st.output, status: 'rejected' };
    }
    if (st?.status === 'failed') {
      // a failed step the run went on past (a later activation): continue_if_retryable let it pass then
      if (step.on_error === 'continue' || step.on_error === 'continue_if_retryable') return { output: null, status: 'failed' };
      throw new StepFailure(`step ${path} failed: ${st.error}`);
    }
    if (st?.status === 'waiting' || (st?.status === 'retrying' && st.retry_at)) throw new Suspend();

    let attempt: number;
    let rerun = false;
    if (st === undefined) {
      let run: boolean;
      try {
        run = evaluateCondition(step.when, { ...scope, run: { ...scope.run, step_key: stepKey(runId, path, 1) } });
      } catch (e) {
        // a `when` that cannot be evaluated fails this step (retry does not help a bad expression)
        await record([{ type: 'step.started', step: path, attempt: 1, key: stepKey(runId, path, 1) }]);
        return failStep(step, path, 1, errorText(e), scope, false);
      }
      if (!run) {
        await record([{ type: 'step.skipped', step: path }]);
        return { output: null, status: 'skipped' };
      }
      attempt = 1;
    } else if (st.status === 'retrying') attempt = st.attempts + 1;
    else {
      // in flight when the last activation ended (crash, kill -9, timeout): run it again, same key
      attempt = Math.max(1, st.attempts);
      rerun = true;
    }
    const key = stepKey(runId, path, attempt);
    const stepScope: Scope = { ...scope, run: { ...scope.run, step_key: key } };
    const kind = stepKind(step);

    // a repeat records its own start (with its rendered interval); a re-run is marked as such
    if (kind !== 'repeat') await record([{ type: 'step.started', step: path, attempt, key, ...(rerun ? { rerun: true } : {}) }]);

    try {
      const output = await execute(step, kind, path, attempt, key, stepScope, rerun);
      if (output === SUSPENDED) throw new Suspend();
      return { output, status: 'succeeded' };
    } catch (e) {
      if (e instanceof Suspend) throw e;
      return failStep(step, path, attempt, errorText(e), scope, !(e instanceof StepFailure) || e.retryable);
    }
  }

  async function failStep(step: Step, path: string, attempt: number, error: string, _scope: Scope, retryable: boolean): Promise<{ output: unknown; status: string }> {
    const at = retryAt(step, attempt, Date.now(), retryable);
    await record([{ type: 'step.failed', step: path, attempt, error, retry_at: at }]);
    if (at) throw new Suspend();
    if (step.on_error === 'continue' || (step.on_error === 'continue_if_retryable' && retryable)) return { output: null, status: 'failed' };
    throw new StepFailure(`step ${path} failed: ${error}`, false);
  }

  async function execute(step: Step, kind: ReturnType<typeof stepKind>, path: string, attempt: number, key: string, scope: Scope, rerun: boolean): Promise<unknown> {
    switch (kind) {
      case 'tool':
        return runTool(step, path, key, scope);
      case 'notify': {
        const n = step.notify!;
        const text = String(render(n.text, scope));
        // the main thread routes it and answers where it was queued (the recorded output says the same)
        const reply = await record([{ type: 'step.succeeded', step: path, output: { delivered_to: [] } }], { step: path, text, level: n.level, channel: n.channel });
        const output = { delivered_to: reply.delivered_to ?? [] };
        if (states[path]) states[path].output = output;
        return output;
      }
      case 'agent': {
        const io: AgentIo = {
          request: async <T>(msg: DistributiveOmitId<RequestMessage>): Promise<T> => {
            const r = await request<T & { recorded?: WorkerEvent[] }>(msg);
            // what the main thread committed for this request (a model turn, a tool call, a wait)
            for (const e of r?.recorded ?? []) applyLocal(e);
            return r;
          },
          record: (events) => record(events),
          state: () => states[path],
          render: (v) => render(v, scope),
          suspend: () => {
            throw new Suspend();
          },
          fail: (message, retryable) => {
            throw new StepFailure(message, retryable);
          },
        };
        // "seen before": similar past findings of this workflow and service, from memory (never fatal)
        const recall = states[path]?.agent?.started ? '' : String((await request<{ text?: string }>({ type: 'agent.recall', step: path, prompt: String(render(step.agent!.prompt, scope)) }).catch(() => ({ text: '' }))).text ?? '');
        // loaded only by activations that run an agent (ajv is not free to load in every worker)
        const [{ runAgent }, { validateOutput }] = await Promise.all([import('./agent.js'), import('./output-schema.js')]);
        const { output } = await runAgent(step, path, attempt, io, validateOutput, recall);
        await record([{ type: 'step.succeeded', step: path, output }]);
        return output;
      }
      case 'wait': {
        const w = step.wait!;
        let until: number;
        if (typeof w === 'object' && 'until' in w) {
          until = Date.parse(String(render(w.until, scope)));
          if (Number.isNaN(until)) throw new StepFailure(`wait.until is not a time: ${w.until}`, false);
        } else until = Date.now() + renderDuration(w, scope, 'wait');
        await record([{ type: 'step.waiting', step: path, waiting_for: { kind: 'timer', step: path, until: new Date(until).toISOString() } }]);
        return SUSPENDED;
      }
      case 'approval': {
        const a = step.approval!;
        const timeout = a.timeout === undefined ? null : renderDuration(a.timeout, scope, 'approval.timeout');
        const waiting_for: WaitingFor = {
          kind: 'approval',
          step: path,
          prompt: String(render(a.prompt, scope)),
          until: timeout === null ? null : new Date(Date.now() + timeout).toISOString(),
          approvers: a.approvers ?? [],
          resolve: a.resolve,
          on_timeout: a.on_timeout,
        };
        await record([{ type: 'step.waiting', step: path, waiting_for }]);
        return SUSPENDED;
      }
      case 'input': {
        const i = step.input!;
        const timeout = i.timeout === undefined ? null : renderDuration(i.timeout, scope, 'input.timeout');
        await record([{ type: 'step.waiting', step: path, waiting_for: { kind: 'input', step: path, prompt: String(render(i.prompt, scope)), until: timeout === null ? null : new Date(Date.now() + timeout).toISOString() } }]);
        return SUSPENDED;
      }
      case 'parallel': {
        const children = step.parallel!;
        const branchScope = scopeFor(scope);
        const results = await Promise.allSettled(
          children.map(async (c) => {
            try {
              return await runStep(c, childPath(path, c.id), branchScope);
            } catch (e) {
              if (e instanceof Suspend && !stopping) {
                throw new StepFailure(`step ${c.id} cannot wait inside a parallel step`, false);
              }
              throw e;
            }
          }),
        );
        if (stopping || results.some((r) => r.status === 'rejected' && r.reason instanceof Suspend)) throw new Suspend();
        const failed = results.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
        const output: Record<string, unknown> = {};
        children.forEach((c, i) => (output[c.id] = (results[i] as PromiseFulfilledResult<{ output: unknown }>).value.output));
        await record([{ type: 'step.succeeded', step: path, output }]);
        return output;
      }
      case 'repeat':
        return runRepeat(step, path, attempt, key, scope, rerun);
    }
  }

  function renderDuration(v: string | number, scope: Scope, what: string): number {
    const text = typeof v === 'string' ? render(v, scope) : v;
    const ms = typeof text === 'number' ? text * 1000 : parseDuration(String(text));
    if (ms === null) throw new StepFailure(`${what}: "${String(text)}" is not a duration`, false);
    return ms;
  }

  async function runTool(step: Step, path: string, key: string, scope: Scope): Promise<unknown> {
    const args = (render(step.with ?? {}, scope) ?? {}) as Record<string, unknown>;
    if (data.faults && step.tool!.startsWith('engine_test.')) return runFault(step.tool!, path, args);
    const timeoutMs = step.timeout === undefined ? undefined : renderDuration(step.timeout, scope, 'timeout');
    const cacheTtlMs = step.cache === undefined ? undefined : renderDuration(step.cache, scope, 'cache');
    let result: { isError: boolean; retryable?: boolean; structured?: unknown; text?: string };
    try {
      result = await request({ type: 'tool', step: path, tool: step.tool!, args, key, timeoutMs, cacheTtlMs });
    } catch (e) {
      const err = e as ErrorData;
      if (err.code === 'stopped') throw new Suspend();
      throw new StepFailure(errorText(e), err.retryable !== false);
    }
    // the server may say a retry cannot help (no such pid, a bad pattern); unsaid means it may
    if (result.isError) throw new StepFailure(`${step.tool} returned an error: ${(result.text ?? '').slice(0, 500)}`, result.retryable !== false);
    const output = result.structured ?? result.text ?? null;
    recordLater([{ type: 'step.succeeded', step: path, output }]);
    return output;
  }

  /** Test-only faults: prove that a crash, an out-of-memory worker or a throw fails only its step. */
  async function runFault(tool: string, path: string, args: Record<string, unknown>): Promise<unknown> {
    switch (tool) {
      case 'engine_test.noop': {
        const output = args.value ?? null;
        recordLater([{ type: 'step.succeeded', step: path, output }]);
        return output;
      }
      case 'engine_test.throw':
        throw new StepFailure(String(args.message ?? 'step threw'));
      case 'engine_test.crash':
        setImmediate(() => {
          throw new Error(String(args.message ?? 'worker crashed'));
        });
        return new Promise(() => undefined);
      case 'engine_test.oom': {
        const hog: unknown[] = [];
        for (;;) hog.push(new Array(1e6).fill(hog.length));
      }
      case 'engine_test.hang':
        return new Promise(() => undefined);
      default:
        throw new StepFailure(`unknown fault ${tool}`, false);
    }
  }

  async function runRepeat(step: Step, path: string, attempt: number, key: string, scope: Scope, rerun: boolean): Promise<unknown> {
    const r = step.repeat!;
    let st = states[path];
    if (!st || st.status !== 'running' || !rerun) {
      const every = renderDuration(r.every, scope, 'repeat.every');
      const forMs = r.for === undefined ? null : renderDuration(r.for, scope, 'repeat.for');
      await record([{ type: 'step.started', step: path, attempt, key, for_ms: forMs, every_ms: every }]);
      st = states[path];
    }
    const children = step.steps!;
    for (;;) {
      if (stopping) throw new Suspend();
      if (st.next_at) {
        await record([{ type: 'step.waiting', step: path, waiting_for: { kind: 'timer', step: path, until: st.next_at } }]);
        throw new Suspend();
      }
      const index = st.iteration ?? 0;
      const iterStarted = Date.now();
      const iterScope = scopeFor(scope);
      iterScope.iteration = index;
      await runList(children, iterScope, (c) => childPath(path, c.id, index));
      const output: Record<string, unknown> = {};
      for (const c of children) output[c.id] = iterScope.steps[c.id]?.output ?? null;
      const elapsed = Date.now() - Date.parse(st.repeat_started_at ?? new Date().toISOString());
      let done = false;
      if (r.until !== undefined) {
        const untilScope = { ...iterScope, steps: { ...iterScope.steps, [step.id]: { output: [...(st.outputs ?? []), output], status: 'running' } } };
        done = isTruthy(r.until.includes('{{') ? render(r.until, untilScope) : evaluate(r.until, untilScope));
      }
      if (st.for_ms !== null && st.for_ms !== undefined && elapsed + (st.every_ms ?? 0) >= st.for_ms) done = true;
      if (r.max_iterations !== undefined && index + 1 >= r.max_iterations) done = true;
      const nextAt = done ? null : new Date(Math.max(Date.now(), iterStarted + (st.every_ms ?? 0))).toISOString();
      // an interval that has already passed starts the next iteration in this activation
      const due = nextAt !== null && Date.parse(nextAt) <= Date.now() + 5;
      await record([{ type: 'repeat.iteration', step: path, index, output, next_at: due ? null : nextAt }]);
      if (done) {
        const outputs = states[path].outputs ?? [];
        await record([{ type: 'step.succeeded', step: path, output: outputs }]);
        return outputs;
      }
    }
  }

  function onReply(msg: ReplyMessage): void {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.value);
    else p.reject(msg.error);
  }

  /**
   * The main thread ended this activation (cancel, a timeout, shutdown of its run): every request
   * in flight fails, no new one is sent, and `run()` resolves 'stopped' now, even if a step awaits
   * something that never settles (the abandoned chain can reach nothing: its requests are refused).
   */
  function stop(): void {
    if (ended) return;
    ended = true;
    stopping = true;
    for (const p of pending.values()) p.reject(STOPPED);
    pending.clear();
    onStopped?.();
  }

  async function main(): Promise<'done' | 'suspended' | 'stopped'> {
    let reason: 'done' | 'suspended' | 'stopped' = 'done';
    if (needsTemplates(def)) templates = loadedTemplates ??= await import('../../../workflows/template.js');
    try {
      const scope = scopeFor(null);
      try {
        await runList(def.steps, scope, (s) => s.id, true);
        await record([{ type: 'run.succeeded' }]);
      } catch (e) {
        if (e instanceof Suspend) reason = stopping ? 'stopped' : 'suspended';
        else {
          await record([{ type: 'run.failed', step: failedTop, error: errorText(e) }]);
        }
      }
    } catch (e) {
      // a transition the main thread refused (the run was cancelled or ended meanwhile)
      reason = 'stopped';
      void e;
    }
    // results still riding along (the activation stopped before another transition) are written now
    if (deferred.length) await record([]).catch(() => undefined);
    return reason;
  }

  return { n, reply: onReply, stop, run: () => Promise.race([main(), stoppedByMain]) };
}

// ---------------------------------------------------------------- the host

/** The activations this thread runs now, by number; messages for any other (an ended one) are dropped. */
const running = new Map<number, ReturnType<typeof activation>>();

/** The definitions this thread was sent, by ActivationData.defKey (the pool sends each once). */
const defs = new Map<number, Workflow>();

/** Runs one activation, then reports its end (the thread goes on with the others, or waits for more). */
async function serve(sent: Omit<ActivationData, 'def'> & { def: Workflow | null }): Promise<void> {
  if (sent.def && sent.defKey !== undefined) defs.set(sent.defKey, sent.def);
  const def = sent.def ?? (sent.defKey !== undefined ? defs.get(sent.defKey) : undefined);
  // the pool sends a definition before it sends its number alone; anything else is an engine bug
  if (!def) throw new Error(`activation ${sent.activation} names definition ${sent.defKey} this worker was never sent (engine bug)`);
  const data: ActivationData = { ...sent, def };
  // the pool never hands out a number twice; anything else is an engine bug, and crashing fails
  // only the activations of this thread
  if (running.has(data.activation)) throw new Error(`activation ${data.activation} handed out twice (engine bug)`);
  const act = activation(data);
  running.set(act.n, act);
  let reason: 'done' | 'suspended' | 'stopped';
  try {
    reason = await act.run();
  } finally {
    running.delete(act.n);
  }
  // the heap in use lets the pool retire a worker that keeps growing (a leak in some step)
  const heapMb = Math.round(getHeapStatistics().used_heap_size / 1048576);
  send({ type: 'end', act: act.n, reason, heap_mb: heapMb });
}

function onMessage(msg: MainMessage): void {
  if (msg.type === 'reply') running.get(msg.act)?.reply(msg);
  else if (msg.type === 'activate') void serve(msg.data);
  else if (msg.type === 'stop') running.get(msg.act)?.stop();
  // told to go (the pool sends this only when no activation runs here): Bree terminates the thread on 'done'
  else if (msg.type === 'retire') port.postMessage('done');
}

port.on('message', (msg: MainMessage | Batch<MainMessage> | string) => {
  if (typeof msg === 'string') return; // Bree's 'cancel'; the pool stops activations itself
  if (msg.type === 'batch') for (const m of msg.msgs) onMessage(m);
  else onMessage(msg);
});

void serve(workerData as ActivationData & { job: unknown });
