import type { z } from 'zod';

/** What an ops tool may use besides its arguments. */
export interface OpsToolContext {
  /** Commands `ops.run_command` may run (exact strings or /regex/), from the daemon's config. */
  allowedCommands: string[];
  signal: AbortSignal;
  /** The caller's idempotency key (OpStream sends run id + step id + attempt in `_meta`), if any. */
  idempotencyKey?: string;
}

/**
 * One built-in ops tool: a zod input schema (checked before `run`), a zod output schema (returned
 * as MCP structured content), and MCP annotations. Each tool lives in its own file in tools/.
 */
export interface OpsTool<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  description: string;
  input: I;
  output: O;
  annotations: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };
  run(args: z.output<I>, ctx: OpsToolContext): Promise<z.output<O>>;
}

/**
 * Where an `isError` result says whether a retry may help: `_meta["opstream/retryable"]`. The daemon
 * reads the same key (src/daemon/tools/result.ts; kept literal there so neither side imports the other).
 */
export const RETRYABLE_META = 'opstream/retryable';

/**
 * A failure the tool reports as an MCP `isError` result (data for the caller), not a crash.
 * `retryable`: whether the same call may succeed later (a refused connection may; a missing pid, a
 * bad pattern or a refused argument will not).
 */
export class OpsToolError extends Error {
  constructor(
    message: string,
    readonly retryable = false,
  ) {
    super(message);
    this.name = 'OpsToolError';
  }
}
