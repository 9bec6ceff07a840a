/**
 * The wire error class and its codes, without zod: the CLI imports this on every call, and zod's
 * import alone costs more than the rest of a `opstream status`. The zod schema that checks these
 * shapes at the daemon edge lives in errors.ts and is derived from ERROR_CODES below.
 */

/** Stable error codes on the wire. Clients branch on these, never on messages. */
export const ERROR_CODES = [
  'bad_json',
  'frame_too_large',
  'invalid_request',
  'unknown_method',
  'invalid_params',
  'not_found',
  'conflict',
  'invalid_state',
  'version_mismatch',
  'unavailable',
  'timeout',
  'tool_error',
  'workflow_invalid',
  /** runs.watch: the cursor is older than the retained feed; take a new snapshot. */
  'cursor_expired',
  /** A subscriber that stopped reading was dropped to keep the daemon's memory bounded. */
  'slow_consumer',
  /**
   * The daemon's store cannot write (a full disk, an I/O error): new work is refused until it can
   * again; the daemon retries by itself, so the same request may succeed later.
   */
  'store_unwritable',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** `retryable` tells the caller whether the same request may succeed later unchanged. */
export interface WireErrorData {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  data?: unknown;
}

const RETRYABLE_BY_DEFAULT: ReadonlySet<ErrorCode> = new Set(['unavailable', 'timeout', 'store_unwritable']);

/** An error that is meant to cross the socket. Anything else becomes `internal`. */
export class WireError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly data?: unknown;

  constructor(code: ErrorCode, message: string, opts: { retryable?: boolean; data?: unknown } = {}) {
    super(message);
    this.name = 'WireError';
    this.code = code;
    this.retryable = opts.retryable ?? RETRYABLE_BY_DEFAULT.has(code);
    this.data = opts.data;
  }

  toJSON(): WireErrorData {
    return { code: this.code, message: this.message, retryable: this.retryable, ...(this.data === undefined ? {} : { data: this.data }) };
  }

  static fromJSON(e: WireErrorData): WireError {
    return new WireError(e.code, e.message, { retryable: e.retryable, data: e.data });
  }
}

/** Duck-typed so errors that crossed a thread boundary as plain data still count. */
export function isWireError(e: unknown): e is WireError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'WireError' && typeof (e as { code?: unknown }).code === 'string';
}
