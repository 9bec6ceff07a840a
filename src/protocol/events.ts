import { z } from 'zod';
import { RunStatus } from './methods/daemon.js';
import { Notification } from './methods/notify.js';

/**
 * The run-event union: every state change of a run is one of these, tagged by `type`. The worker
 * posts event bodies (no seq/at/run_id; the main thread adds them), the engine commits them, the
 * socket pushes and returns them, and ONE projection (run-view.ts) turns them into what every
 * screen shows. Parsed at the worker boundary (engine.onTransition) and at the socket edge (runs.events,
 * runs.watch); nothing past those re-validates.
 *
 * Objects are loose: a field added later (or an older store's extra) passes through untouched.
 */
const WaitingForJson = z.looseObject({
  kind: z.enum(['timer', 'approval', 'input', 'retry', 'llm']),
  step: z.string(),
  prompt: z.string().optional(),
  until: z.string().nullable().optional(),
  approvers: z.array(z.string()).optional(),
  resolve: z.boolean().optional(),
  on_timeout: z.enum(['approve', 'reject', 'fail']).optional(),
  /** Why policy could not grant an agent's gated call: the untrusted text its turn saw. */
  untrusted: z.array(z.string()).optional(),
});

/** What the projection needs of the workflow definition: its top-level steps and param defaults. */
export const RunOutlineJson = z.object({
  steps: z.array(
    z.object({
      id: z.string(),
      kind: z.string(),
      name: z.string().optional(),
      /** A literal `wait:` duration (ms), when the step has one. */
      wait_ms: z.number().optional(),
      /** The last step is a timed repeat without `until`: the run is a watch. */
      watch: z.boolean().optional(),
      /** Child step ids of a repeat or parallel step, with their names. */
      children: z.array(z.object({ id: z.string(), kind: z.string(), name: z.string().optional() })).optional(),
    }),
  ),
  defaults: z.record(z.string(), z.unknown()),
});

const S = z.string();
const step = { step: S };
const optStep = { step: S.nullable().optional() };
const noStep = { step: S.optional() };

/** Body shapes by event type (what a worker or the engine asks to record). */
const bodies = {
  'run.created': { ...noStep, trigger: S.optional(), params: z.record(S, z.unknown()).optional(), workflow: S.optional(), outline: RunOutlineJson.optional(), history_ms: z.number().nullable().optional() },
  'run.queued': noStep,
  'run.started': noStep,
  'run.recovered': optStep,
  'run.pause_requested': { ...noStep, reason: S.nullable().optional() },
  'run.paused': { reason: S.nullable().optional(), ...optStep },
  'run.resumed': { ...noStep, to: RunStatus, by: S.optional(), budget_grant: z.boolean().optional() },
  'run.succeeded': noStep,
  'run.failed': { ...optStep, error: S },
  'run.cancelled': { ...optStep, by: S.optional() },
  'step.started': { ...step, attempt: z.number(), key: S, rerun: z.boolean().optional(), for_ms: z.number().nullable().optional(), every_ms: z.number().optional() },
  'step.succeeded': { ...step, output: z.unknown() },
  'step.skipped': step,
  'step.failed': { ...step, attempt: z.number(), error: S, retry_at: S.nullable().optional() },
  'step.waiting': { ...step, waiting_for: WaitingForJson },
  'step.warning': { ...step, warning: S },
  'repeat.iteration': { ...step, index: z.number().int(), output: z.unknown(), next_at: S.nullable().optional() },
  'timer.fired': { ...step, kind: z.enum(['timer', 'approval', 'input', 'retry', 'llm']) },
  'approval.answered': { ...step, decision: z.enum(['approved', 'rejected']), by: S, comment: S.optional(), fail_on_reject: z.boolean().optional(), policy: z.boolean().optional(), args_hash: S.optional() },
  'input.answered': { ...step, text: S, by: S },
  'wait.timed_out': { ...step, error: S },
  'agent.started': { ...step, system: S, prompt: S, tools: z.array(z.unknown()).optional(), schema: z.record(S, z.unknown()).nullable().optional(), model: S.nullable().optional(), max_turns: z.number().optional(), untrusted: z.array(S).optional() },
  'agent.turn': { ...step, turn: z.number(), phase: z.enum(['tools', 'final']), content: S, tool_calls: z.array(z.object({ id: S.optional(), name: S, arguments: z.record(S, z.unknown()) })).optional(), prompt_tokens: z.number().nullable(), completion_tokens: z.number().nullable(), done_reason: S.nullable().optional(), warnings: z.array(S).optional() },
  'agent.tool': { ...step, turn: z.number(), index: z.number(), name: S, args_hash: S, status: z.enum(['ok', 'error', 'refused', 'duplicate', 'rejected']), content: S, cached: z.boolean().optional() },
} as const;

