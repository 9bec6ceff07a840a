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
