import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';

// ajv and ajv-formats are CommonJS with a `default` export; under Node16 ESM the default import is module.exports.
type AjvCtor = new (opts: Record<string, unknown>) => { compile(schema: object): ValidateFunction };
type Ajv = InstanceType<AjvCtor>;
const pick = <T>(m: unknown): T => ((m as { default?: T }).default ?? m) as T;
const require = createRequire(import.meta.url);

/**
 * The two Ajv instances, made by the first schema compiled (a tool call's arguments, a step's
 * output schema): loading ajv and ajv-formats and making both cost ~65 ms of CPU at every daemon
 * and worker start that compiled nothing. CommonJS, so `require` loads them when asked.
 */
let ajvs: { ajv07: Ajv; ajv2020: Ajv } | null = null;
function instances(): { ajv07: Ajv; ajv2020: Ajv } {
  if (ajvs) return ajvs;
  const opts = { strict: false, allErrors: true, validateSchema: false, coerceTypes: false };
  const addFormats = pick<(ajv: unknown) => void>(require('ajv-formats'));
  const ajv2020 = new (pick<AjvCtor>(require('ajv/dist/2020.js')))(opts);
  const ajv07 = new (pick<AjvCtor>(require('ajv')))(opts);
  addFormats(ajv2020);
  addFormats(ajv07);
  return (ajvs = { ajv07, ajv2020 });
}

export type ArgsValidator = (args: unknown) => string | null;

/**
 * Compiles a tool's input JSON Schema once. Servers declare draft-07 or 2020-12 (MCP's default);
 * a schema neither can compile is not enforced (the server still checks), which is logged by the caller.
 */
export function compileArgsValidator(schema: Record<string, unknown>): { validate: ArgsValidator; problem: string | null } {
  const { $schema, ...rest } = schema;
  const draft07 = typeof $schema === 'string' && /draft-0[4-7]/.test($schema);
  const { ajv07, ajv2020 } = instances();
  let fn: ValidateFunction;
  try {
    fn = (draft07 ? ajv07 : ajv2020).compile(rest);
  } catch (e) {
    try {
      fn = (draft07 ? ajv2020 : ajv07).compile(rest);
    } catch {
      return { validate: () => null, problem: (e as Error).message };
    }
  }
  return { validate: (args) => (fn(args) ? null : describeErrors(fn.errors ?? [])), problem: null };
}

function describeErrors(errors: ErrorObject[]): string {
  const parts = errors.slice(0, 3).map((e) => {
    const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : 'arguments';
    if (e.keyword === 'additionalProperties') return `${where}: unknown property "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    if (e.keyword === 'required') return `${where}: missing required property "${(e.params as { missingProperty: string }).missingProperty}"`;
    if (e.keyword === 'enum') return `${where}: must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    return `${where}: ${e.message ?? 'is invalid'}`;
  });
  return parts.join('; ') + (errors.length > 3 ? ` (and ${errors.length - 3} more)` : '');
}
