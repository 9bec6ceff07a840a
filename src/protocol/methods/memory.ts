import { z } from 'zod';
import { defineMethod } from '../messages.js';
import { RunId } from './runs.js';

/** One remembered run (what it found and what fixed it). */
export const RunSummaryJson = z.object({
  id: z.string(),
  workflow: z.string(),
  service: z.string(),
  outcome: z.string(),
  at: z.string(),
  headline: z.string(),
  root_cause: z.string().nullable(),
  findings: z.array(z.string()),
  fixes: z.array(z.string()),
  /** Fixes a person approved and the run applied, with their measured effect (`/api/search p95 latency 1241 ms -> 65 ms`). */
  applied: z.array(z.object({ fix: z.string(), for: z.string().nullable(), by: z.string().nullable(), comment: z.string().nullable(), at: z.string().nullable(), effect: z.string().nullable(), confirmed: z.boolean().nullable() })).default([]),
  /** Proposed fixes a person rejected, with who and their comment. */
  rejected: z.array(z.object({ proposal: z.string(), for: z.string().nullable(), by: z.string(), comment: z.string().nullable(), at: z.string().nullable() })).default([]),
  text: z.string(),
});

const Side = z.object({ answer: z.unknown(), tool_calls: z.array(z.string()), prompt_tokens: z.number(), completion_tokens: z.number(), turns: z.number(), error: z.string().optional() });

export const memoryMethods = {
  'memory.search': defineMethod(z.object({ text: z.string().min(1).max(2000), limit: z.number().int().min(1).max(200).default(10) }), z.object({ items: z.array(RunSummaryJson) })),
  'memory.show': defineMethod(z.object({ id: RunId }), RunSummaryJson),
  'memory.forget': defineMethod(z.object({ id: RunId }), z.object({ removed: z.boolean() }), { mutates: true }),
  'memory.stats': defineMethod(
    z.object({}).strict().default({}),
    z.object({ summaries: z.number(), by_workflow: z.record(z.string(), z.number()), vectors: z.record(z.string(), z.number()), embed_model: z.string().nullable(), oldest: z.string().nullable(), newest: z.string().nullable() }),
  ),
  /** A question about a run, answered from its stored outputs and memory (no tool calls). */
  'runs.ask': defineMethod(
    z.object({ id: RunId, question: z.string().min(1).max(4000) }),
    z.object({ run_id: z.string(), answer: z.string(), turns: z.number().int(), tool_calls: z.literal(0), usage: z.object({ prompt_tokens: z.number().nullable(), completion_tokens: z.number().nullable() }) }),
    { mutates: true },
  ),
  'runs.conversation': defineMethod(
    z.object({ id: RunId }),
    z.object({ turns: z.array(z.object({ q: z.string(), a: z.string(), at: z.string(), by: z.string(), prompt_tokens: z.number().nullable(), completion_tokens: z.number().nullable() })) }),
  ),
  /** What-if: re-run a finished run's agent steps on its recorded tool results. */
  'runs.replay': defineMethod(
    z.object({ id: RunId, step: z.string().max(200).optional(), model: z.string().max(200).optional(), prompt: z.string().max(100_000).optional() }),
    z.object({
      run_id: z.string(),
      replay_id: z.string(),
      model: z.string(),
      steps: z.array(z.object({ step: z.string(), original: Side, replay: Side, not_recorded: z.array(z.string()), changed: z.object({ answer: z.boolean(), tool_calls: z.boolean() }) })),
    }),
    { mutates: true },
  ),
} as const;
