import type { RunStatus } from '../../protocol/index.js';

/**
 * The durable shape of a run. The main thread owns it; workers get a copy per activation and send
 * back events, which the main thread applies (reducer.ts) and commits together with the record.
 */
export type StepStatus = 'running' | 'waiting' | 'retrying' | 'succeeded' | 'failed' | 'skipped';

export interface StepState {
  status: StepStatus;
  /** The attempt in progress or last made (1-based). A re-run after a crash keeps it: same idempotency key. */
  attempts: number;
  started_at: string | null;
  ended_at: string | null;
  output: unknown;
  error: string | null;
  /** Set while a retry timer is armed; cleared when it fires. */
  retry_at?: string | null;
  /** Repeat bookkeeping. */
  iteration?: number;
  outputs?: unknown[];
  for_ms?: number | null;
  every_ms?: number;
  repeat_started_at?: string;
  /** When the next iteration may start; cleared when its timer fires. */
  next_at?: string | null;
}

export type WaitKind = 'timer' | 'approval' | 'input' | 'retry';

export interface WaitingFor {
  kind: WaitKind;
  step: string;
  prompt?: string;
  until?: string | null;
  /** For approvals: who may answer (empty: anyone), whether policy may grant it. */
  approvers?: string[];
  resolve?: boolean;
  on_timeout?: 'approve' | 'reject' | 'fail';
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  tool_calls: number;
}

export interface RunRecord {
  id: string;
  workflow: string;
  /** Content hash of the workflow definition this run executes (meta sublevel `wfdef:<hash>`). */
  def_hash: string;
  status: RunStatus;
  params: Record<string, unknown>;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  current_step: string | null;
  waiting_for: WaitingFor | null;
  steps: Record<string, StepState>;
  usage: Usage;
  error: string | null;
  trigger: string;
  actor: string;
  /** Last event sequence number written for this run. */
  seq: number;
  pause_requested: boolean;
  pause_reason: string | null;
  /** How often the user let the run go past its budget (each resume after a budget pause adds one budget). */
  budget_grants: number;
  timeout_at: string | null;
  /** Set for scheduled runs: the fire time this run belongs to. */
  scheduled_for?: string | null;
  catch_up?: boolean;
}

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

/** Worker -> main, tagged by `type`. Requests carry an `id` the reply echoes. */
export type WorkerMessage =
  | { type: 'transition'; id: number; events: WorkerEvent[]; notify?: { step: string; text: string; level: 'info' | 'warning' | 'critical'; channel?: string } }
  | { type: 'tool'; id: number; step: string; tool: string; args: Record<string, unknown>; key: string; timeoutMs?: number; cacheTtlMs?: number }
  | { type: 'llm'; id: number; step: string }
  | { type: 'end'; reason: 'done' | 'suspended' | 'stopped' };

/** Main -> worker. */
export type MainMessage = { type: 'reply'; id: number; ok: true; value: unknown } | { type: 'reply'; id: number; ok: false; error: ErrorData };

export type Directive = 'continue' | 'stop';

/** Events a worker may ask to record. The main thread adds seq/at/run_id. */
export type WorkerEvent =
  | { type: 'step.started'; step: string; attempt: number; key: string; rerun?: boolean; for_ms?: number | null; every_ms?: number }
  | { type: 'step.succeeded'; step: string; output: unknown }
  | { type: 'step.skipped'; step: string }
  | { type: 'step.failed'; step: string; attempt: number; error: string; retry_at: string | null }
  | { type: 'step.waiting'; step: string; waiting_for: WaitingFor }
  | { type: 'repeat.iteration'; step: string; index: number; output: unknown; next_at: string | null }
  | { type: 'run.succeeded' }
  | { type: 'run.failed'; step: string | null; error: string };

export interface ActivationData {
  runId: string;
  activation: number;
  run: Pick<RunRecord, 'id' | 'workflow' | 'params' | 'steps'>;
  def: import('../../workflows/schema.js').Workflow;
  /** Fault injection for tests (engine_test.* steps); off unless OPSTREAM_ENGINE_FAULTS=1. */
  faults: boolean;
}

export const TERMINAL: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'cancelled']);
export const TERMINAL_STEP: ReadonlySet<StepStatus> = new Set(['succeeded', 'failed', 'skipped']);
