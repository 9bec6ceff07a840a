import { z } from 'zod';
import { defineMethod } from '../messages.js';
import { AnalyzeOutput } from '../../ops-server/analysis/schema.js';
import { RunStatus } from './daemon.js';
import { Notification } from './notify.js';
import { RunEvent, RunOutlineJson } from '../events.js';

/** A figure a step measured, as data (the projection reads it from known output shapes). */
export const MeasurementJson = z.object({
  metric: z.string(),
  value: z.number().nullable(),
  unit: z.string(),
  /** The objective it is held to, and whether it met it (null: no objective). */
  threshold: z.number().nullable(),
  op: z.enum(['>=', '<=']).nullable(),
  ok: z.boolean().nullable(),
});

/** A run as `opstream status ID --json` prints it (WORKFLOWS.md "Runs"). */
export const RunStepJson = z.object({
  id: z.string(),
  /** The step as people read it: the name they wrote or the id, with its position in a loop (`approve (check 9)`). */
  label: z.string().optional(),
  status: z.string(),
  attempts: z.number().int(),
  started_at: z.string().nullable(),
  ended_at: z.string().nullable(),
  output: z.unknown(),
  error: z.string().nullable(),
  /** What a succeeded step measured (probe, objective check, process stats). */
  measurements: z.array(MeasurementJson).optional(),
  /** Agent steps: tokens and calls (null-count model calls are `unknown_counts`), warnings, the calls made. */
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), llm_calls: z.number(), unknown_counts: z.number(), tool_calls: z.number(), cache_hits: z.number().optional() }).optional(),
  warnings: z.array(z.string()).optional(),
  agent: z.object({ turns: z.number(), tool_calls: z.array(z.object({ turn: z.number(), tool: z.string(), status: z.string(), args_hash: z.string() })) }).optional(),
});

export const RunJson = z.object({
  id: z.string(),
  workflow: z.string(),
  status: RunStatus,
  /** The status in one phrase, with a rejection said: `succeeded, remediation rejected`, `rejected`. */
  outcome: z.string().optional(),
  params: z.record(z.string(), z.unknown()),
  /** The params that differ from the workflow's defaults (what text output shows). */
  changed_params: z.record(z.string(), z.unknown()).optional(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  ended_at: z.string().nullable(),
  current_step: z.string().nullable(),
  /** What the run is at, as people read it (the waiting step inside a loop: `approve (check 9)`). */
  current_label: z.string().nullable().optional(),
  waiting_for: z
    .object({ kind: z.string(), step: z.string(), prompt: z.string().optional(), until: z.string().nullable().optional() })
    .passthrough()
    .nullable(),
  steps: z.array(RunStepJson),
  progress: z.object({
    fraction: z.number().nullable(),
    eta: z.string().nullable(),
    elapsed_ms: z.number().optional(),
    total_ms: z.number().optional(),
    /** Where the figure comes from: the run's own timer, loop or watch, or finished/known steps. */
    basis: z.enum(['done', 'none', 'steps', 'timer', 'loop', 'watch']).optional(),
    steps: z.object({ done: z.number().int(), total: z.number().int() }).optional(),
    /** Waiting for a person: who may answer and since when (no ETA then; never "overdue"). */
    waiting: z
      .object({ kind: z.enum(['approval', 'input']), step: z.string(), label: z.string(), approvers: z.array(z.string()), since: z.string().nullable(), until: z.string().nullable(), prompt: z.string() })
      .nullable()
      .optional(),
    /** Watches (a run whose last step is a timed repeat without `until`, like the SLO monitor): no ETA, but these. */
    watch: z
      .object({
        checks: z.number().int(),
        /** Checks that breached an objective, the one in progress included (also while its remediation waits or after it was rejected). */
        breaches: z.number().int(),
        next_check: z.string().nullable(),
        ends_at: z.string().nullable(),
        state: z.string().optional(),
        /** The latest check's measurements. */
        last: z.array(MeasurementJson).optional(),
      })
      .optional(),
  }),
  /** Every approval answered: who, when, what, why. */
  decisions: z.array(z.object({ step: z.string(), label: z.string(), decision: z.enum(['approved', 'rejected']), by: z.string(), at: z.string(), comment: z.string().nullable(), policy: z.boolean(), args_hash: z.string().optional() })).optional(),
  usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), tool_calls: z.number(), llm_calls: z.number().optional(), unknown_counts: z.number().optional() }),
  error: z.string().nullable(),
  trigger: z.string().optional(),
  /** Team mode: the daemon (executor id) and the user (actor) that started the run. */
  started_on: z.string().optional(),
  started_by: z.string().optional(),
  /** Scheduled runs: the fire time they belong to, and whether they were started by catch-up. */
  scheduled_for: z.string().nullable().optional(),
  catch_up: z.boolean().optional(),
  pause_requested: z.boolean().optional(),
  pause_reason: z.string().nullable().optional(),
  /** The run's last event sequence number: a watcher skips pushed events it has already applied. */
  seq: z.number().int().optional(),
  /** `status ID` only: the run's notifications with each channel's delivery state. */
  notifications: z.array(Notification).optional(),
});
export type RunJson = z.infer<typeof RunJson>;

/** A recorded run event: the typed union of events.ts. */
export const RunEventJson = RunEvent;
export type RunEventJson = z.infer<typeof RunEventJson>;

/**
 * A run's reducible state (run-state.ts RunRecord) as `runs.watch` sends it to clients that apply
 * the pushed events themselves with the shared reducer (the dashboard).
 */
