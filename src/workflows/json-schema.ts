import { z } from 'zod';
import { Workflow } from './schema.js';

/** Where the generated schema lives in the package (relative to its root). */
export const WORKFLOW_SCHEMA_FILE = 'schemas/workflow.schema.json';

/**
 * The editor-facing JSON Schema of a workflow file, generated from the zod schema so the two cannot
 * drift. The input side is used: fields with defaults are optional, as a person writes them.
 * Deterministic output (no timestamps) so the checked-in file can be compared in a test.
 */
export function workflowJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(Workflow, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  // zod names the recursive step schema `__schema0`; editors show $def names, so call it Step
  const named = JSON.parse(JSON.stringify(schema).replaceAll('"__schema0"', '"Step"').replaceAll('#/$defs/__schema0', '#/$defs/Step')) as Record<string, unknown>;
  return {
    $schema: named.$schema,
    title: 'OpStream workflow',
    description: 'One OpStream workflow (see WORKFLOWS.md). Generated from src/workflows/schema.ts by `npm run build`; do not edit.',
    ...Object.fromEntries(Object.entries(named).filter(([k]) => k !== '$schema')),
  };
}

export function workflowJsonSchemaText(): string {
  return `${JSON.stringify(workflowJsonSchema(), null, 2)}\n`;
}
