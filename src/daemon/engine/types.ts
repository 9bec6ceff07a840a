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
  /** Agent steps: every recorded model turn and tool call (agent.turn / agent.tool events). */
  agent?: AgentState;
  /** Model tokens this step used (agent steps). null counts: the server did not say. */
  usage?: StepUsage;
  /** Times this agent step has waited for an unavailable model since its last answered turn. */
  llm_waits?: number;
  /** Things the user should know that did not fail the step (context truncation, cut answers). */
  warnings?: string[];
}

export interface StepUsage {
  prompt_tokens: number;
  completion_tokens: number;
  llm_calls: number;
  /** Model calls whose token counts the server did not report (counted as unknown, not 0). */
  unknown_counts: number;
  tool_calls: number;
  cache_hits?: number;
}

/** A recorded model turn. `phase`: tools = tool-using turns; final = the structured-answer turn(s). */
export interface AgentTurn {
  turn: number;
  phase: 'tools' | 'final';
  content: string;
  tool_calls: { id?: string; name: string; arguments: Record<string, unknown> }[];
  prompt_tokens: number | null;
  completion_tokens: number | null;
  done_reason: string | null;
}

/** A recorded tool call of an agent. `content` is what the model was shown (capped, framed). */
export interface AgentCall {
  turn: number;
  index: number;
  name: string;
  args_hash: string;
  status: 'ok' | 'error' | 'refused' | 'duplicate' | 'rejected';
  content: string;
}

export interface AgentState {
  /** Set by agent.started: the attempt's rendered prompt is recorded (in the event). */
  started?: boolean;
  /** The rendered prompt and system text the model got (a resumed step goes on with exactly these). */
  prompt?: string;
  system?: string;
  /** Untrusted text the worker put into the prompt besides templates (memory recall), from agent.started. */
  untrusted?: string[];
  turns: AgentTurn[];
  calls: AgentCall[];
  /** Decisions on destructive calls, by argument hash: an approval binds to exact arguments. */
  approvals: Record<string, { decision: 'approved' | 'rejected'; by: string; at: string; policy?: boolean }>;
}

export type WaitKind = 'timer' | 'approval' | 'input' | 'retry' | 'llm';

export interface WaitingFor {
  kind: WaitKind;
  step: string;
  prompt?: string;
  until?: string | null;
  /** For approvals: who may answer (empty: anyone), whether policy may grant it. */
  approvers?: string[];
  resolve?: boolean;
  on_timeout?: 'approve' | 'reject' | 'fail';
  /** An agent's destructive tool call waiting for approval: exactly what would run. */
  tool?: string;
  args?: Record<string, unknown>;
  args_hash?: string;
  /** Why policy could not grant it: the untrusted text the agent's turn saw (e.g. "the prompt contains untrusted output of step fetch"). */
  untrusted?: string[];
  /** kind llm: why the step waits for the model (host, model, what to do). */
  reason?: string;
  host?: string;
  model?: string;
  hint?: string | null;
  llm_attempt?: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  tool_calls: number;
  llm_calls?: number;
  /** Model calls whose token counts were not reported. */
  unknown_counts?: number;
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

/** Main -> worker: the answer to an activation's request, tagged with that activation's number. */
export type ReplyMessage = { type: 'reply'; act: number; id: number; ok: true; value: unknown } | { type: 'reply'; act: number; id: number; ok: false; error: ErrorData };

/**
 * Main -> worker. `activate`: run this activation next (the worker is idle). `retire`: the worker is
 * idle and not needed any more; it says 'done' and Bree ends the thread.
 */
export type MainMessage = ReplyMessage | { type: 'activate'; data: ActivationData } | { type: 'retire' };

export type Directive = 'continue' | 'stop';

/** Events a worker may ask to record. The main thread adds seq/at/run_id. */
export type WorkerEvent =
  | { type: 'step.started'; step: string; attempt: number; key: string; rerun?: boolean; for_ms?: number | null; every_ms?: number }
  | { type: 'step.succeeded'; step: string; output: unknown }
  | { type: 'step.skipped'; step: string }
  | { type: 'step.failed'; step: string; attempt: number; error: string; retry_at: string | null }
  | { type: 'step.waiting'; step: string; waiting_for: WaitingFor }
  | { type: 'repeat.iteration'; step: string; index: number; output: unknown; next_at: string | null }
  | { type: 'step.warning'; step: string; warning: string }
  | { type: 'agent.started'; step: string; system: string; prompt: string; tools: unknown[]; schema: Record<string, unknown> | null; model: string | null; max_turns: number; untrusted?: string[] }
  | { type: 'run.succeeded' }
  | { type: 'run.failed'; step: string | null; error: string };

export interface ActivationData {
  runId: string;
  activation: number;
  run: Pick<RunRecord, 'id' | 'workflow' | 'params' | 'steps'>;
  def: import('../../workflows/schema.js').Workflow;
  /** Fault injection for tests (engine_test.* steps); off unless OPSTREAM_ENGINE_FAULTS=1. */
  faults: boolean;
  /** Templates see `llm.configured` (shipped workflows add their agent steps only then). */
  llm: { configured: boolean; model: string | null };
}

export const TERMINAL: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'cancelled']);
export const TERMINAL_STEP: ReadonlySet<StepStatus> = new Set(['succeeded', 'failed', 'skipped']);
