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
  id: Identifier,
  name: z.string().optional(),
  when: z.union([z.string(), z.boolean()]).optional(),
  retry: Retry.optional(),
  timeout: DurationText.optional(),
  on_error: z.enum(['fail', 'continue']).default('fail'),
  milestone: z.string().optional(),

  tool: ToolName.optional(),
  with: z.record(z.string(), z.unknown()).optional(),
  cache: DurationText.optional(),
  agent: Agent.optional(),
  wait: Wait.optional(),
  repeat: Repeat.optional(),
  approval: Approval.optional(),
  input: Input.optional(),
  notify: Notify.optional(),
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
    id: Identifier,
    name: z.string().optional(),
    description: z.string().optional(),
    command: z.string().regex(/^[a-z][a-z0-9-]*$/, 'a command is one lowercase word').optional(),
    usage: z.string().optional(),
    params: z.record(z.string().regex(/^[a-z_][a-z0-9_]*$/, 'param names use lowercase letters, digits and _'), ParamSpec).default({}),
    tools: z.array(ToolName).default([]),
    schedule: Schedule.optional(),
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
