import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { join } from 'node:path';
import { opsSpec, type ServerSpec } from '../../src/daemon/tools/server-specs.js';
import { ROOT } from './home.js';

export const FAULT_SERVER = join(ROOT, 'test', 'support', 'mcp-fault-server.mjs');
export const npmServer = (pkg: string): string => join(ROOT, 'node_modules', '@modelcontextprotocol', pkg, 'dist', 'index.js');

/** A stdio server spec run with this node, as a config entry would compile to. */
export function nodeSpec(name: string, args: string[], extra: Partial<ServerSpec> = {}): ServerSpec {
  return { ...opsSpec([]), name, builtin: false, trusted: false, source: 'test', command: process.execPath, args, env: {}, timeoutMs: 20_000, ...extra };
}

/** A pino logger whose lines are kept in memory, so a test can see what reached the daemon log. */
export function memoryLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

/**
 * `ops.analyze_samples` input of a profiling run with one slow endpoint: 12 one-minute iterations
 * whose p95 wanders between 700 and 1,100 ms, so the analysis ends with a latency finding and a
 * series to chart.
 */
export function slowEndpointIterations(): Record<string, unknown>[] {
  const t0 = Date.parse('2026-01-01T10:00:00.000Z');
  return Array.from({ length: 12 }, (_, i) => {
    const p95 = 700 + ((i * 137) % 400);
    return {
      url: 'http://127.0.0.1:8080/api/orders',
      method: 'GET',
      started_at: new Date(t0 + i * 60_000).toISOString(),
      duration_ms: 100,
      count: 10,
      responses: 10,
      ok: 10,
      errors: 0,
      timeouts: 0,
      status_codes: { '200': 10 },
      latency_ms: { min: 5, mean: p95 / 2, p50: p95 / 2, p95, p99: p95 * 1.1, max: p95 * 1.2 },
      error_samples: [],
    };
  });
}