export const RunStateJson = z
  .looseObject({ id: z.string(), workflow: z.string(), status: RunStatus, created_at: z.string(), seq: z.number().int(), steps: z.record(z.string(), z.unknown()), outline: RunOutlineJson.optional() });

export const RunId = z.string().regex(/^r_[a-z0-9]{4,16}$/, 'not a run id (run ids look like r_8f3k2m; `opstream list --all` shows them)');

export const ScheduleJson = z.object({
  workflow: z.string(),
  cron: z.string(),
  timezone: z.string().nullable(),
  overlap: z.enum(['skip', 'queue', 'allow']),
  catch_up: z.enum(['none', 'latest', 'all']),
  paused: z.boolean(),
  last_fire: z.string().nullable(),
  next_fire: z.string().nullable(),
});
export type ScheduleJson = z.infer<typeof ScheduleJson>;

const ById = z.object({ id: RunId });
const Comment = z.string().max(2000).optional();
/**
 * What the person was shown when they decided (the waiting step, the gated call's argument hash):
 * the daemon answers only if the run still waits for exactly that, so a decision never lands on a
 * question that replaced the one on screen (a timeout, another person, the next check's approval).
 */
const ShownApproval = {
  step: z.string().min(1).max(500).optional(),
  args_hash: z.string().min(1).max(128).optional(),
};

export const runsMethods = {
  /** `workflow` is an id or a `command` verb; `args` are the words and key=value pairs after it. */
  'runs.start': defineMethod(
    z.object({ workflow: z.string().min(1).max(200), args: z.array(z.string().max(10_000)).max(200).default([]) }),
    RunJson,
    { mutates: true },
  ),
  'runs.get': defineMethod(ById, RunJson),
  /**
   * Active runs (from memory), or with `all` one page of every run, newest first: `limit` runs from
   * `cursor` (the previous page's `next`; absent: the newest). `next` is null on the last page.
   * Finished runs list without their steps (`runs.get` has them). `total`: runs in the store (of
   * `workflow`), active and finished.
   */
  'runs.list': defineMethod(
    z
      .object({
        all: z.boolean().default(false),
        workflow: z.string().max(200).optional(),
        limit: z.number().int().min(1).max(10_000).default(200),
        cursor: z.string().min(1).max(300).optional(),
        /**
         * false: each run without its `steps` (progress and the current step are still the full
         * projection's). For views that show one line per run: 40 active 500-step runs are
         * 20,000 step entries to encode, send and check for a table of 40 lines.
         */
        steps: z.boolean().default(true),
      })
      .default({ all: false, limit: 200, steps: true }),
    z.object({ runs: z.array(RunJson), total: z.number().int(), next: z.string().nullable().default(null) }),
  ),
  /**
   * The live stream for long-lived clients (dashboard, Slack bridge): a snapshot of the active runs
   * and the feed cursor it corresponds to, then `watch` events from that cursor on. With `cursor`
   * (the last one a client saw) it replays what it missed first, with no gap and no repeat.
   */
  'runs.watch': defineMethod(
    z.object({ cursor: z.number().int().min(0).optional(), snapshot: z.boolean().default(true), states: z.boolean().default(false) }).default({ snapshot: true, states: false }),
    /** `states`: the snapshot as reducible states (`states[]`, `runs` empty), for clients that apply events themselves. */
    z.object({ sub: z.string(), cursor: z.number().int(), runs: z.array(RunJson), states: z.array(RunStateJson).optional() }),
  ),
  /** The findings of a profiling or SLO run (`opstream report`); preliminary while it still samples. */
  'runs.report': defineMethod(
    ById,
    z.object({
      run: z.object({
        id: z.string(),
        workflow: z.string(),
        /** The workflow's `name` (the report's title), null when it has none or is no longer loaded. */
        workflow_name: z.string().nullable().default(null),
        status: RunStatus,
        params: z.record(z.string(), z.unknown()),
        started_at: z.string().nullable(),
        ended_at: z.string().nullable(),
      }),
      step: z.string(),
      preliminary: z.boolean(),
      progress: z.number().nullable(),
      /** Tool calls and model tokens the run used (RunJson `usage`). */
      usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), tool_calls: z.number(), llm_calls: z.number().optional(), unknown_counts: z.number().optional() }).optional(),
      analysis: AnalyzeOutput,
    }),
  ),
  'runs.pause': defineMethod(ById, RunJson, { mutates: true }),
  'runs.resume': defineMethod(ById, RunJson, { mutates: true }),
  'runs.cancel': defineMethod(ById, RunJson, { mutates: true }),
  'runs.events': defineMethod(
    z.object({ id: RunId, after: z.number().int().min(0).default(0), limit: z.number().int().min(1).max(10_000).default(1000) }),
    /** `events_removed_at`: the run's events were removed by the `retention.events` rule then. */
    z.object({ events: z.array(RunEventJson), status: RunStatus, events_removed_at: z.string().optional() }),
  ),
  'runs.approve': defineMethod(z.object({ id: RunId, comment: Comment, ...ShownApproval }), RunJson, { mutates: true }),
  'runs.reject': defineMethod(z.object({ id: RunId, comment: Comment, ...ShownApproval }), RunJson, { mutates: true }),
  'runs.respond': defineMethod(z.object({ id: RunId, text: z.string().min(1).max(100_000) }), RunJson, { mutates: true }),
  'schedules.list': defineMethod(z.object({}).strict().default({}), z.object({ schedules: z.array(ScheduleJson) })),
  'schedules.pause': defineMethod(z.object({ workflow: z.string().min(1) }), ScheduleJson, { mutates: true }),
  'schedules.resume': defineMethod(z.object({ workflow: z.string().min(1) }), ScheduleJson, { mutates: true }),
} as const;
