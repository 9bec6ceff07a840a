import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { WORKFLOW_SCHEMA_FILE, workflowJsonSchemaText } from '../../../src/workflows/json-schema.js';
import { shippedWorkflowsDir } from '../../../src/workflows/registry.js';

const ROOT = join(__dirname, '..', '..', '..');

describe('schemas/workflow.schema.json', () => {
  it('is up to date with src/workflows/schema.ts (run `npm run build` to refresh it)', () => {
    const checkedIn = readFileSync(join(ROOT, WORKFLOW_SCHEMA_FILE), 'utf8');
    expect(checkedIn, 'schemas/workflow.schema.json is stale: run `npm run build` (node dist/workflows/gen-json-schema.js) and commit it').toBe(workflowJsonSchemaText());
  });

  it('accepts the shipped demo and rejects what the loader rejects', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(JSON.parse(readFileSync(join(ROOT, WORKFLOW_SCHEMA_FILE), 'utf8')));
    const hello = parse(readFileSync(join(shippedWorkflowsDir(), 'hello.yaml'), 'utf8'));
    expect(validate(hello), JSON.stringify(validate.errors)).toBe(true);
    expect(validate({ id: 'x', steps: [{ id: 'a', notify: { text: 'hi', colour: 'red' } }] })).toBe(false);
    expect(validate({ id: 'x', steps: [{ id: 'a', repeat: { every: '1m' }, steps: [{ id: 'b', bogus: 1 }] }] })).toBe(false);
    expect(validate({ id: 'Bad Id', steps: [{ id: 'a', wait: '5m' }] })).toBe(false);
  });
});
