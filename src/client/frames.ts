import type { HelloResult } from '../protocol/index.js';
import { ERROR_CODES, type WireErrorData } from '../protocol/wire-error.js';

/**
 * Hand-written checks of what the daemon sends, mirroring `ServerFrame` (protocol/messages.ts) and
 * `HelloResult` (protocol/methods/daemon.ts). They exist so that a CLI call does not import zod:
 * zod's import costs about as much as the whole rest of `opstream status`, whose budget is 2x
 * `node -e 0`. The zod schemas stay the source of truth; a change there must be mirrored here
 * (test/unit/client-frames.test.ts checks both agree on the same frames).
 */

export type ClientFrame =
  | { kind: 'event'; event: string; sub: string; data: unknown }
  | { kind: 'result'; id: string | number; result: unknown }
  | { kind: 'error'; id: string | number | null; error: WireErrorData };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isRequestId = (v: unknown): v is string | number => (typeof v === 'string' && v.length >= 1 && v.length <= 64) || Number.isInteger(v);
const CODES: ReadonlySet<unknown> = new Set(ERROR_CODES);

function wireError(v: unknown): WireErrorData | null {
  if (!isObject(v) || !CODES.has(v.code) || typeof v.message !== 'string') return null;
  if (v.retryable !== undefined && typeof v.retryable !== 'boolean') return null;
  const out: WireErrorData = { code: v.code as WireErrorData['code'], message: v.message, retryable: v.retryable ?? false };
  if (v.data !== undefined) out.data = v.data;
  return out;
}

/** One decoded JSON line from the daemon, or null when it is not a frame the protocol allows. */
export function readFrame(v: unknown): ClientFrame | null {
  if (!isObject(v)) return null;
  if (typeof v.event === 'string' && typeof v.sub === 'string' && 'data' in v) return { kind: 'event', event: v.event, sub: v.sub, data: v.data };
  if ('result' in v && isRequestId(v.id)) return { kind: 'result', id: v.id, result: v.result };
  if (v.id === null || isRequestId(v.id)) {
    const error = wireError(v.error);
    if (error) return { kind: 'error', id: v.id, error };
  }
  return null;
}

/** The hello reply decides whether the two sides may talk at all, so it is checked field by field. */
export function readHello(v: unknown): HelloResult | null {
  if (!isObject(v)) return null;
  const { protocol, version, pid, started_at, active_runs } = v;
  if (!Number.isInteger(protocol) || typeof version !== 'string' || !Number.isInteger(pid) || typeof started_at !== 'string' || !Number.isInteger(active_runs)) return null;
  return { protocol: protocol as number, version, pid: pid as number, started_at, active_runs: active_runs as number };
}
