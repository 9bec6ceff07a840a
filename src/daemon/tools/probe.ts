import pino from 'pino';
import type { CompiledMcpServer } from '../../config/load.js';
import { ToolPool } from './pool.js';
import { specFromConfig } from './server-specs.js';
import type { ToolInfo } from './types.js';

export interface ProbeResult {
  server: string;
  ok: boolean;
  /** Why it could not be started or listed. */
  error: string | null;
  tools: ToolInfo[];
  durationMs: number;
}

/**
 * For `opstream doctor`: spawns (or connects to) one configured server the way the daemon would,
 * initializes it, lists its tools, and closes it. Never throws.
 */
export async function probeServer(server: CompiledMcpServer, timeoutMs: number): Promise<ProbeResult> {
  const t0 = performance.now();
  const spec = { ...specFromConfig(server), disabled: false };
  const pool = new ToolPool([spec], { log: pino({ level: 'silent' }), startTimeoutMs: timeoutMs });
  try {
    const conn = pool.connection(spec.name)!;
    await conn.settle(timeoutMs + 1_000);
    if (conn.state !== 'ready') return { server: spec.name, ok: false, error: conn.reason ?? `it did not start within ${timeoutMs} ms`, tools: [], durationMs: performance.now() - t0 };
    return { server: spec.name, ok: true, error: null, tools: pool.tools(), durationMs: performance.now() - t0 };
  } finally {
    await pool.stop();
  }
}
