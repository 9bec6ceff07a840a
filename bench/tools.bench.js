// Issue 3 figures: tool-call overhead of the daemon's pool vs the raw MCP SDK client calling the
// same server in the same run, the same through the daemon socket, and spawns per server over
// 1,000 calls from 50 concurrent callers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { DaemonClient } from '../dist/client/client.js';
import { ToolPool } from '../dist/daemon/tools/pool.js';
import { opsSpec } from '../dist/daemon/tools/server-specs.js';
import { ROOT, benchHome, percentile, sample, size } from './support.js';

const SERVER = join(ROOT, 'test', 'support', 'mcp-fault-server.mjs');
const N = size('TOOLS_BENCH_N', 3000, 500);
const LOG_MB = size('LOG_SCAN_MB', 16, 4);
const us = (sorted, p) => percentile(sorted, p) / 1000;

/**
 * The raw MCP SDK client and the daemon's pool, each with its own process of the same server, called
 * alternately (raw, pool, raw, pool...) so that both see the same moments of a busy machine.
 */
async function rawAndPool() {
  const client = new Client({ name: 'bench', version: '0' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [SERVER], stderr: 'ignore' }));
  const spec = { ...opsSpec([]), name: 'fault', builtin: false, command: process.execPath, args: [SERVER], env: {}, timeoutMs: 30_000 };
  const pool = new ToolPool([spec], { log: pino({ level: 'silent' }) });
  const rawCall = (i) => client.callTool({ name: 'echo', arguments: { text: `m${i}` } });
  const poolCall = async (i) => {
    const r = await pool.call({ tool: 'fault.echo', args: { text: `m${i}` } });
    if (!r.ok) throw new Error(r.error?.message ?? r.text);
  };
  try {
    for (let i = 0; i < 200; i++) {
      await rawCall(i);
      await poolCall(i);
    }
    const raw = new Array(N);
    const pooled = new Array(N);
    for (let i = 0; i < N; i++) {
      let t = process.hrtime.bigint();
      await rawCall(i);
      raw[i] = Number(process.hrtime.bigint() - t) / 1000;
      t = process.hrtime.bigint();
      await poolCall(i);
      pooled[i] = Number(process.hrtime.bigint() - t) / 1000;
    }
    return { raw: raw.sort((a, b) => a - b), pool: pooled.sort((a, b) => a - b) };
  } finally {
    await client.close();
    await pool.stop();
  }
}

async function viaDaemon() {
  const h = benchHome();
  writeFileSync(join(h.home, 'config.yaml'), `mcpServers:\n  fault:\n    command: ${JSON.stringify(process.execPath)}\n    args: [${JSON.stringify(SERVER)}]\n`);
  try {
    const client = await DaemonClient.connect({ env: h.env, client: 'bench' });
    const t = await sample(N, (i) => client.request('tools.call', { tool: 'fault.echo', args: { text: `m${i}` } }));
    // 50 concurrent callers (as 50 runs would), 1,000 calls in all, each on its own connection
    const callers = await Promise.all(Array.from({ length: 50 }, () => DaemonClient.connect({ env: h.env, client: 'bench' })));
    await Promise.all(callers.map(async (c, k) => {
      for (let i = 0; i < 20; i++) await c.request('tools.call', { tool: 'fault.echo', args: { text: `${k}:${i}` } });
    }));
    const stats = await client.request('tools.stats', {});
    for (const c of callers) c.close();
    client.close();
    return { t, spawns: stats.servers };
  } finally {
    await h.cleanup();
  }
}

/**
 * ops.log_scan over a synthetic log (1 line in 100 an error): RE2 in a worker thread, with the
 * default pattern, and with a pattern that takes JavaScript's engine 2^30 steps per line.
 */
