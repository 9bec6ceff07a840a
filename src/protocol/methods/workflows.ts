import { z } from 'zod';
import { defineMethod } from '../messages.js';

export const WorkflowProblem = z.object({
  file: z.string(),
  /** Dotted YAML path, empty for the whole file. */
  path: z.string(),
  line: z.number().int().nullable(),
  /** 1-based column, when known. */
  column: z.number().int().nullable().optional(),
  message: z.string(),
  /** The nearest known name (key, step kind, tool, step or param reference), when one is close. */
  suggestion: z.string().nullable().optional(),
});
export type WorkflowProblem = z.infer<typeof WorkflowProblem>;

export const WorkflowParamInfo = z.object({
  type: z.string(),
  required: z.boolean(),
  default: z.unknown().optional(),
  description: z.string().optional(),
  values: z.array(z.union([z.string(), z.number()])).optional(),
  min: z.number().optional(),
  max: z.number().optional(),
});

/** One workflow file as `opstream workflows` shows it; an invalid file has `valid: false` and its problems. */
export const WorkflowInfo = z.object({
  /** Null when an invalid file has no readable id. */
  id: z.string().nullable(),
  name: z.string().nullable(),
  description: z.string().nullable(),
  command: z.string().nullable(),
  usage: z.string().nullable(),
  params: z.record(z.string(), WorkflowParamInfo),
  /** The cron text, or the full schedule object. */
  schedule: z.unknown().nullable(),
  source: z.enum(['shipped', 'user']),
  file: z.string(),
  valid: z.boolean(),
  /** The shipped file this user file replaces, if any. */
  overrides: z.string().nullable(),
  problems: z.array(WorkflowProblem),
});
export type WorkflowInfo = z.infer<typeof WorkflowInfo>;

export const WorkflowsListResult = z.object({ workflows: z.array(WorkflowInfo), problems: z.array(WorkflowProblem) });
export type WorkflowsListResult = z.infer<typeof WorkflowsListResult>;

export const WorkflowsValidateParams = z
  .object({
    /** A path the daemon can read. */
    file: z.string().min(1).max(4096).optional(),
    /** YAML text; `name` is used in problem locations. */
    text: z.string().max(1024 * 1024).optional(),
    name: z.string().max(200).optional(),
  })
  .strict()
  .refine((p) => (p.file === undefined) !== (p.text === undefined), { message: 'give exactly one of file or text' });

export const WorkflowsValidateResult = z.object({ ok: z.boolean(), id: z.string().nullable(), problems: z.array(WorkflowProblem), warnings: z.array(WorkflowProblem).default([]) });
export type WorkflowsValidateResult = z.infer<typeof WorkflowsValidateResult>;

export const workflowsMethods = {
  'workflows.list': defineMethod(z.object({}).strict().default({}), WorkflowsListResult),
  'workflows.validate': defineMethod(WorkflowsValidateParams, WorkflowsValidateResult),
  'workflows.reload': defineMethod(
    z.object({}).strict().default({}),
    z.object({ workflows: z.number().int(), problems: z.array(WorkflowProblem) }),
    { mutates: true },
  ),
} as const;