const base = { seq: z.number().int(), at: S, run_id: S };

function rec<T extends string, Sh extends z.ZodRawShape>(type: T, shape: Sh) {
  return z.looseObject({ ...base, ...shape, type: z.literal(type) });
}
function bod<T extends string, Sh extends z.ZodRawShape>(type: T, shape: Sh) {
  return z.looseObject({ ...shape, type: z.literal(type) });
}

type Bodies = typeof bodies;
type EventType = keyof Bodies;
// one schema per event type, written once in `bodies`; the unions below are built from it
type RecOf<K> = K extends EventType ? ReturnType<typeof rec<K, Bodies[K]>> : never;
type BodOf<K> = K extends EventType ? ReturnType<typeof bod<K, Bodies[K]>> : never;
const TYPES = Object.keys(bodies) as EventType[];

/** A recorded run event (`runs.events`, `logs --json`, the feed). */
export const RunEvent = z.discriminatedUnion('type', TYPES.map((t) => rec(t, bodies[t])) as [RecOf<EventType>, ...RecOf<EventType>[]]);
export type RunEvent = z.infer<typeof RunEvent>;
export type RunEventType = RunEvent['type'];

/** An event as asked to be recorded (the engine adds seq, at and run_id). */
export const EventBody = z.discriminatedUnion('type', TYPES.map((t) => bod(t, bodies[t])) as [BodOf<EventType>, ...BodOf<EventType>[]]);
export type EventBody = z.infer<typeof EventBody>;

/**
 * What a worker may post to record: the step and run transitions it makes itself. Model turns,
 * tool calls, answers and timers are recorded by the main thread, never asked for by a worker.
 */
const WORKER_TYPES = ['step.started', 'step.succeeded', 'step.skipped', 'step.failed', 'step.waiting', 'repeat.iteration', 'step.warning', 'agent.started', 'run.succeeded', 'run.failed'] as const;
type WorkerType = (typeof WORKER_TYPES)[number];
export const WorkerEvent = z.discriminatedUnion('type', WORKER_TYPES.map((t) => bod(t, bodies[t])) as [BodOf<WorkerType>, ...BodOf<WorkerType>[]]);
export type WorkerEvent = z.infer<typeof WorkerEvent>;

/** What the daemon pushes on subscriptions (topics: EventTopic in methods/daemon.ts). */

/** `runs`: every recorded run event, with the run's status after it. Event name = the event type. */
export const RunEventPush = z.intersection(RunEvent, z.object({ status: RunStatus, workflow: z.string() }));
export type RunEventPush = z.infer<typeof RunEventPush>;

/** `notifications`: event `notification` when one is written, `delivery` when a channel's state changes. */
export const NotificationPush = Notification;
export const DeliveryPush = z.object({ id: z.string(), run_id: z.string().nullable(), channel: z.string(), delivery: z.record(z.string(), z.unknown()) });

/**
 * `runs.watch` frames (event name `watch`): one item of the daemon-wide feed. `cursor` increases by
 * one per item for the daemon's whole life and across restarts; a client that reconnects with the
 * last cursor it saw gets everything after it, once.
 */
export const WatchItem = z.discriminatedUnion('topic', [
  z.object({ cursor: z.number().int(), topic: z.literal('runs'), event: z.string(), data: RunEventPush }),
  z.object({ cursor: z.number().int(), topic: z.literal('notifications'), event: z.enum(['notification', 'delivery']), data: z.record(z.string(), z.unknown()) }),
]);
export type WatchItem = z.infer<typeof WatchItem>;

/** Sent (event name `watch.dropped`) when the daemon ends a watch: the client reconnects with `cursor`. */
export const WatchDropped = z.object({ reason: z.string(), cursor: z.number().int() });
