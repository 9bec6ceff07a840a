import { z } from 'zod';
import { ERROR_CODES, type WireErrorData } from './wire-error.js';

// The class and the codes live in the zod-free wire-error.ts (the CLI's hot path imports that
// directly); this module adds the schemas the daemon edge parses with, and re-exports the rest so
// `protocol/errors.js` and `protocol/index.js` keep offering everything under the same names.
export { ERROR_CODES, WireError, isWireError, type WireErrorData } from './wire-error.js';

/** Stable error codes on the wire, as a schema. */
export const ErrorCode = z.enum(ERROR_CODES);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const WireErrorSchema = z.object({
  code: ErrorCode,
  message: z.string(),
  retryable: z.boolean().default(false),
  data: z.unknown().optional(),
}) satisfies z.ZodType<WireErrorData, unknown>;