async function logScan() {
  const dir = mkdtempSync(join(tmpdir(), 'opsb-log-'));
  const file = join(dir, 'app.log');
  const lines = [];
  for (let i = 0; lines.length * 110 < LOG_MB * 1024 * 1024; i++) {
    lines.push(`2026-01-05T10:${String(Math.floor(i / 6000) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}Z ${i % 100 === 0 ? 'ERROR' : 'INFO'} request ${i} served in ${i % 97} ms path=/api/v1/items/${i}`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  const evil = join(dir, 'evil.log');
  writeFileSync(evil, `${Array.from({ length: 1000 }, () => `${'a'.repeat(30)}b`).join('\n')}\n`);
  const pool = new ToolPool([opsSpec([])], { log: pino({ level: 'silent' }) });
  const timed = async (args) => {
    const t = performance.now();
    const r = await pool.call({ tool: 'ops.log_scan', args: { tail_bytes: 64 * 1024 * 1024, ...args }, timeoutMs: 300_000 });
    if (!r.ok) throw new Error(r.error?.message ?? r.text);
    return { ms: performance.now() - t, bytes: r.structured.bytes_scanned };
  };
  try {
    await timed({ path: evil }); // spawn + first worker
    const plain = await timed({ path: file });
    const catastrophic = await timed({ path: evil, patterns: ['(a+)+$'] });
    return { plain, catastrophic };
  } finally {
    await pool.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run() {
  const scan = await logScan();
  const { raw, pool } = await rawAndPool();
  const { t: daemon, spawns } = await viaDaemon();
  const fault = spawns.find((s) => s.name === 'fault');
  const ops = spawns.find((s) => s.name === 'ops');
  return [
    { id: 'mcp_overhead_p99_ms', name: 'tool pool call p99 minus raw MCP SDK client call p99 (same server)', value: us(pool, 99) - us(raw, 99), unit: 'ms', baseline: { name: 'raw MCP SDK client call p99', value: us(raw, 99), unit: 'ms' }, note: `pool p99 ${us(pool, 99).toFixed(2)} ms; ${N} calls each, alternating` },
    { id: 'mcp_overhead_p50_ms', name: 'tool pool call p50 minus raw MCP SDK client call p50', value: us(pool, 50) - us(raw, 50), unit: 'ms', baseline: { name: 'raw MCP SDK client call p50', value: us(raw, 50), unit: 'ms' } },
    { id: 'mcp_raw_sdk_call_p50_ms', name: 'raw MCP SDK client call p50', value: us(raw, 50), unit: 'ms' },
    { id: 'mcp_pool_call_p50_ms', name: 'tool pool call p50', value: us(pool, 50), unit: 'ms' },
    { id: 'mcp_via_daemon_call_p50_ms', name: 'client socket -> daemon pool call p50', value: us(daemon, 50), unit: 'ms', note: 'includes the socket round trip' },
    { id: 'mcp_via_daemon_call_p99_ms', name: 'client socket -> daemon pool call p99', value: us(daemon, 99), unit: 'ms' },
    { id: 'mcp_via_daemon_overhead_p99_ms', name: 'daemon call p99 minus raw MCP SDK call p99', value: us(daemon, 99) - us(raw, 99), unit: 'ms', baseline: { name: 'raw MCP SDK client call p99', value: us(raw, 99), unit: 'ms' } },
    { id: 'mcp_server_spawns_under_load', name: 'spawns of the fault server over 1,000 calls from 50 callers', value: fault.spawns, unit: 'spawns', goal: { op: '==', value: 1 }, note: `${N + 1000} calls in all` },
    { id: 'ops_log_scan_mb_per_s', name: `ops.log_scan throughput (${LOG_MB} MiB log, default pattern, RE2 in a worker)`, value: scan.plain.bytes / 1024 / 1024 / (scan.plain.ms / 1000), unit: 'MiB/s', note: `${scan.plain.ms.toFixed(0)} ms including the worker start` },
    { id: 'ops_log_scan_catastrophic_ms', name: 'ops.log_scan of 1,000 lines with (a+)+$ (2^30 steps a line for a backtracking engine)', value: scan.catastrophic.ms, unit: 'ms' },
    { id: 'mcp_ops_server_spawns_idle', name: 'spawns of the ops server over the daemon\'s life while none of its tools was called', value: ops.spawns, unit: 'spawns', goal: { op: '<=', value: 1 }, note: 'servers start when first needed (a run naming them, a call, a listing), so 0 here; at most once per daemon life in any case' },
  ];
}
