import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WORKFLOW_SCHEMA_FILE, workflowJsonSchemaText } from './json-schema.js';

// Build step (`node dist/workflows/gen-json-schema.js`): writes schemas/workflow.schema.json at the
// package root, found from this file's location so it works from dist/.
const root = fileURLToPath(new URL('../../', import.meta.url));
const out = join(root, WORKFLOW_SCHEMA_FILE);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, workflowJsonSchemaText());
