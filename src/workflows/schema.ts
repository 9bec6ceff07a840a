import { z } from 'zod';
import { parseDuration } from '../config/duration.js';

/**
 * The workflow file format (WORKFLOWS.md). This schema is the single source of truth: the loader
 * validates with it, the engine runs its output type, and schemas/workflow.schema.json is generated
 * from it for editors.
 */

const isTemplate = (s: string): boolean => s.includes('{{');

/** "5m", "2 hours", or a template that must render to one at run time. */
export const DurationText = z
  .union([z.string(), z.number()])
  .refine((v) => (typeof v === 'string' && isTemplate(v)) || parseDuration(v) !== null, { message: 'expected a duration such as 30s, 5m, 2h or "2 hours"' })
  .describe('A duration: 30s, 5m, 2h, "1h30m", "2 hours", or a {{ template }}.');

export const Identifier = z.string().regex(/^[a-z0-9_-]+$/, 'use lowercase letters, digits, _ and - only');
export const ToolName = z.string().regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_.:-]+$/, 'expected "server.tool", e.g. ops.http_probe');

export const ParamType = z.enum(['string', 'number', 'integer', 'boolean', 'duration', 'url', 'enum', 'object', 'list']);
export type ParamType = z.infer<typeof ParamType>;

export const ParamSpec = z
  .object({
    type: ParamType.default('string'),
    required: z.boolean().default(false),
    default: z.unknown().optional(),
    description: z.string().optional(),
    /** Allowed values, for `enum`. */
    values: z.array(z.union([z.string(), z.number()])).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .strict()
  .refine((p) => p.type !== 'enum' || (p.values?.length ?? 0) > 0, { message: 'an enum param needs `values`', path: ['values'] });
export type ParamSpec = z.infer<typeof ParamSpec>;

export const Retry = z
  .object({
    attempts: z.number().int().min(1).max(100).default(3),
    backoff: z.enum(['fixed', 'exponential']).default('exponential'),
    delay: DurationText.default('1s'),
    max_delay: DurationText.optional(),
  })
  .strict();

export const Agent = z
  .object({
    prompt: z.string().min(1),
    system: z.string().optional(),
    tools: z.array(ToolName).default([]),
    max_turns: z.number().int().min(1).max(100).default(8),
    model: z.string().optional(),
    /** JSON Schema the final answer must match. */
    output: z.record(z.string(), z.unknown()).optional(),
    /**
     * Accepted so older files still load, but it no longer lifts the gate: a step that saw text from
     * outside (tool output, step outputs, chat params, memory) always asks a person (issue 19).
     */
    trust_tool_output: z.boolean().default(false),
    /** Reuse identical tool results younger than this (default: each server's `cache`); the model is told their age. */
    cache: DurationText.optional(),
  })
  .strict();

export const Approval = z
  .object({
    prompt: z.string().min(1),
    timeout: DurationText.optional(),
    on_timeout: z.enum(['approve', 'reject', 'fail']).default('reject'),
    approvers: z.array(z.string()).optional(),
    /** With the workflow's auto_resolve, policy grants this approval (audited). */
    resolve: z.boolean().default(false),
    /** Reaches people even in quiet hours (Slack: the critical channel). */
    urgent: z.boolean().default(false),
  })
  .strict();

export const Input = z.object({ prompt: z.string().min(1), timeout: DurationText.optional() }).strict();

export const Notify = z
  .object({
    text: z.string().min(1),
    level: z.enum(['info', 'warning', 'critical']).default('info'),
    channel: z.string().optional(),
  })
  .strict();

export const Wait = z.union([DurationText, z.object({ until: z.string().min(1) }).strict()]);

export const Repeat = z
  .object({
    every: DurationText,
    /** Total time to keep repeating; iterations stop once it has elapsed. */
    for: DurationText.optional(),
    /** Expression checked after each iteration; true stops the loop. */
    until: z.string().optional(),
    /** Upper bound on iterations (a safety net when neither `for` nor `until` is given). */
    max_iterations: z.number().int().min(1).optional(),
  })
  .strict();

export const STEP_KINDS = ['tool', 'agent', 'wait', 'repeat', 'parallel', 'approval', 'input', 'notify'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

const StepBase = z.object({
  id: Identifier.describe('Unique in the workflow; later steps read this step as steps.<id>.output.'),
  name: z.string().optional(),
  when: z.union([z.string(), z.boolean()]).optional().describe('Skip the step when false: "{{ steps.a.output.count > 3 }}" or a bare expression.'),
  retry: Retry.optional().describe('Retry a failing step: { attempts, backoff: fixed|exponential, delay, max_delay }.'),
  timeout: DurationText.optional(),
  on_error: z
    .enum(['fail', 'continue', 'continue_if_retryable'])
    .default('fail')
    .describe('fail: the run fails with this step; continue: record the error and go on; continue_if_retryable: go on only when the failure is retryable (throttling, a timeout), fail otherwise.'),
  milestone: z.string().optional().describe('Text of a milestone notification sent after the step succeeds.'),

  tool: ToolName.optional().describe('Call an MCP tool ("server.tool"); its result is the output.'),
  with: z.record(z.string(), z.unknown()).optional().describe('Arguments of a tool step; strings may hold {{ templates }}.'),
  cache: DurationText.optional().describe('Reuse an identical tool call result for this long.'),
  agent: Agent.optional().describe('Let the LLM work with the listed tools until it answers.'),
  wait: Wait.optional().describe('Sleep durably: 5m, or { until: "<ISO time>" }.'),
  repeat: Repeat.optional().describe('Durable loop over `steps`: { every, for, until }.'),
  approval: Approval.optional().describe('Wait for a person to approve or reject.'),
  input: Input.optional().describe('Wait for a person to answer with text.'),
  notify: Notify.optional().describe('Send a notification: { text, level, channel }.'),
  /** Children of a `repeat`. */
  get steps(): z.ZodOptional<z.ZodArray<typeof Step>> {
    return z.array(Step).optional();
  },
  get parallel(): z.ZodOptional<z.ZodArray<typeof Step>> {
    return z.array(Step).optional();
  },
});

export const Step = StepBase.strict().superRefine((s, ctx) => {
  const kinds = STEP_KINDS.filter((k) => s[k] !== undefined);
  if (kinds.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      message: kinds.length === 0 ? `a step needs exactly one of: ${STEP_KINDS.join(', ')}` : `a step has exactly one kind, this one has ${kinds.join(' and ')}`,
    });
    return;
  }
  if (s.with !== undefined && kinds[0] !== 'tool') ctx.addIssue({ code: 'custom', path: ['with'], message: '`with` belongs to tool steps' });
  if (s.cache !== undefined && kinds[0] !== 'tool') ctx.addIssue({ code: 'custom', path: ['cache'], message: '`cache` belongs to tool steps' });
  if (kinds[0] === 'repeat' && (s.steps?.length ?? 0) === 0) ctx.addIssue({ code: 'custom', path: ['steps'], message: 'a repeat needs `steps`' });
  if (kinds[0] !== 'repeat' && s.steps !== undefined) ctx.addIssue({ code: 'custom', path: ['steps'], message: '`steps` belongs to repeat steps' });
});
export type Step = z.infer<typeof Step>;

export const Schedule = z.union([
  z.string().min(1),
  z
    .object({
      cron: z.string().min(1),
      catch_up: z.enum(['none', 'latest', 'all']).default('latest'),
      /** Bound for catch_up: all. */
      max_catch_up: z.number().int().min(1).max(1000).default(10),
      overlap: z.enum(['skip', 'queue', 'allow']).default('skip'),
      timezone: z.string().optional(),
      /** Params for scheduled runs (the run's other params take their defaults). */
      params: z.record(z.string(), z.unknown()).default({}),
      enabled: z.boolean().default(true),
    })
    .strict(),
]);

export const NotificationKind = z.enum(['start', 'milestones', 'completion', 'errors', 'approvals']);

export const Workflow = z
  .object({
    $schema: z.string().optional(),
    id: Identifier.describe('Unique workflow id; a user file with a shipped id overrides the shipped one.'),
    name: z.string().optional(),
    description: z.string().optional(),
    command: z.string().regex(/^[a-z][a-z0-9-]*$/, 'a command is one lowercase word').optional().describe('Verb for `opstream start VERB ...` and `/opstream VERB ...`.'),
    usage: z.string().optional().describe('How the words after the verb map to params, e.g. "<service> [for <duration>]".'),
    params: z.record(z.string().regex(/^[a-z_][a-z0-9_]*$/, 'param names use lowercase letters, digits and _'), ParamSpec).default({}),
    tools: z.array(ToolName).default([]).describe('"server.tool" names this workflow uses; agent steps may use only these.'),
    schedule: Schedule.optional().describe('Cron text, or { cron, catch_up, overlap, params, ... }.'),
    notifications: z.array(NotificationKind).default(['completion', 'errors', 'approvals']),
    auto_resolve: z.boolean().default(false),
    concurrency: z.number().int().min(1).optional(),
    timeout: DurationText.optional(),
    budget: z.object({ tokens: z.number().int().min(1).optional(), tool_calls: z.number().int().min(1).optional() }).strict().optional(),
    steps: z.array(Step).min(1, 'a workflow needs at least one step'),
  })
  .strict();
export type Workflow = z.infer<typeof Workflow>;

/** The one kind a validated step has. */
export function stepKind(step: Step): StepKind {
  for (const k of STEP_KINDS) if (step[k] !== undefined) return k;
  throw new Error(`step ${step.id} has no kind`);
}
