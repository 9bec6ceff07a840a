import { compileArgsValidator } from '../../tools/validate.js';

const cache = new Map<string, (v: unknown) => string | null>();

/** Checks an agent's final answer against the step's `output` JSON Schema; null when it matches. */
export function validateOutput(schema: Record<string, unknown>, value: unknown): string | null {
  const key = JSON.stringify(schema);
  let fn = cache.get(key);
  if (!fn) {
    const { validate, problem } = compileArgsValidator(schema);
    fn = problem ? () => null : validate;
    cache.set(key, fn);
  }
  return fn(value);
}
