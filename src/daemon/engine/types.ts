
/**
 * The durable shape of a run lives with its reducer and view (protocol/run-state.ts, run-view.ts),
 * shared by the engine, its workers and the dashboard.
 */
export type { StepStatus, StepState, StepUsage, AgentTurn, AgentCall, AgentState, WaitKind, WaitingFor, Usage, RunRecord, RunOutline, Decision } from '../../protocol/run-state.js';
import type { RunRecord } from '../../protocol/run-state.js';
import type { RunStatus } from '../../protocol/methods/daemon.js';
import type { WorkerEvent } from '../../protocol/events.js';
export type { WorkerEvent };

/** A recorded event as services read it from the store (the typed union is protocol/events.ts RunEvent). */
export interface RunEvent {
  seq: number;
  at: string;
  run_id: string;
  type: string;
  step?: string;
  [k: string]: unknown;
}

/** Error data as it crosses the thread boundary. */
export interface ErrorData {
  message: string;
  code?: string;
  retryable?: boolean;
}

/**
 * Worker -> main, tagged by `type`. Requests carry an `id` the reply echoes. `WorkerBody` is what an
 * activation asks; on the wire every message also carries `act`, its activation's number.
 */
export type WorkerBody =
  | { type: 'transition'; id: number; events: WorkerEvent[]; notify?: { step: string; text: string; level: 'info' | 'warning' | 'critical'; channel?: string } }
  | { type: 'tool'; id: number; step: string; tool: string; args: Record<string, unknown>; key: string; timeoutMs?: number; cacheTtlMs?: number }
  | { type: 'agent.tools'; id: number; step: string }
  | { type: 'agent.recall'; id: number; step: string; prompt: string }
  | { type: 'llm'; id: number; step: string; attempt: number; turn: number; phase: 'tools' | 'final'; request: import('../llm/types.js').ChatRequest }
  | { type: 'agent.call'; id: number; step: string; attempt: number; turn: number; index: number; name: string; args: Record<string, unknown> }
  /** The activation ended; its worker is idle now. `heap_mb`: the worker's V8 heap in use (retires a growing one). */
  | { type: 'end'; reason: 'done' | 'suspended' | 'stopped'; heap_mb?: number };

export type WorkerMessage = WorkerBody & { act: number };

/**
 * Messages sent in one turn of a thread's event loop travel as one `batch` (both ways): a group
 * commit answers many activations of one worker at once, and one postMessage per group instead of
 * one per activation was a sixth of the main thread's time on a busy chain (CPU profile).
 */
export interface Batch<T> {
  type: 'batch';
  msgs: T[];
}

/** Main -> worker: the answer to an activation's request, tagged with that activation's number. */
export type ReplyMessage = { type: 'reply'; act: number; id: number; ok: true; value: unknown } | { type: 'reply'; act: number; id: number; ok: false; error: ErrorData };

/**
 * Main -> worker. `activate`: run this activation too (a worker hosts several). `stop`: end that
 * activation now (cancel, a timeout): it unwinds without asking anything more and says 'end'.
 * `retire`: the worker runs nothing and is not needed any more; it says 'done' and Bree ends the thread.
 */
export type MainMessage = ReplyMessage | { type: 'activate'; data: Omit<ActivationData, 'def'> & { def: ActivationData['def'] | null } } | { type: 'stop'; act: number } | { type: 'retire' };

export type Directive = 'continue' | 'stop';

export interface ActivationData {
  runId: string;
  activation: number;
  run: Pick<RunRecord, 'id' | 'workflow' | 'params' | 'steps'>;
  def: import('../../workflows/schema.js').Workflow;
  /**
   * The definition's number in this daemon (one per loaded definition). A worker keeps each
   * definition it was sent; the pool sends `def` to a thread once and `null` after that, which
   * spares a structured clone of the whole workflow per activation.
   */
  defKey?: number;
  /** Fault injection for tests (engine_test.* steps); off unless OPSTREAM_ENGINE_FAULTS=1. */
  faults: boolean;
  /** Templates see `llm.configured` (shipped workflows add their agent steps only then). */
  llm: { configured: boolean; model: string | null };
}

export const TERMINAL: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'cancelled']);
export const TERMINAL_STEP: ReadonlySet<string> = new Set(['succeeded', 'failed', 'skipped', 'rejected']);
