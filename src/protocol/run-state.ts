import type { RunStatus } from './methods/daemon.js';
import type { RunEvent as RunEventRecord } from './events.js';

/**
 * The durable shape of a run: what its events reduce to (run-view.ts `applyEvent`). The engine's
 * main thread owns it and commits it with each event; workers keep a copy per activation; the
 * dashboard keeps one per run it shows, fed by the same events. Types only: nothing here loads
 * zod or node modules (workers and the dashboard import it).
 */
export type StepStatus = 'running' | 'waiting' | 'retrying' | 'succeeded' | 'failed' | 'skipped' | 'rejected';

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
  /** Repeat steps: finished iterations whose measurements missed an objective (`slo.met: false`). */
  breaches?: number;
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

export type WaitingFor = {
  kind: WaitKind;
  step: string;
  prompt?: string;
  until?: string | null;
  /** When the wait began (set by the reducer from the step.waiting event's time). */
  since?: string;
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
};

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  tool_calls: number;
  llm_calls?: number;
  /** Model calls whose token counts were not reported. */
  unknown_counts?: number;
}

/** What the projection needs of the workflow definition (recorded in run.created; see outlineOf). */
export interface RunOutline {
  steps: { id: string; kind: string; name?: string; wait_ms?: number; watch?: boolean; children?: { id: string; kind: string; name?: string }[] }[];
  defaults: Record<string, unknown>;
}

/** An approval answered: who decided what, when, and why. */
export interface Decision {
  step: string;
  decision: 'approved' | 'rejected';
  by: string;
  at: string;
  comment: string | null;
  policy: boolean;
  /** An agent's destructive call: the arguments the decision binds to. */
  args_hash?: string;
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
  /** Team mode: the executor id of the daemon that started the run (it may be hosted elsewhere now). */
  started_on?: string;
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
  /** The definition's outline (from run.created; filled from the definition for older runs). */
  outline?: RunOutline;
  /** Mean duration of earlier successful runs of the workflow when this one was created (ETA only). */
  history_ms?: number | null;
  /** Every approval answered, in order (kept when a repeat iteration's step states are dropped). */
  decisions?: Decision[];
  /** Progress never goes back: the highest fraction shown as of the last event. */
  progress_floor?: number;
  /** Top-level steps in a terminal state, kept by the reducer event by event (absent: count them). */
  steps_done?: number;
}

/** A recorded run event (seq, at, run_id added by the engine). */
export type RunEvent = RunEventRecord;
