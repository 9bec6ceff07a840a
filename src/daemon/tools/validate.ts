import AjvModule from 'ajv';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';

// ajv and ajv-formats are CommonJS with a `default` export; under Node16 ESM the default import is module.exports.
type AjvCtor = new (opts: Record<string, unknown>) => { compile(schema: object): ValidateFunction };
const pick = <T>(m: unknown): T => ((m as { default?: T }).default ?? m) as T;
const Ajv07 = pick<AjvCtor>(AjvModule);
const Ajv2020 = pick<AjvCtor>(Ajv2020Module);
const addFormats = pick<(ajv: unknown) => void>(addFormatsModule);

const opts = { strict: false, allErrors: true, validateSchema: false, coerceTypes: false };
const ajv2020 = new Ajv2020(opts);
const ajv07 = new Ajv07(opts);
addFormats(ajv2020);
addFormats(ajv07);

export type ArgsValidator = (args: unknown) => string | null;

/**
 * Compiles a tool's input JSON Schema once. Servers declare draft-07 or 2020-12 (MCP's default);
 * a schema neither can compile is not enforced (the server still checks), which is logged by the caller.
 */
export function compileArgsValidator(schema: Record<string, unknown>): { validate: ArgsValidator; problem: string | null } {
  const { $schema, ...rest } = schema;
  const draft07 = typeof $schema === 'string' && /draft-0[4-7]/.test($schema);
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
